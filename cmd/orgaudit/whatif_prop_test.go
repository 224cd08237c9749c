package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/orgaudit/orgaudit/internal/iamactions"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
	"github.com/orgaudit/orgaudit/internal/whatif"
)

// propOrg is the small generated organization of the property test.
func propOrg(t testing.TB, seed int64) *orgmodel.Org {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 5, Accounts: 12, Depth: 3, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

// audit serves org on a fresh simulator (a reused report job would answer
// for the organization as it was) and audits it with account reports.
func audit(t *testing.T, org *orgmodel.Org, runID string) string {
	t.Helper()
	startSim(t, sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.002, Now: frozenClock}})
	out := t.TempDir()
	if code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", runID, "--include-accounts", "--progress", "none"); code != exitOK {
		t.Fatalf("run %s: exit %d\n%s\n%s", runID, code, stdout, stderr)
	}
	recordPolicies(t, out, runID)
	return out
}

// storedReports reads every entity report of a run.
func storedReports(t *testing.T, out, runID string) map[string]*reportdoc.EntityReport {
	t.Helper()
	ctx := context.Background()
	store := objstore.NewDir(out, "orgaudit/")
	var sum reportdoc.Summary
	if err := getJSON(ctx, store, reportdoc.SummaryKey(runID), &sum); err != nil {
		t.Fatal(err)
	}
	got := map[string]*reportdoc.EntityReport{}
	for _, l := range sum.Reports {
		if l.PolicyID != nil {
			continue
		}
		if l.Status != reportdoc.StatusCompleted {
			t.Fatalf("run %s: report of %s %s", runID, l.EntityID, l.Status)
		}
		var r reportdoc.EntityReport
		if err := getJSON(ctx, store, l.Key, &r); err != nil {
			t.Fatal(err)
		}
		got[l.EntityID] = &r
	}
	return got
}

func listedOf(r *reportdoc.EntityReport) map[string]bool {
	m := map[string]bool{}
	for _, s := range r.Services {
		m[s.Namespace] = true
	}
	return m
}

// propChange is one random change: a document attached at a target, maybe
// FullAWSAccess detached there.
type propChange struct {
	target string
	doc    string
	detach bool
}

