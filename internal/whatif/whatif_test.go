package whatif

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
)

var asOf = time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)

const org = "o-abcdefghij"

// fixture is a small organization: the root with the management account
// and two OUs, Work (one account) and Sand (one account, ec2 denied).
//
//	r-ab12 [Full]
//	  999999999999 management
//	  ou-ab12-work0001 [Full]  111111111111 [Full]
//	  ou-ab12-sand0001 [Full, DenyEC2]  222222222222 (nothing recorded)
func fixture(t *testing.T) (*policyset.Document, []Report) {
	t.Helper()
	doc, err := policyset.New("r1", org, []policyset.Policy{
		{ID: "p-FullAWSAccess", Name: "FullAWSAccess", AWSManaged: true, Content: scpeval.FullAWSAccess},
		{ID: "p-denyec2aa", Name: "DenyEC2", Content: `{"Statement":{"Effect":"Deny","Action":"ec2:*"}}`},
	}, map[string][]string{
		"r-ab12": {"p-FullAWSAccess"}, "ou-ab12-work0001": {"p-FullAWSAccess"}, "ou-ab12-sand0001": {"p-FullAWSAccess", "p-denyec2aa"},
		"111111111111": {"p-FullAWSAccess"}, "999999999999": {"p-FullAWSAccess"},
	})
	if err != nil {
		t.Fatal(err)
	}
	root := org + "/r-ab12"
	work, sand := root+"/ou-ab12-work0001", root+"/ou-ab12-sand0001"
	acct := func(id, parent string) string { return parent + "/" + id }
	listed := []string{"ec2", "lambda", "s3", "sts"}
	noEC2 := []string{"lambda", "s3", "sts"}
	ago := func(days int) time.Time { return asOf.Add(-time.Duration(days) * 24 * time.Hour) }
	rep := func(id, typ, path string, listed []string, acc ...Access) Report {
		return Report{Entity: reportdoc.Entity{ID: id, Type: typ, Name: strings.ToUpper(id[:4]), Path: path}, AsOf: asOf, Listed: NewSet(listed...), Accessed: acc}
	}
	a1 := acct("111111111111", work)
	a2 := acct("222222222222", sand)
	return doc, []Report{
		rep("r-ab12", reportdoc.TypeRoot, root, listed,
			Access{Namespace: "s3", Last: ago(1), EntityPath: a1, Accounts: 2}, Access{Namespace: "lambda", Last: ago(3), EntityPath: a2, Accounts: 1}),
		rep("ou-ab12-work0001", reportdoc.TypeOU, work, listed, Access{Namespace: "s3", Last: ago(1), EntityPath: a1, Accounts: 1}),
		rep("ou-ab12-sand0001", reportdoc.TypeOU, sand, noEC2,
			Access{Namespace: "s3", Last: ago(10), EntityPath: a2, Accounts: 1}, Access{Namespace: "lambda", Last: ago(3), EntityPath: a2, Accounts: 1}),
		rep("111111111111", reportdoc.TypeAccount, a1, listed, Access{Namespace: "s3", Last: ago(1), Region: "eu-west-1", EntityPath: a1, Accounts: 1},
			Access{Namespace: "ec2", Last: ago(200), EntityPath: a1, Accounts: 1}),
		rep("222222222222", reportdoc.TypeAccount, a2, noEC2, Access{Namespace: "s3", Last: ago(10), EntityPath: a2, Accounts: 1},
			Access{Namespace: "lambda", Last: ago(3), EntityPath: a2, Accounts: 1}),
		rep("999999999999", reportdoc.TypeAccount, acct("999999999999", root), listed, Access{Namespace: "s3", Last: ago(0), EntityPath: acct("999999999999", root), Accounts: 1}),
	}
}

func withoutAccounts(rs []Report) []Report {
	var out []Report
	for _, r := range rs {
		if r.Entity.Type != reportdoc.TypeAccount {
			out = append(out, r)
		}
	}
	return out
}

func breaks(r *Result) []string {
	var out []string
	for _, b := range r.Breaks {
		out = append(out, fmt.Sprintf("%s:%s:%s:%d", b.EntityID, b.Namespace, b.Denial, b.DaysAgo))
	}
	sort.Strings(out)
	return out
}

