package findings

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// freshnessInput is a run of the root, an OU, and three accounts: one
// reported fresh, one carried unchanged, one carried stale from ten days
// before the run.
func freshnessInput(t *testing.T) (Input, time.Time) {
	t.Helper()
	account := func(id, freshness string, at time.Time) Entry {
		r := report(t, id, map[string]int{"s3": 2, "ec2": 120, "iam": -1})
		r.Entity = reportdoc.Entity{ID: id, Type: reportdoc.TypeAccount, Name: "Account " + id[:3], Path: "o-abcdefghij/r-ab12/ou-ab12-aaaa1111/" + id}
		for k := range r.Services { // ages as of the report's own as-of
			if l := r.Services[k].LastAuthenticated; l != nil {
				r.Services[k].LastAuthenticated = reportdoc.NewTime(l.Add(at.Sub(asOf)))
			}
		}
		if freshness != reportdoc.Fresh {
			r.Carried = &reportdoc.Carried{Freshness: freshness, AsOf: reportdoc.NewTime(at), FromRunID: "run-1"}
		}
		d := DigestOf(r, 90)
		return Entry{Entity: r.Entity, Status: reportdoc.StatusCompleted, Digest: &d, Freshness: freshness}
	}
	stale := asOf.Add(-10 * 24 * time.Hour)
	sum := summary()
	sum.Freshness = reportdoc.SummaryFreshness{Fresh: 3, Unchanged: 1, Stale: 1}
	return Input{Summary: sum, UnusedDays: 90, Entries: []Entry{
		entry(t, "r-ab12", map[string]int{"s3": 1}),
		entry(t, "ou-ab12-aaaa1111", map[string]int{"s3": 1}),
		account("333333333333", reportdoc.Fresh, asOf),
		account("444444444444", reportdoc.Unchanged, asOf),
		account("555555555555", reportdoc.Stale, stale),
	}}, stale
}

// TestFinalizeFreshness: findings.json gives each report its freshness and
// as-of, counts ages from it (a stale report's from its own date) and has
// a caveat line for the unchanged and for the stale reports.
func TestFinalizeFreshness(t *testing.T) {
	in, stale := freshnessInput(t)
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(res.FindingsJSON, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		freshness string
		asOf      time.Time
	}{
		"r-ab12": {"fresh", asOf}, "ou-ab12-aaaa1111": {"fresh", asOf},
		"333333333333": {"fresh", asOf}, "444444444444": {"unchanged", asOf}, "555555555555": {"stale", stale},
	}
	for _, e := range doc.Entities {
		w := want[e.Entity.ID]
		if e.Freshness != w.freshness || e.AsOf == nil || !e.AsOf.Equal(w.asOf) {
			t.Errorf("Got(%s) %q as of %v; want %q as of %v", e.Entity.ID, e.Freshness, e.AsOf, w.freshness, w.asOf)
		}
		// ec2 was last used 120 days before each report's as-of.
		if e.Entity.Type == reportdoc.TypeAccount && e.LastAccessed["ec2"] != 120 {
			t.Errorf("Got(%s: ec2 last accessed %d days ago); want 120, counted from its own as-of", e.Entity.ID, e.LastAccessed["ec2"])
		}
	}
	all := strings.Join(doc.Caveats, "\n")
	for _, line := range []string{
		"1 account reports are unchanged: carried from an earlier run",
		"1 account reports are stale: carried from an earlier run without proof that nothing changed since",
		"the oldest " + stale.Format("2006-01-02"),
	} {
		if !strings.Contains(all, line) {
			t.Errorf("Got(caveats):\n%s\nwant %q", all, line)
		}
	}
	if len(doc.Caveats) != len(Caveats)+2 {
		t.Errorf("Got(%d caveats); want the %d of every run and two", len(doc.Caveats), len(Caveats))
	}
}

// TestReportFreshnessInBrowser: report.html counts the reports by
// freshness in its header, badges the carried rows, and says each
// report's freshness and as-of in the selected entity's detail.
func TestReportFreshnessInBrowser(t *testing.T) {
	ctx := browser(t)
	in, stale := freshnessInput(t)
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	openReport(t, ctx, res.HTML)
	if got := eval[string](t, ctx, `document.getElementById("freshness").textContent`); got != "Reports 3 fresh, 1 unchanged, 1 stale" {
		t.Errorf("Got(header) = %q; want the counts by freshness", got)
	}
	badges := eval[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll(".rl")).map(function(e){
		var b=e.querySelector(".badge.unchanged,.badge.stale"); return [e.dataset.id, b?b.textContent:""]}))`)
	for id, want := range map[string]string{"333333333333": "", "444444444444": "unchanged", "555555555555": "stale", "ou-ab12-aaaa1111": ""} {
		if badges[id] != want {
			t.Errorf("Got(row %s badge) = %q; want %q", id, badges[id], want)
		}
	}
	for id, want := range map[string]string{
		"555555555555": "Report stale as of " + stale.Format(time.RFC3339) + ": carried from an earlier run without proof that nothing changed since; its findings are as of that date.",
		"444444444444": "Report unchanged as of " + asOf.Format(time.RFC3339) + ": carried from an earlier run, proven unchanged",
		"333333333333": "Report fresh as of " + asOf.Format(time.RFC3339),
	} {
		do(t, ctx, chromedp.Click(chromedp.CSS(`.rl[data-id="`+id+`"]`)))
		if got := eval[string](t, ctx, `(document.querySelector("#detail .freshness")||{}).textContent||""`); !strings.HasPrefix(got, want) {
			t.Errorf("Got(detail of %s) = %q; want it to begin %q", id, got, want)
		}
	}
}
