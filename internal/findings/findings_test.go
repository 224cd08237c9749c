package findings

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// entry digests a hand-made report into an Entry.
func entry(t *testing.T, id string, ages map[string]int) Entry {
	t.Helper()
	r := report(t, id, ages)
	d := DigestOf(r, 90)
	return Entry{Entity: r.Entity, Status: reportdoc.StatusCompleted, Digest: &d}
}

func summary() *reportdoc.Summary {
	return &reportdoc.Summary{SchemaVersion: 1, RunID: "run-2", OrganizationID: "o-abcdefghij",
		StartedAt: reportdoc.NewTime(asOf.Add(-time.Hour)), CompletedAt: reportdoc.NewTime(asOf), Status: reportdoc.RunPartial}
}

func TestFinalizeFindings(t *testing.T) {
	failed := Entry{Entity: reportdoc.Entity{ID: "ou-ab12-cccc3333", Type: reportdoc.TypeOU, Name: "C", Path: "o-abcdefghij/r-ab12/ou-ab12-cccc3333"},
		Status: reportdoc.StatusFailed, Error: &reportdoc.Error{Code: "FAILED", Message: "job failed"}}
	in := Input{Summary: summary(), UnusedDays: 90, Entries: []Entry{
		entry(t, "ou-ab12-bbbb2222", map[string]int{"s3": 1}),
		failed,
		entry(t, "ou-ab12-aaaa1111", map[string]int{"s3": 3, "ec2": 120, "iam": -1, "sagemaker": -1, "lambda": 90, "athena": 91}),
	}}
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes != nil {
		t.Errorf("Got(Changes) = %+v; want nil without a previous run", res.Changes)
	}
	var doc Document
	if err := json.Unmarshal(res.FindingsJSON, &doc); err != nil {
		t.Fatalf("findings.json: %v\n%s", err, res.FindingsJSON)
	}
	if got := len(doc.Entities); got != 3 {
		t.Fatalf("Got(len(entities)) = %d; want 3", got)
	}
	a := doc.Entities[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"first entity in path order", a.Entity.ID, "ou-ab12-aaaa1111"},
		{"unused", doc.UnusedNamespaces(a), []string{"athena", "ec2", "iam", "sagemaker"}},
		{"services table", len(doc.Services), 6},
		{"never accessed", a.NeverAccessed, 2},
		{"used", a.Used, 2},
		{"listed", a.Listed, 6},
		{"last accessed", a.LastAccessed, map[string]int{"athena": 91, "ec2": 120}},
		{"scp deny", a.SCP.Deny, 3},
		{"scp kept", a.SCP.Kept, []string{"iam"}},
		{"scp policies", a.SCP.Policies, 1},
		{"as of", a.AsOf.Time, asOf},
		{"failed status", doc.Entities[2].Status, reportdoc.StatusFailed},
		{"failed error", doc.Entities[2].Error.Code, "FAILED"},
		{"failed unused", len(doc.Entities[2].Unused), 0},
		{"totals", doc.Totals, Totals{Reports: 3, Failed: 1, WithUnused: 1, Unused: 4, NeverAccessed: 2}},
		{"caveats", len(doc.Caveats), len(Caveats)},
		{"threshold", doc.UnusedDays, 90},
	}
	for _, tc := range tests {
		gj, _ := json.Marshal(tc.got)
		wj, _ := json.Marshal(tc.want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("Got(%s) = %s; want %s", tc.name, gj, wj)
		}
	}
}

func TestFinalizeIsDeterministic(t *testing.T) {
	in := synthRun(t, 60, 120, 1)
	first, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := in
	shuffled.Entries = slices.Clone(in.Entries)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled.Entries), func(i, j int) {
		shuffled.Entries[i], shuffled.Entries[j] = shuffled.Entries[j], shuffled.Entries[i]
	})
	second, err := Finalize(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.FindingsJSON, second.FindingsJSON) {
		t.Error("Got(findings.json of shuffled entries) differs; want the same bytes")
	}
	if !bytes.Equal(first.HTML, second.HTML) {
		t.Error("Got(report.html of shuffled entries) differs; want the same bytes")
	}
}