// genDocument draws an SCP of the kinds the property is about: Allow or
// Deny, "*", whole services, NotAction, and the statements that must never
// remove a service (a Condition, a subset of actions).
func genDocument(t *rapid.T, namespaces []string, label string) string {
	var sts []map[string]any
	for i := range rapid.IntRange(1, 2).Draw(t, label+" statements") {
		l := fmt.Sprintf("%s statement %d", label, i)
		st := map[string]any{"Effect": rapid.SampledFrom([]string{"Allow", "Deny"}).Draw(t, l+" effect"), "Resource": "*"}
		var acts []string
		switch rapid.IntRange(0, 9).Draw(t, l+" kind") {
		case 0:
			acts = []string{"*"}
		case 1:
			acts = []string{partOfService(t, rapid.SampledFrom(namespaces).Draw(t, l+" ns"), l)}
		default:
			for _, ns := range rapid.SliceOfNDistinct(rapid.SampledFrom(namespaces), 1, 4, rapid.ID[string]).Draw(t, l+" namespaces") {
				acts = append(acts, ns+":*")
			}
		}
		if rapid.IntRange(0, 3).Draw(t, l+" not") == 0 {
			st["NotAction"] = acts
		} else {
			st["Action"] = acts
		}
		if rapid.IntRange(0, 5).Draw(t, l+" condition") == 0 {
			st["Condition"] = map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": "eu-west-1"}}
		}
		sts = append(sts, st)
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
	return string(b)
}

// partOfService draws a pattern naming a proper subset of a service's
// actions: a prefix of one of its action names, followed by "*", that some
// of its actions do not match. A fixed pattern such as "ns:Get*" would not
// do: for a service with no Get action (events, for one) it names nothing,
// and the two evaluations then part ways by design — what-if knows the
// service's actions and sees NotAction events:Get* deny all of them, while
// the simulator takes a pattern as naming some action whatever it is. For a
// service the action list lacks, the whole service is named instead.
func partOfService(t *rapid.T, ns, label string) string {
	actions, ok := iamactions.Actions(ns)
	if !ok || len(actions) < 2 {
		return ns + ":*"
	}
	name := rapid.SampledFrom(actions).Draw(t, label+" action")
	for n := rapid.IntRange(1, len(name)).Draw(t, label+" prefix"); n <= len(name); n++ {
		prefix := strings.ToLower(name[:n])
		if slices.ContainsFunc(actions, func(a string) bool { return !strings.HasPrefix(strings.ToLower(a), prefix) }) {
			return ns + ":" + name[:n] + "*"
		}
	}
	return ns + ":*"
}

// TestWhatifAgreesWithTheSimulator is the property of the what-if: attach
// random SCPs at random OUs (and the root) of a simulated organization,
// detach FullAWSAccess at some, audit the changed organization afresh, and
// compare. The simulator lists services by its own evaluation of the
// documents (package orgmodel), independent of package scpeval: for every
// account and OU under a change, the services that disappeared from its
// report are exactly whatif's whole set, the partial ones all stay, and
// every break is a service the entity used within the window in the run
// before.
func TestWhatifAgreesWithTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("audits a simulated organization twice per case")
	}
	f := flag.Lookup("rapid.checks")
	old := f.Value.String()
	if old == "100" { // rapid's default; each case is two audits
		f.Value.Set("12")
		defer f.Value.Set(old)
	}
	befores := map[int64]string{}
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Int64Range(1, 4).Draw(rt, "seed")
		org := propOrg(t, seed)
		before, ok := befores[seed]
		if !ok {
			before = audit(t, org, "before")
			befores[seed] = before
		}
		var namespaces []string
		seen := map[string]bool{}
		for _, acts := range org.Activity {
			for ns := range acts {
				if !seen[ns] {
					seen[ns] = true
					namespaces = append(namespaces, ns)
				}
			}
		}
		sort.Strings(namespaces)
		var targets []string
		targets = append(targets, org.Root.ID)
		for _, ou := range org.OUs {
			targets = append(targets, ou.ID)
		}
		picked := rapid.SliceOfNDistinct(rapid.SampledFrom(targets), 1, 3, rapid.ID[string]).Draw(rt, "targets")
		var changes []propChange
		for i, tg := range picked {
			changes = append(changes, propChange{target: tg, doc: genDocument(rt, namespaces, fmt.Sprintf("change %d", i)),
				detach: rapid.IntRange(0, 2).Draw(rt, fmt.Sprintf("change %d detach", i)) == 0})
		}

		after := propOrg(t, seed)
		q := whatif.Input{Days: 90, ManagementAccountID: org.ManagementAccountID}
		for i, c := range changes {
			id := fmt.Sprintf("p-candidate%d", i)
			if err := after.AttachPolicy(c.target, orgmodel.Policy{ID: id, Content: orgmodel.Document(c.doc)}); err != nil {
				rt.Skipf("attach: %v", err) // a target that already has 5 SCPs
			}
			p, err := scpeval.Parse([]byte(c.doc))
			if err != nil {
				rt.Fatalf("candidate %s: %v", c.doc, err)
			}
			p.ID = id
			wc := whatif.Change{Target: c.target, Attach: []*scpeval.Policy{p}}
			if c.detach {
				if err := after.DetachPolicy(c.target, orgmodel.FullAWSAccessID); err == nil {
					wc.Detach = []string{orgmodel.FullAWSAccessID}
				}
			}
			q.Changes = append(q.Changes, wc)
		}
		afterOut := audit(t, after, "after")

		ctx := context.Background()
		pols, err := policyset.Load(ctx, objstore.NewDir(before, "orgaudit/"), "before")
		if err != nil {
			rt.Fatal(err)
		}
		q.Policies = pols
		was, now := storedReports(t, before, "before"), storedReports(t, afterOut, "after")
		for _, r := range was {
			q.Reports = append(q.Reports, whatif.FromEntityReport(r))
		}
		var ous []whatif.Report
		for _, r := range q.Reports {
			if r.Entity.Type != reportdoc.TypeAccount {
				ous = append(ous, r)
			}
		}
		for _, basis := range []struct {
			name    string
			reports []whatif.Report
		}{{"accounts", q.Reports}, {"ous", ous}} {
			in := q
			in.Reports = basis.reports
			res, err := whatif.Evaluate(in)
			if err != nil {
				rt.Fatalf("Evaluate: %v", err)
			}
			for _, e := range res.Entities {
				gone := []string{}
				afterListed := listedOf(now[e.Entity.ID])
				for ns := range listedOf(was[e.Entity.ID]) {
					if !afterListed[ns] {
						gone = append(gone, ns)
					}
				}
				sort.Strings(gone)
				whole := append([]string{}, e.Whole...)
				if strings.Join(gone, ",") != strings.Join(whole, ",") {
					rt.Fatalf("%s (%s basis): the simulator removed %v, whatif predicts whole %v\nchanges: %+v", e.Entity.Path, basis.name, gone, whole, changes)
				}
				for _, ns := range e.Partial {
					if !afterListed[ns] {
						rt.Fatalf("%s: whatif predicts %s partial, the simulator removed it\nchanges: %+v", e.Entity.Path, ns, changes)
					}
				}
			}
			for _, b := range res.Breaks {
				r := was[b.EntityID]
				used := false
				for _, s := range r.Services {
					used = used || (s.Namespace == b.Namespace && s.LastAuthenticated != nil && r.AsOf().Sub(s.LastAuthenticated.Time) <= 90*24*time.Hour)
				}
				if !used || b.EntityID == org.ManagementAccountID {
					rt.Fatalf("break %+v: not a service %s used within 90 days in the run before", b, b.EntityID)
				}
			}
		}
	})
}
