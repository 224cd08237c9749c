package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

func TestNestedOrganization(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 20, Accounts: 25, Depth: 5, Seed: 11})
	deepest := 0
	for _, ou := range org.OUs {
		n, _ := org.Node(ou.ID)
		deepest = max(deepest, n.Depth)
	}
	if deepest != 5 {
		t.Fatalf("Got(deepest OU level) = %d; want 5", deepest)
	}
	e := newEnv(t, envOptions{org: org})
	ctx := testCtx(t)
	st := e.run(ctx, `{}`, "nightly-1")
	if st.Total != len(org.OUs)+1 || st.Completed != st.Total || st.Failed != 0 {
		t.Errorf("Got(final state) = %+v; want %d completed", st, len(org.OUs)+1)
	}
	e.verify(ctx, "nightly-1", expectScope(org, false, false), nil)
}

func TestIncludeAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	e.run(ctx, `{"includeAccounts":true}`, "with-accounts")
	o := e.verify(ctx, "with-accounts", expectScope(e.org, true, false), nil)
	// The management account's report lists every service (IAM's rule).
	mgmt := o.reports[scopeKey{e.org.ManagementAccountID, ""}]
	if mgmt == nil || len(mgmt.Services) != len(catalog.All()) {
		n := -1
		if mgmt != nil {
			n = len(mgmt.Services)
		}
		t.Errorf("Got(management account services) = %d; want %d", n, len(catalog.All()))
	}
}

func TestIncludePolicies(t *testing.T) {
	t.Parallel()
	// Both ways of finding the attached SCPs: per policy (large runs) and
	// per target (a few entities).
	for _, byTargetMax := range []int{-1, 1000} {
		t.Run(fmt.Sprintf("byTargetMax=%d", byTargetMax), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.p.walker.ByTargetMax = byTargetMax
			ctx := testCtx(t)
			e.run(ctx, `{"includeAccounts":true,"includePolicies":true}`, "with-policies")
			scope := expectScope(e.org, true, true)
			policies := 0
			for k := range scope {
				if k.policy != "" {
					policies++
					if k.id == e.org.ManagementAccountID {
						t.Errorf("Got(policy report %s for the management account); want none", k)
					}
				}
			}
			if policies == 0 {
				t.Fatalf("the test organization has no SCP attachments")
			}
			e.verify(ctx, "with-policies", scope, nil)
		})
	}
}

// TestIncludePoliciesByTarget covers the per-target SCP lookup used for a
// few entities.
func TestIncludePoliciesByTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	ou := e.org.OUs[0]
	n, _ := e.org.Node(ou.ID)
	e.run(ctx, `{"entityPaths":["`+n.Path+`"],"includePolicies":true}`, "ou-policies")
	scope := map[scopeKey]orgmodel.Node{{ou.ID, ""}: n}
	for _, p := range e.org.PoliciesFor(ou.ID) {
		scope[scopeKey{ou.ID, p}] = n
	}
	e.verify(ctx, "ou-policies", scope, nil)
}

// TestEntityPathsWithAccounts: an OU path with includeAccounts audits the
// OU and every account of its subtree, nothing else.
func TestEntityPathsWithAccounts(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 10, Accounts: 30, Depth: 3, Seed: 5})
	e := newEnv(t, envOptions{org: org})
	ctx := testCtx(t)
	// The top-level OU with the most accounts below it.
	var ou orgmodel.Node
	for _, id := range org.ChildOUs(org.Root.ID) {
		if n, _ := org.Node(id); len(org.AccountsUnder(id)) > len(org.AccountsUnder(ou.ID)) {
			ou = n
		}
	}
	var acct orgmodel.Node
	for _, a := range org.Accounts {
		if a.ID != org.ManagementAccountID && len(org.Ancestors(a.ID)) >= 1 {
			acct, _ = org.Node(a.ID)
			if !strings.HasPrefix(acct.Path, ou.Path+"/") {
				break
			}
		}
	}
	e.run(ctx, `{"entityPaths":["`+ou.Path+`","`+acct.Path+`"],"includeAccounts":true}`, "one-ou")
	scope := map[scopeKey]orgmodel.Node{{ou.ID, ""}: ou, {acct.ID, ""}: acct}
	for _, a := range org.AccountsUnder(ou.ID) {
		scope[scopeKey{a, ""}], _ = org.Node(a)
	}
	if len(scope) < 3 {
		t.Fatalf("the chosen OU has too few accounts: %d", len(scope))
	}
	e.verify(ctx, "one-ou", scope, nil)
}

// TestLatestAndChanges: the second run compares itself with the first
// (the run latest.json pointed to) and moves latest.json; finishing an
// older run again does not move it back.
func TestLatestAndChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	e.run(ctx, `{}`, "day-1")
	if o := e.outcome(ctx, "day-1"); o.summary.Changes != nil {
		t.Errorf("Got(changes of the first run) = %+v; want none", o.summary.Changes)
	}
	// The key is there all the same, as in findings.json: null, not absent.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(e.read(ctx, reportdoc.SummaryKey("day-1")), &raw); err != nil {
		t.Fatal(err)
	}
	if c, ok := raw["changes"]; !ok || string(c) != "null" {
		t.Errorf("Got(summary.json changes of the first run) = %q (present %v); want null", c, ok)
	}
	e.now = e.now.Add(24 * time.Hour)
	e.run(ctx, `{}`, "day-2")
	o := e.outcome(ctx, "day-2")
	if o.summary.Changes == nil || o.summary.Changes.PreviousRunID != "day-1" {
		t.Errorf("Got(changes of the second run) = %+v; want them against day-1", o.summary.Changes)
	} else if o.summary.Changes.Totals.Compared != len(o.summary.Reports) {
		t.Errorf("Got(compared) = %d; want %d", o.summary.Changes.Totals.Compared, len(o.summary.Reports))
	}
	if o.manifest.PreviousRunID != "day-1" {
		t.Errorf("Got(previousRunId) = %q; want day-1", o.manifest.PreviousRunID)
	}
	latest := func() reportdoc.Latest {
		var l reportdoc.Latest
		if err := json.Unmarshal(e.read(ctx, reportdoc.LatestKey), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := latest(); l.RunID != "day-2" || l.SummaryKey != reportdoc.SummaryKey("day-2") || !l.CompletedAt.Equal(e.now) {
		t.Errorf("Got(latest) = %+v; want day-2", l)
	}
	e.run(ctx, `{"runId":"day-1"}`, "day-1-again")
	if l := latest(); l.RunID != "day-2" {
		t.Errorf("Got(latest after finishing day-1 again) = %s; want day-2 kept", l.RunID)
	}
}
