package findings

import (
	"fmt"
	"sort"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Compare computes the changes between the previous run and the current
// entries, as Finalize does; unusedDays 0 means DefaultUnusedDays. Only
// entity reports that succeeded in both runs are compared.
func Compare(current []Entry, prev *Previous, unusedDays int) (*reportdoc.Changes, error) {
	if unusedDays <= 0 {
		unusedDays = DefaultUnusedDays
	}
	return compare(sortedEntries(current), prev, unusedDays)
}

// compare computes the changes between prev and the current entries (sorted
// by path). Only entity reports that succeeded in both runs are compared.
// The current threshold applies to both runs, each measured from its own
// as-of instant, so a changed threshold does not show up as changes.
func compare(entries []Entry, prev *Previous, days int) (*reportdoc.Changes, error) {
	before := make(map[string]*Digest, len(prev.Entries))
	for _, e := range prev.Entries {
		if e.Digest != nil {
			before[entryKey(e.Entity.ID, e.PolicyID)] = e.Digest
		}
	}
	ch := &reportdoc.Changes{PreviousRunID: prev.RunID, UnusedDays: days, Entities: []reportdoc.EntityChanges{}}
	var buf []ServiceAge
	for _, e := range entries {
		if e.Digest == nil {
			continue
		}
		old, ok := before[entryKey(e.Entity.ID, e.PolicyID)]
		if !ok {
			ch.Totals.New++
			continue
		}
		ch.Totals.Compared++
		was, err := old.AccessedServices()
		if err != nil {
			return nil, fmt.Errorf("findings: previous run %s: %s: %w", prev.RunID, e.Entity.Path, err)
		}
		usedBefore := make(map[string]bool, len(was))
		for _, s := range was {
			if !s.UnusedFor(days) {
				usedBefore[s.Namespace] = true
			}
		}
		now, err := e.Digest.Services(buf)
		if err != nil {
			return nil, fmt.Errorf("findings: %s: %w", e.Entity.Path, err)
		}
		buf = now
		ec := reportdoc.EntityChanges{EntityID: e.Entity.ID, Path: e.Entity.Path, NewlyAccessed: []string{}, BecameUnused: []string{}}
		if e.PolicyID != "" {
			p := e.PolicyID
			ec.PolicyID = &p
		}
		for _, s := range now {
			used := !s.UnusedFor(days)
			switch {
			case used && !usedBefore[s.Namespace]:
				ec.NewlyAccessed = append(ec.NewlyAccessed, s.Namespace)
			case !used && usedBefore[s.Namespace]:
				// A service no longer listed is denied by an SCP now: not
				// an unused finding, so only listed services count here.
				ec.BecameUnused = append(ec.BecameUnused, s.Namespace)
			}
		}
		if len(ec.NewlyAccessed)+len(ec.BecameUnused) == 0 {
			continue
		}
		sort.Strings(ec.NewlyAccessed)
		sort.Strings(ec.BecameUnused)
		ch.Totals.Changed++
		ch.Totals.NewlyAccessed += len(ec.NewlyAccessed)
		ch.Totals.BecameUnused += len(ec.BecameUnused)
		ch.Entities = append(ch.Entities, ec)
	}
	return ch, nil
}