func TestChanges(t *testing.T) {
	prev := &Previous{RunID: "run-1", Entries: []Entry{
		entry(t, "ou-ab12-aaaa1111", map[string]int{"s3": 3, "ec2": -1, "rds": 200, "lambda": 10, "glue": 5}),
		entry(t, "ou-ab12-bbbb2222", map[string]int{"s3": 3}),
		{Entity: reportdoc.Entity{ID: "ou-ab12-dddd4444", Path: "o-abcdefghij/r-ab12/ou-ab12-dddd4444"}, Status: reportdoc.StatusFailed},
	}}
	// A month later: ec2 used for the first time, rds used again, lambda
	// unused, glue no longer listed (an SCP denies it now).
	cur := []Entry{
		entry(t, "ou-ab12-aaaa1111", map[string]int{"s3": 1, "ec2": 2, "rds": 0, "lambda": 100}),
		entry(t, "ou-ab12-bbbb2222", map[string]int{"s3": 40}),
		entry(t, "ou-ab12-dddd4444", map[string]int{"s3": 1}),
		entry(t, "ou-ab12-eeee5555", map[string]int{"s3": 1}),
	}
	res, err := Finalize(Input{Summary: summary(), UnusedDays: 90, Entries: cur, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	want := &reportdoc.Changes{
		PreviousRunID: "run-1", UnusedDays: 90,
		Totals: reportdoc.ChangeTotals{Compared: 2, New: 2, Changed: 1, NewlyAccessed: 2, BecameUnused: 1},
		Entities: []reportdoc.EntityChanges{{
			EntityID: "ou-ab12-aaaa1111", Path: "o-abcdefghij/r-ab12/ou-ab12-aaaa1111",
			NewlyAccessed: []string{"ec2", "rds"}, BecameUnused: []string{"lambda"},
		}},
	}
	gj, _ := json.Marshal(res.Changes)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("Got(Changes) = %s; want %s", gj, wj)
	}
	var doc Document
	if err := json.Unmarshal(res.FindingsJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Changes == nil || doc.Changes.PreviousRunID != "run-1" {
		t.Errorf("Got(findings changes) = %+v; want the run-1 comparison", doc.Changes)
	}
}

func TestFinalizeHTMLIsSelfContainedAndEscaped(t *testing.T) {
	in := synthRun(t, 12, 40, 2)
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	html := string(res.HTML)
	for _, bad := range []string{"<link", "src=", "@import", "url(", "http://", "https://", `<script>alert`} {
		if strings.Contains(html, bad) {
			t.Errorf("Got(report.html containing %q); want none (self-contained, escaped)", bad)
		}
	}
	if got := strings.Count(html, "<script"); got != 2 {
		t.Errorf("Got(script elements) = %d; want 2 (data and code)", got)
	}
	if !strings.Contains(html, `\u003cscript\u003ealert(\"x\")\u003c/script\u003e`) {
		t.Error("Got(hostile name) not JSON-escaped in the data block; want \\u003cscript\\u003e…")
	}
}

func TestFinalizeSCPMatchesSuggest(t *testing.T) {
	in := synthRun(t, 5, len(catalog.All()), 5)
	for _, e := range in.Entries {
		if e.Digest == nil {
			continue
		}
		f, _, err := Analyze(e, 90, scpsuggest.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scpsuggest.Suggest(f.Unused, scpsuggest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if f.SCP == nil || f.SCP.Deny != len(s.Denied) || f.SCP.Policies != len(s.Policies) {
			t.Errorf("Got(SCP of %s) = %+v; want %d denied in %d policies", e.Entity.ID, f.SCP, len(s.Denied), len(s.Policies))
		}
	}
}

func TestFinalizeNeedsSummary(t *testing.T) {
	if _, err := Finalize(Input{}); err == nil {
		t.Error("Got(Finalize without summary) = nil error; want an error")
	}
}

func TestFinalizeMarksTheManagementAccount(t *testing.T) {
	mgmt := entry(t, "111111111111", map[string]int{"s3": 1, "ec2": 200})
	member := entry(t, "222222222222", map[string]int{"s3": 1, "ec2": 200})
	res, err := Finalize(Input{Summary: summary(), UnusedDays: 90, Entries: []Entry{mgmt, member}, ManagementAccountID: "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(res.FindingsJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ManagementAccountID != "111111111111" {
		t.Errorf("Got(managementAccountId) = %q; want 111111111111", doc.ManagementAccountID)
	}
	for _, e := range doc.Entities {
		isMgmt := e.Entity.ID == "111111111111"
		if e.ManagementAccount != isMgmt || (e.SCP == nil) != isMgmt || (e.Note == ManagementAccountNote) != isMgmt {
			t.Errorf("Got(%s) = managementAccount %v, scp %+v, note %q; want management %v", e.Entity.ID, e.ManagementAccount, e.SCP, e.Note, isMgmt)
		}
		if len(doc.UnusedNamespaces(e)) != 1 {
			t.Errorf("Got(%s unused) = %v; want [ec2]: the management account's findings stay", e.Entity.ID, doc.UnusedNamespaces(e))
		}
	}
	note, _ := json.Marshal(ManagementAccountNote)
	if !bytes.Contains(res.HTML, []byte(`"m":`+string(note))) || bytes.Count(res.HTML, []byte(`,1,0,1,0,["fresh",`)) != 1 || bytes.Count(res.HTML, []byte(`,1,0,0,0,["fresh",`)) != 1 {
		t.Errorf("Got(report.html) without the note, or not exactly one row marked as the management account")
	}
}
