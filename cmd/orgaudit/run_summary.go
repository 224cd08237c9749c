package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// topUnusedCount is how many services the end-of-run table lists.
const topUnusedCount = 10

// unusedService is one line of the end-of-run table: a service, the number
// of entity reports that list it (SCPs allow it there) and the number in
// which it is unused.
type unusedService struct {
	Namespace, Name string
	Allowed         int
	Entities        int
}

// printSummary prints the end of a run: counts, the services unused in the
// most entities, the failures, and where the report is.
func printSummary(w io.Writer, sum *reportdoc.Summary, store objstore.Store, unusedDays int) {
	fmt.Fprintf(w, "\nRun %s of %s: %s\n", sum.RunID, sum.OrganizationID, sum.Status)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	f, j := sum.Freshness, sum.Jobs
	fmt.Fprintln(tw, "ENTITIES\tSUCCEEDED\tFAILED\tFRESH\tUNCHANGED\tSTALE\tJOBS")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\n", sum.Entities.Total, sum.Entities.Succeeded, sum.Entities.Failed,
		f.Fresh, f.Unchanged, f.Stale, j.Root+j.OUs+j.Accounts)
	tw.Flush()
	if f.Unchanged+f.Stale > 0 {
		fmt.Fprintf(w, "Carried from an earlier run: %d account %s unchanged (proven by the report of the OU above), %d stale (not proven: the time budget ended first; as of %s own date).\n",
			f.Unchanged, plural(f.Unchanged, "report", "reports"), f.Stale, plural(f.Stale, "its", "their"))
	}

	printChangesSince(w, sum.Changes)

	counts, err := unusedCounts(context.Background(), store, sum, unusedDays)
	if err != nil {
		fmt.Fprintf(w, "\n(could not read the reports for the unused-services table: %v)\n", err)
	} else {
		printUnused(w, counts, unusedDays)
	}
	if len(sum.Errors) > 0 {
		fmt.Fprintln(w, "\nFailed entities:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range sum.Errors {
			id := e.EntityID
			if e.PolicyID != nil {
				id += " / " + *e.PolicyID
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", id, e.Code, e.Message)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nReport:  %s\nSummary: %s\n", store.Location(reportdoc.HTMLKey(sum.RunID)), store.Location(reportdoc.SummaryKey(sum.RunID)))
}

// printChangesSince says in one line what changed since the run the summary's
// changes compare with, if any, and how to see it entity by entity.
func printChangesSince(w io.Writer, c *reportdoc.Changes) {
	if c == nil {
		return
	}
	t := c.Totals
	if t.Changed == 0 {
		fmt.Fprintf(w, "\nNo changes since run %s in the %s both runs reported.\n", c.PreviousRunID, count(t.Compared, "entity", "entities"))
		return
	}
	fmt.Fprintf(w, "\nSince run %s: %s changed, with %d newly accessed and %d newly unused services across them (orgaudit diff previous latest lists them).\n",
		c.PreviousRunID, count(t.Changed, "entity", "entities"), t.NewlyAccessed, t.BecameUnused)
}

// printUnused prints how many services are unused in every report that
// lists them, then the services unused in the most reports among those
// somebody still uses: the ones worth a conversation before an SCP denies
// them.
func printUnused(w io.Writer, counts []unusedService, unusedDays int) {
	var everywhere []unusedService
	var some []unusedService
	never := map[string]bool{}
	for _, ns := range scpsuggest.NeverDeny(scpsuggest.Options{}) {
		never[ns] = true
	}
	var skipped []unusedService
	for _, u := range counts {
		if never[u.Namespace] {
			// orgaudit never suggests denying these (sign-in, STS,
			// Organizations, support, …): ranking them leads the reader
			// nowhere.
			skipped = append(skipped, u)
			continue
		}
		if u.Entities == u.Allowed {
			everywhere = append(everywhere, u)
		} else {
			some = append(some, u)
		}
	}
	if len(everywhere) > 0 {
		fmt.Fprintf(w, "\n%s unused for %s in every report that lists %s, e.g. %s.\n", count(len(everywhere), "service is", "services are"), count(unusedDays, "day", "days"),
			plural(len(everywhere), "it", "them"), examples(everywhere, 5))
	}
	if len(some) > topUnusedCount {
		some = some[:topUnusedCount]
	}
	if len(some) > 0 {
		fmt.Fprintf(w, "\nTop unused services still used somewhere (not accessed in %s):\n", count(unusedDays, "day", "days"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tNAMESPACE\tUNUSED IN")
		for _, s := range some {
			fmt.Fprintf(tw, "%s\t%s\t%d of %s\n", s.Name, s.Namespace, s.Entities, count(s.Allowed, "report", "reports"))
		}
		tw.Flush()
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "(Left out: %s on the never-deny list, e.g. %s; orgaudit never suggests denying %s.)\n",
			count(len(skipped), "unused service", "unused services"), examples(skipped, 3), plural(len(skipped), "it", "them"))
	}
}

func examples(us []unusedService, n int) string {
	var out string
	for i, u := range us {
		if i == n {
			return out + fmt.Sprintf(" and %d more", len(us)-n)
		}
		if i > 0 {
			out += ", "
		}
		out += u.Namespace
	}
	return out
}

// unusedCounts counts, over the run's completed reports, in how many each
// service is unused; most often unused first.
func unusedCounts(ctx context.Context, store objstore.Store, sum *reportdoc.Summary, unusedDays int) ([]unusedService, error) {
	count := map[string]*unusedService{}
	for _, r := range sum.Reports {
		if r.Status != reportdoc.StatusCompleted {
			continue
		}
		b, err := store.Get(ctx, r.Key)
		if err != nil {
			return nil, err
		}
		var rep reportdoc.EntityReport
		if err := json.Unmarshal(b, &rep); err != nil {
			return nil, fmt.Errorf("%s: %w", store.Location(r.Key), err)
		}
		for _, s := range rep.Services {
			if count[s.Namespace] == nil {
				count[s.Namespace] = &unusedService{Namespace: s.Namespace, Name: s.Name}
			}
			count[s.Namespace].Allowed++
		}
		for _, s := range rep.UnusedServices(unusedDays, rep.AsOf()) {
			count[s.Namespace].Entities++
		}
	}
	out := make([]unusedService, 0, len(count))
	for _, u := range count {
		if u.Entities > 0 {
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entities != out[j].Entities {
			return out[i].Entities > out[j].Entities
		}
		if out[i].Allowed != out[j].Allowed {
			return out[i].Allowed < out[j].Allowed
		}
		return out[i].Namespace < out[j].Namespace
	})
	return out, nil
}

// count is n and the word for n of them: "1 entity", "2 entities".
func count(n int, one, many string) string { return fmt.Sprintf("%d %s", n, plural(n, one, many)) }

// plural picks one or many for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
