package pipeline

import (
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// TestRunBudget: a budget shorter than the work ends the run on time. The
// jobs that fit have their reports (equal to the model's), the rest end
// with BudgetExhausted, every entity of the model's scope once, and the
// run is PARTIAL with all its documents written.
func TestRunBudget(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 30, Depth: 3, Seed: 19})
	// Jobs of about 20-140 ms, one at a time: some 4 s of work for 39
	// entities; the budget is 1.2 s.
	e := newEnv(t, envOptions{org: org})
	e.p.tune.firstEstimate = 50 * time.Millisecond
	ctx := testCtx(t)
	const minutes = 0.02
	began := time.Now()
	st := e.run(ctx, `{"includeAccounts":true,"maxRunMinutes":0.02}`, "short-night")
	took := time.Since(began)
	budget := time.Duration(minutes * float64(time.Minute))
	// The budget, and what the test's own driver adds: its waits between
	// steps and one step's final save.
	if slack := 500 * time.Millisecond; took > budget+slack {
		t.Errorf("Got(run took) %s; want at most the budget %s (+%s)", took, budget, slack)
	}
	if st.Failed == 0 || st.Completed == 0 {
		t.Fatalf("Got(final state) = %+v; want some reports completed and some not run", st)
	}
	o := e.outcome(ctx, "short-night")
	failed := map[scopeKey]string{}
	// Jobs start with the root and OUs, then the accounts, each in path
	// order: what is left is the tail of that queue.
	var queue []manifest.Entity
	for _, groups := range []bool{true, false} {
		for _, ent := range o.manifest.Entities {
			if (ent.Type != reportdoc.TypeAccount) == groups {
				queue = append(queue, ent)
			}
		}
	}
	lastDone := -1
	for i, ent := range queue {
		if ent.Error == nil {
			lastDone = i
			continue
		}
		failed[scopeKey{ent.ID, ent.PolicyID}] = CodeBudgetExhausted
	}
	for i, ent := range queue {
		if ent.Error != nil && i < lastDone {
			t.Errorf("Got(%s without a report before %s with one); want the queue's tail to be the one left", ent.ID, queue[lastDone].ID)
		}
	}
	got := e.verify(ctx, "short-night", expectScope(org, true, false), failed)
	if got.summary.Status != reportdoc.RunPartial {
		t.Errorf("Got(summary status) = %s; want %s", got.summary.Status, reportdoc.RunPartial)
	}
}
