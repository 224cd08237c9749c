package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// TestSecondDemoShowsTheNextNight runs the demo twice on one output: the
// second run audits the night after the first on the simulated clock, so
// its summary shows changes since the first, and both name one
// organization.
func TestSecondDemoShowsTheNextNight(t *testing.T) {
	setAWSEnv(t, "", "", "")
	out := t.TempDir()
	args := []string{"--demo", "--demo-ous", "6", "--demo-accounts", "40", "--demo-depth", "3",
		"--demo-time-scale", "0.005", "--include-accounts", "--out", out, "--progress", "none"}
	var sums []reportdoc.Summary
	for i := range 2 {
		var stdout, stderr bytes.Buffer
		if code := runCommand(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("demo run %d: exit %d\n%s", i+1, code, stderr.String())
		}
		if i == 1 && !strings.Contains(stderr.String(), "Simulated clock ") {
			t.Errorf("Got(second demo's output) without the simulated clock line:\n%s", stderr.String())
		}
		if i == 1 {
			printed := stdout.String() + stderr.String()
			if !strings.Contains(printed, "Since run "+sums[0].RunID+": ") || !strings.Contains(printed, "orgaudit diff previous latest") {
				t.Errorf("Got(second demo's summary) without the changes since the first run:\n%s", printed)
			}
		}
		latest := readJSON[reportdoc.Latest](t, filepath.Join(out, "orgaudit", reportdoc.LatestKey))
		sums = append(sums, readJSON[reportdoc.Summary](t, filepath.Join(out, "orgaudit", filepath.FromSlash(latest.SummaryKey))))
		time.Sleep(time.Second) // run ids are to the second
	}
	first, second := sums[0], sums[1]
	if first.OrganizationID != second.OrganizationID {
		t.Fatalf("Got(organizations) = %s, %s; want one", first.OrganizationID, second.OrganizationID)
	}
	if gap := second.StartedAt.Time.Sub(first.CompletedAt.Time); gap < demoRunGap {
		t.Errorf("Got(second run started %s after the first ended) on the simulated clock; want the next night, at least %s", gap, demoRunGap)
	}
	c := second.Changes
	if c == nil || c.PreviousRunID != first.RunID {
		t.Fatalf("Got(second run's changes) = %+v; want them against %s", c, first.RunID)
	}
	if c.Totals.NewlyAccessed+c.Totals.BecameUnused == 0 {
		t.Errorf("Got(changes after a simulated night) = %+v; want some", c.Totals)
	}
}

func readJSON[T any](t *testing.T, path string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDemoTimeline(t *testing.T) {
	wall := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	store := objstore.NewDir(t.TempDir(), "orgaudit/")
	put := func(runID, org string, started, completed time.Time) {
		b, _ := json.Marshal(reportdoc.Summary{RunID: runID, OrganizationID: org,
			StartedAt: &reportdoc.Time{Time: started}, CompletedAt: &reportdoc.Time{Time: completed}})
		if err := store.Put(context.Background(), reportdoc.SummaryKey(runID), b, "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, wantAsOf time.Time, wantOffset time.Duration, wantAfter string) {
		t.Helper()
		tl := findDemoTimeline(context.Background(), store, "o-demo000001", wall)
		if !tl.asOf.Equal(wantAsOf) || tl.offset != wantOffset || tl.after != wantAfter {
			t.Errorf("%s: Got(timeline) = %s, %s, %q; want %s, %s, %q", name, tl.asOf, tl.offset, tl.after, wantAsOf, wantOffset, wantAfter)
		}
	}
	today := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	check("empty output", today, 0, "")
	if tl := findDemoTimeline(context.Background(), nil, "o-demo000001", wall); !tl.asOf.Equal(today) || tl.offset != 0 {
		t.Errorf("no output: Got(timeline) = %+v; want today, no offset", tl)
	}
	put("20261130T100000Z", "o-other00001", wall.Add(-50*time.Hour), wall.Add(-49*time.Hour))
	check("another organization's run", today, 0, "")
	put("20261201T100000Z", "o-demo000001", wall.Add(-29*time.Hour), wall.Add(-28*time.Hour))
	check("a run a day ago", today.Add(-24*time.Hour), 0, "20261201T100000Z")
	put("20261202T140000Z", "o-demo000001", wall.Add(-time.Hour), wall.Add(-time.Hour+time.Minute))
	check("a run an hour ago", today.Add(-24*time.Hour), 24*time.Hour, "20261202T140000Z")
	// That run was itself the next night: the one after it is two nights on.
	put("20261202T141000Z", "o-demo000001", wall.Add(23*time.Hour), wall.Add(23*time.Hour+time.Minute))
	check("a run of the next night", today.Add(-24*time.Hour), 48*time.Hour, "20261202T141000Z")
	if err := store.Put(context.Background(), reportdoc.SummaryKey("20261202T142000Z"), []byte("{"), "application/json"); err != nil {
		t.Fatal(err)
	}
	check("an unreadable summary is skipped", today.Add(-24*time.Hour), 48*time.Hour, "20261202T141000Z")
}