func TestEvaluate(t *testing.T) {
	doc, reports := fixture(t)
	denyS3 := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	denyEC2 := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":"ec2:*"}}`)
	lambdaOnly := scpeval.MustParse(`{"Statement":{"Effect":"Allow","Action":["lambda:*","sts:*"]}}`)
	s3Get := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:Get*"}}`)
	for _, c := range []struct {
		name    string
		in      Input
		verdict string
		breaks  []string
		whole   []string
		partial []string
	}{
		{"deny S3 at the root: both accounts, never the management account", Input{Candidate: denyS3, Target: "r-ab12", Days: 90}, Breaks,
			[]string{"111111111111:s3:whole:1", "222222222222:s3:whole:10"}, []string{"s3"}, []string{}},
		{"the window", Input{Candidate: denyS3, Target: "r-ab12", Days: 5}, Breaks,
			[]string{"111111111111:s3:whole:1"}, []string{"s3"}, []string{}},
		{"deny EC2: unused in the window, already denied in Sand", Input{Candidate: denyEC2, Target: "r-ab12", Days: 90}, Safe,
			nil, []string{"ec2"}, []string{}},
		{"ec2 used 200 days ago breaks at 365", Input{Candidate: denyEC2, Target: "r-ab12", Days: 365}, Breaks,
			[]string{"111111111111:ec2:whole:200"}, []string{"ec2"}, []string{}},
		{"partial", Input{Candidate: s3Get, Target: "ou-ab12-work0001", Days: 90}, Breaks,
			[]string{"111111111111:s3:partial:1"}, []string{}, []string{"s3"}},
		{"allow list replacing FullAWSAccess", Input{Candidate: lambdaOnly, Target: "ou-ab12-sand0001", Detach: []string{"p-FullAWSAccess"}, Days: 90}, Breaks,
			[]string{"222222222222:s3:whole:10"}, []string{"s3"}, []string{}},
		{"several changes at once", Input{Changes: []Change{{Target: "ou-ab12-work0001", Attach: []*scpeval.Policy{s3Get}}, {Target: "ou-ab12-sand0001", Attach: []*scpeval.Policy{denyS3}}}, Days: 90}, Breaks,
			[]string{"111111111111:s3:partial:1", "222222222222:s3:whole:10"}, []string{"s3"}, []string{}},
		{"OU reports stand in for accounts, each access once at the deepest OU", Input{Candidate: denyS3, Target: "r-ab12", Days: 90, Reports: withoutAccounts(reports)}, Breaks,
			[]string{"ou-ab12-sand0001:s3:whole:10", "ou-ab12-work0001:s3:whole:1"}, []string{"s3"}, []string{}},
		{"the management account as target", Input{Candidate: denyS3, Target: "999999999999", Days: 90}, Safe, nil, []string{}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Policies = doc
			if c.in.Reports == nil {
				c.in.Reports = reports
			}
			c.in.ManagementAccountID = "999999999999"
			res, err := Evaluate(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := breaks(res); res.Verdict != c.verdict || !reflect.DeepEqual(got, c.breaks) && len(got)+len(c.breaks) > 0 {
				t.Errorf("Got(%s, breaks %v); want %s, %v", res.Verdict, got, c.verdict, c.breaks)
			}
			if !reflect.DeepEqual(res.NewlyDenied.Whole, c.whole) || !reflect.DeepEqual(res.NewlyDenied.Partial, c.partial) {
				t.Errorf("Got(newly denied %+v); want whole %v, partial %v", res.NewlyDenied, c.whole, c.partial)
			}
			// Verdict is the same answer without the per-entity lists.
			run, err := NewRun(c.in)
			if err != nil {
				t.Fatal(err)
			}
			v, err := run.Verdict(c.in.changes(), c.in.Days)
			if err != nil {
				t.Fatal(err)
			}
			if v.Entities != nil {
				t.Errorf("Got(%d entities from Verdict); want none", len(v.Entities))
			}
			v.Entities = res.Entities
			if !reflect.DeepEqual(v, res) {
				t.Errorf("Got(Verdict) = %+v; want Evaluate's %+v less its entities", v, res)
			}
		})
	}
}

func TestEvaluateCaveats(t *testing.T) {
	doc, reports := fixture(t)
	denyS3 := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":["s3:*","s3:NoSuchThing"]}}`)
	res, err := Evaluate(Input{Policies: doc, Candidate: denyS3, Target: "r-ab12", Days: 90, Reports: reports,
		ManagementAccountID: "999999999999", Failed: []string{"333333333333"}})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(res.Caveats, "\n")
	for _, want := range []string{
		"management account 999999999999 is under the target",
		"judged account by account",
		"1 entities under the target have no report",
		"no SCPs for 1 entities on the way (222222222222)",
		"s3:NoSuchThing match no known IAM action",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Got(caveats without %q):\n%s", want, all)
		}
	}
	// Reports listing a service the recorded SCPs deny say so.
	reports[4].Listed = NewSet(append(reports[4].Listed.Namespaces(), "ec2")...)
	res, _ = Evaluate(Input{Policies: doc, Candidate: denyS3, Target: "r-ab12", Days: 90, Reports: reports})
	if !strings.Contains(strings.Join(res.Caveats, "\n"), "already deny (ec2)") {
		t.Errorf("Got(caveats) = %v; want the mismatch named", res.Caveats)
	}
}

