package findings

import (
	"reflect"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

func TestCheckerVerdicts(t *testing.T) {
	asOf := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	entry := func(id, typ, path string, used map[string]int) Entry {
		r := &reportdoc.EntityReport{Entity: reportdoc.Entity{ID: id, Type: typ, Path: path}, Job: reportdoc.Job{CompletedAt: reportdoc.NewTime(asOf)}}
		for _, ns := range []string{"ec2", "lambda", "s3"} {
			s := reportdoc.Service{Namespace: ns}
			if d, ok := used[ns]; ok {
				s.LastAuthenticated = reportdoc.NewTime(asOf.Add(-time.Duration(d) * 24 * time.Hour))
			}
			r.Services = append(r.Services, s)
		}
		d := DigestOf(r, 90)
		return Entry{Entity: r.Entity, Status: reportdoc.StatusCompleted, Digest: &d}
	}
	root := "o-abcdefghij/r-ab12"
	entries := []Entry{
		entry("r-ab12", reportdoc.TypeRoot, root, map[string]int{"s3": 1, "lambda": 200}),
		entry("111111111111", reportdoc.TypeAccount, root+"/111111111111", map[string]int{"s3": 1, "lambda": 200}),
	}
	pols, err := policyset.New("r1", "o-abcdefghij", []policyset.Policy{{ID: "p-FullAWSAccess", Name: "FullAWSAccess", Content: scpeval.FullAWSAccess}},
		map[string][]string{"r-ab12": {"p-FullAWSAccess"}, "111111111111": {"p-FullAWSAccess"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker(pols, entries, "", 90)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		unused  []string
		verdict string
		breaks  []string
	}{
		{[]string{"ec2", "lambda"}, "SAFE", nil},
		// Not what a suggestion would deny: s3 was used a day ago.
		{[]string{"ec2", "s3"}, "BREAKS", []string{"111111111111 s3"}},
	} {
		f := EntityFindings{Entity: entries[0].Entity, Unused: tc.unused, SCP: &SCPFinding{Policies: 1}}
		if err := c.Check(&f, scpsuggest.Options{}); err != nil {
			t.Fatal(err)
		}
		if f.SCP.Verdict != tc.verdict || !reflect.DeepEqual(f.SCP.Breaks, tc.breaks) {
			t.Errorf("Got(Check(deny %v)) = %q, %v; want %q, %v", tc.unused, f.SCP.Verdict, f.SCP.Breaks, tc.verdict, tc.breaks)
		}
	}
	var none *Checker
	f := EntityFindings{SCP: &SCPFinding{Policies: 1}}
	if err := none.Check(&f, scpsuggest.Options{}); err != nil || f.SCP.Verdict != "" {
		t.Errorf("Got(nil Checker) = %v, %q; want nothing set", err, f.SCP.Verdict)
	}
}

// BenchmarkFinalizeChecked is BenchmarkFinalize's largest run with every
// suggestion checked by the what-if evaluator (FullAWSAccess everywhere).
func BenchmarkFinalizeChecked(b *testing.B) {
	in := synthRun(b, 11001, 450, 9)
	att := map[string][]string{}
	for _, e := range in.Entries {
		att[e.Entity.ID] = []string{"p-FullAWSAccess"}
	}
	pols, err := policyset.New(in.Summary.RunID, "o-abcdefghij", []policyset.Policy{{ID: "p-FullAWSAccess", Name: "FullAWSAccess", Content: scpeval.FullAWSAccess}}, att)
	if err != nil {
		b.Fatal(err)
	}
	in.Policies = pols
	for b.Loop() {
		if _, err := Finalize(in); err != nil {
			b.Fatal(err)
		}
	}
}
