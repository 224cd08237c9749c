package carryover

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/carry"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

const (
	org     = "o-abcdefghij"
	root    = org + "/r-ab12"
	ou      = root + "/ou-ab12-aaaaaaaa"
	acct    = "111111111111"
	acctPth = ou + "/" + acct
)

var night1 = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func put(t *testing.T, s objstore.Store, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), key, b, "application/json"); err != nil {
		t.Fatal(err)
	}
}

// storeEarlierRun stores run n1 of organization orgID with one completed
// account report, and points latest.json at it.
func storeEarlierRun(t *testing.T, s objstore.Store, orgID string) *reportdoc.EntityReport {
	t.Helper()
	doc := &reportdoc.EntityReport{SchemaVersion: 1, RunID: "n1", OrganizationID: orgID,
		Entity:                     reportdoc.Entity{ID: acct, Type: reportdoc.TypeAccount, Name: "A", Path: acctPth},
		Job:                        reportdoc.Job{ID: "j1", Status: reportdoc.StatusCompleted, CreatedAt: reportdoc.NewTime(night1.Add(-5 * time.Second)), CompletedAt: reportdoc.NewTime(night1)},
		NumberOfServicesAccessible: 2, NumberOfServicesNotAccessed: 1,
		Services: []reportdoc.Service{{Namespace: "ec2", Name: "Amazon EC2"}, {Namespace: "s3", Name: "Amazon S3", LastAuthenticated: reportdoc.NewTime(night1.Add(-48 * time.Hour)), TotalAuthenticatedEntities: 1}},
	}
	d := findings.DigestOf(doc, 90)
	m := manifest.New("n1", orgID, "999999999999", manifest.Settings{IncludeAccounts: true}, night1, []manifest.Entity{
		{ID: "r-ab12", Type: reportdoc.TypeRoot, Path: root, State: manifest.StateStored},
		{ID: acct, Type: reportdoc.TypeAccount, Path: acctPth, State: manifest.StateStored, Digest: &d, SCP: carry.Fingerprint(acctPth, noPolicies)},
	})
	if err := m.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	put(t, s, reportdoc.ReportKey("n1", acct, ""), doc)
	put(t, s, reportdoc.LatestKey, reportdoc.Latest{RunID: "n1", SummaryKey: reportdoc.SummaryKey("n1"), CompletedAt: reportdoc.NewTime(night1)})
	return doc
}

func tonight(orgID string) *manifest.Manifest {
	return manifest.New("n2", orgID, "999999999999", manifest.Settings{IncludeAccounts: true}, night1.Add(24*time.Hour), []manifest.Entity{
		{ID: "r-ab12", Type: reportdoc.TypeRoot, Path: root, State: manifest.StateQueued},
		{ID: "ou-ab12-aaaaaaaa", Type: reportdoc.TypeOU, Path: ou, State: manifest.StateQueued},
		{ID: acct, Type: reportdoc.TypeAccount, Path: acctPth, State: manifest.StateQueued},
	})
}

func noPolicies(string) []carry.Attached { return nil }

// TestPrepare: an account of the same organization gets its earlier
// report's facts and waits; another organization's run, or latest.json
// pointing at this very run, gives nothing to carry.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	s := objstore.NewDir(t.TempDir(), "")
	storeEarlierRun(t, s, org)
	m := tonight(org)
	from, err := Prepare(ctx, s, m, noPolicies)
	if err != nil || from != "n1" || m.CarryFrom != "n1" {
		t.Fatalf("Got(Prepare) = %q, %v; want n1", from, err)
	}
	a := m.Entities[2]
	if a.State != manifest.StatePending || a.Carry == nil || a.Carry.RunID != "n1" || a.Carry.AsOf != night1.Unix() || a.Carry.SCP != carry.Fingerprint(acctPth, noPolicies) || a.Carry.Path != "" {
		t.Errorf("Got(account after Prepare) = %s %+v; want pending with n1's report as of %v", a.State, a.Carry, night1)
	}
	if want := carry.Fingerprint(acctPth, noPolicies); a.SCP != want {
		t.Errorf("Got(SCP fingerprint) = %q; want %q", a.SCP, want)
	}
	for _, g := range m.Entities[:2] {
		if g.State != manifest.StateQueued || g.Carry != nil {
			t.Errorf("Got(%s after Prepare) = %s %+v; want queued, nothing to carry", g.ID, g.State, g.Carry)
		}
	}

	other := tonight("o-zzzzzzzzzz")
	if from, err := Prepare(ctx, s, other, noPolicies); err != nil || from != "" || other.Entities[2].Carry != nil {
		t.Errorf("Got(Prepare for another organization) = %q, %v, %+v; want nothing to carry", from, err, other.Entities[2].Carry)
	}
	self := tonight(org)
	self.RunID = "n1"
	if from, err := Prepare(ctx, s, self, noPolicies); err != nil || from != "" {
		t.Errorf("Got(Prepare of the run latest.json points to) = %q, %v; want nothing to carry", from, err)
	}
}