// TestEvaluateStaleReports: a verdict that rests on stale reports (carried
// from an earlier run without proof) says so, with their oldest date; a
// verdict on fresh reports only does not.
func TestEvaluateStaleReports(t *testing.T) {
	doc, reports := fixture(t)
	denyS3 := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	res, _ := Evaluate(Input{Policies: doc, Candidate: denyS3, Target: "r-ab12", Days: 90, Reports: reports})
	if all := strings.Join(res.Caveats, "\n"); strings.Contains(all, "stale") {
		t.Errorf("Got(caveats on fresh reports) mention stale ones:\n%s", all)
	}
	old := asOf.Add(-5 * 24 * time.Hour)
	reports[4].Stale, reports[4].AsOf = true, old
	res, _ = Evaluate(Input{Policies: doc, Candidate: denyS3, Target: "r-ab12", Days: 90, Reports: reports})
	want := "1 reports under the target are stale, carried from an earlier run without proof that nothing changed since (222222222222): their use of services is judged as of their own dates, the oldest " + old.Format("2006-01-02")
	if all := strings.Join(res.Caveats, "\n"); !strings.Contains(all, want) {
		t.Errorf("Got(caveats):\n%s\nwant %q", all, want)
	}
	// A stored report carried stale is marked so, as of its own date.
	r := FromEntityReport(&reportdoc.EntityReport{Entity: reportdoc.Entity{ID: "222222222222"}, Job: reportdoc.Job{CompletedAt: reportdoc.NewTime(asOf)},
		Carried: &reportdoc.Carried{Freshness: reportdoc.Stale, AsOf: reportdoc.NewTime(old)}})
	if !r.Stale || !r.AsOf.Equal(old) {
		t.Errorf("Got(FromEntityReport of a stale report) = stale %v as of %v; want stale as of %v", r.Stale, r.AsOf, old)
	}
}

func TestEvaluateRefuses(t *testing.T) {
	doc, reports := fixture(t)
	deny := func(i int) *scpeval.Policy {
		p := scpeval.MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
		p.ID = fmt.Sprintf("p-extra%04d", i)
		return p
	}
	full, _ := doc.Parse()
	for _, c := range []struct {
		name string
		in   Input
		want string
	}{
		{"unknown target", Input{Candidate: deny(0), Target: "ou-ab12-nothing1"}, "no report"},
		{"detach not attached", Input{Candidate: deny(0), Target: "ou-ab12-work0001", Detach: []string{"p-denyec2aa"}}, "not attached to ou-ab12-work0001"},
		{"already attached", Input{Candidate: full["p-denyec2aa"], Target: "ou-ab12-sand0001"}, "already attached"},
		{"too many", Input{Changes: []Change{{Target: "ou-ab12-sand0001", Attach: []*scpeval.Policy{deny(1), deny(2), deny(3), deny(4)}}}}, "at most 5"},
		{"changed twice", Input{Candidate: deny(0), Target: "r-ab12", Changes: []Change{{Target: "r-ab12", Attach: []*scpeval.Policy{deny(1)}}}}, "changed twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Policies, c.in.Reports = doc, reports
			_, err := Evaluate(c.in)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
				t.Errorf("Got(error %v); want an InputError with %q", err, c.want)
			}
		})
	}
}

func TestFromEntityReport(t *testing.T) {
	region, path := "eu-west-1", org+"/r-ab12/111111111111"
	r := FromEntityReport(&reportdoc.EntityReport{
		Entity: reportdoc.Entity{ID: "111111111111"}, Job: reportdoc.Job{CompletedAt: reportdoc.NewTime(asOf)},
		Services: []reportdoc.Service{
			{Namespace: "s3", LastAuthenticated: reportdoc.NewTime(asOf.Add(-time.Hour)), Region: &region, EntityPath: &path, TotalAuthenticatedEntities: 1},
			{Namespace: "ec2"},
		},
	})
	if !r.AsOf.Equal(asOf) || !reflect.DeepEqual(r.Listed.Namespaces(), []string{"ec2", "s3"}) || len(r.Accessed) != 1 || r.Accessed[0].Region != region || r.Accessed[0].EntityPath != path {
		t.Errorf("Got(FromEntityReport) = %+v; want both listed, s3 accessed with its region and path", r)
	}
}

func TestSet(t *testing.T) {
	s := NewSet("s3", "zz-unknown", "ec2", "s3", "aa-unknown")
	if got := s.Namespaces(); !reflect.DeepEqual(got, []string{"aa-unknown", "ec2", "s3", "zz-unknown"}) {
		t.Errorf("Got(Namespaces) = %v; want the four, sorted", got)
	}
	if !s.Has("ec2") || !s.Has("zz-unknown") || s.Has("lambda") || s.Has("nope") || s.Len() != 4 {
		t.Errorf("Got(Has ec2 %v, zz-unknown %v, lambda %v, nope %v, Len %d); want true, true, false, false, 4",
			s.Has("ec2"), s.Has("zz-unknown"), s.Has("lambda"), s.Has("nope"), s.Len())
	}
}
