package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Run aliases accepted wherever a stored run is asked for (diff, report,
// scp --run, whatif --run). They stand before a run of the same name.
const (
	aliasLatest   = "latest"   // the newest finished run (latest.json)
	aliasPrevious = "previous" // the run the latest one was compared with
)

// resolveRun turns a run alias into the run id it stands for; any other
// name is returned as it is.
func resolveRun(ctx context.Context, store objstore.Store, name string) (string, error) {
	switch name {
	case aliasLatest:
		return latestRunID(ctx, store)
	case aliasPrevious:
		latest, err := latestRunID(ctx, store)
		if err != nil {
			return "", err
		}
		return previousRunID(ctx, store, latest)
	}
	return name, nil
}

// previousRunID is the run that run was compared with when it finished:
// its summary's changes.previousRunId, else its manifest's previousRunId,
// else the newest other finished run that completed before it.
func previousRunID(ctx context.Context, store objstore.Store, runID string) (string, error) {
	var sum reportdoc.Summary
	if err := getJSON(ctx, store, reportdoc.SummaryKey(runID), &sum); err != nil {
		return "", fmt.Errorf("latest run %s: %w", runID, err)
	}
	if sum.Changes != nil && sum.Changes.PreviousRunID != "" {
		return sum.Changes.PreviousRunID, nil
	}
	var m struct {
		PreviousRunID string `json:"previousRunId"`
	}
	if err := getJSON(ctx, store, reportdoc.ManifestKey(runID), &m); err == nil && m.PreviousRunID != "" {
		return m.PreviousRunID, nil
	} else if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return "", err
	}
	keys, err := store.List(ctx, "runs/")
	if err != nil {
		return "", err
	}
	best, bestAt := "", time.Time{}
	for _, k := range keys {
		id, ok := strings.CutSuffix(strings.TrimPrefix(k, "runs/"), "/summary.json")
		if !ok || strings.Contains(id, "/") || id == runID {
			continue
		}
		var s reportdoc.Summary
		if err := getJSON(ctx, store, k, &s); err != nil || s.CompletedAt == nil || sum.CompletedAt == nil {
			continue
		}
		if at := s.CompletedAt.Time; at.Before(sum.CompletedAt.Time) && at.After(bestAt) {
			best, bestAt = id, at
		}
	}
	if best == "" {
		return "", fmt.Errorf("no run before the latest one, %s: %q has nothing to stand for yet", runID, aliasPrevious)
	}
	return best, nil
}