// TestReport: a carried report is the earlier file with this run's id and
// its Carried block; an earlier file that is not the report the earlier run
// recorded is refused.
func TestReport(t *testing.T) {
	ctx := context.Background()
	s := objstore.NewDir(t.TempDir(), "")
	earlier := storeEarlierRun(t, s, org)
	m := tonight(org)
	if _, err := Prepare(ctx, s, m, noPolicies); err != nil {
		t.Fatal(err)
	}
	e := &m.Entities[2]
	proof := night1.Add(24 * time.Hour)
	e.Freshness, e.Carry.Proven = reportdoc.Unchanged, proof.Unix()
	doc, err := Report(ctx, s, m, e)
	if err != nil {
		t.Fatal(err)
	}
	if doc.RunID != "n2" || doc.Job.ID != earlier.Job.ID || !doc.Job.CompletedAt.Equal(earlier.Job.CompletedAt.Time) || len(doc.Services) != 2 || doc.Carried == nil ||
		*doc.Carried != (reportdoc.Carried{Freshness: reportdoc.Unchanged, AsOf: doc.Carried.AsOf, FromRunID: "n1"}) || !doc.Carried.AsOf.Equal(proof) || !doc.AsOf().Equal(proof) {
		t.Errorf("Got(carried report) = run %s job %+v carried %+v; want run n2, n1's job, unchanged as of %v from n1", doc.RunID, doc.Job, doc.Carried, proof)
	}
	e.Freshness = reportdoc.Stale
	if doc, err := Report(ctx, s, m, e); err != nil || !doc.AsOf().Equal(night1) {
		t.Errorf("Got(stale report) as of %v, %v; want as of its own %v", doc.AsOf(), err, night1)
	}

	for name, change := range map[string]func(*reportdoc.EntityReport){
		"another job's report": func(r *reportdoc.EntityReport) { r.Job.CompletedAt = reportdoc.NewTime(night1.Add(time.Hour)) },
		"another entity":       func(r *reportdoc.EntityReport) { r.Entity.ID = "222222222222" },
		"a failed report":      func(r *reportdoc.EntityReport) { r.Job.Status = reportdoc.StatusFailed },
	} {
		bad := *earlier
		change(&bad)
		put(t, s, reportdoc.ReportKey("n1", acct, ""), &bad)
		if _, err := Report(ctx, s, m, e); err == nil || !strings.Contains(err.Error(), "not the completed report") {
			t.Errorf("Got(Report of %s) error %v; want it refused", name, err)
		}
	}
}

// TestDecideComparesTheOUListings: an account is carried when the OU above
// shows no access since and lists the services it listed in the earlier
// run; a service the OU lists now and did not then (IAM began to report
// it), or an access since, refreshes it.
func TestDecideComparesTheOUListings(t *testing.T) {
	ouReport := func(at time.Time, services ...reportdoc.Service) *findings.Digest {
		d := findings.DigestOf(&reportdoc.EntityReport{Entity: reportdoc.Entity{ID: "ou-ab12-aaaaaaaa", Path: ou},
			Job: reportdoc.Job{Status: reportdoc.StatusCompleted, CompletedAt: reportdoc.NewTime(at)}, Services: services}, 90)
		return &d
	}
	tonightAt := night1.Add(24 * time.Hour)
	old := reportdoc.NewTime(night1.Add(-48 * time.Hour))
	ec2, s3 := reportdoc.Service{Namespace: "ec2"}, reportdoc.Service{Namespace: "s3", LastAuthenticated: old}
	for _, tt := range []struct {
		name   string
		now    *findings.Digest
		carry  bool
		reason string
	}{
		{"same services, no access since", ouReport(tonightAt, ec2, s3), true, "shows no access"},
		{"a service IAM began to report", ouReport(tonightAt, ec2, s3, reportdoc.Service{Namespace: "lambda"}), false, "lists lambda, which it did not list"},
		{"an access since", ouReport(tonightAt, ec2, reportdoc.Service{Namespace: "s3", LastAuthenticated: reportdoc.NewTime(night1.Add(time.Hour))}), false, "shows access to s3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := objstore.NewDir(t.TempDir(), "")
			storeEarlierRun(t, s, org)
			m := tonight(org)
			if _, err := Prepare(context.Background(), s, m, noPolicies); err != nil {
				t.Fatal(err)
			}
			earlierOU := ouReport(night1, ec2, s3)
			m.Entities[1].Carry = &manifest.Carry{RunID: "n1", AsOf: night1.Unix(), Listed: listing(earlierOU)}
			m.Entities[1].State, m.Entities[1].Digest = manifest.StateStored, tt.now
			g := NewGroups(m)
			if !g.Ready(2) {
				t.Fatal("Got(account not ready with its OU's report stored); want ready")
			}
			v, proof := g.Decide(2)
			if v.Carry != tt.carry || !strings.Contains(v.Reason, tt.reason) || (v.Carry && !proof.Equal(tonightAt)) {
				t.Errorf("Got(Decide) = %+v as of %v; want carry %v with %q (as of %v)", v, proof, tt.carry, tt.reason, tonightAt)
			}
		})
	}
}
