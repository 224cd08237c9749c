package pipeline

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// recordingNotifier keeps what the pipeline asked it to announce.
type recordingNotifier struct {
	mu    sync.Mutex
	calls []*reportdoc.Changes
}

func (n *recordingNotifier) FirstUse(_ context.Context, runID, orgID string, changes *reportdoc.Changes, _ []findings.Entry) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, changes)
	return len(changes.Entities), nil
}

// TestFirstUseIsNotifiedOnce starts using a service nobody used before
// between two runs: the second run's final step tells the notifier about it
// at the root, and a retried final step does not tell it again.
func TestFirstUseIsNotifiedOnce(t *testing.T) {
	t.Parallel()
	// IAM hands back the same job for an identical request within 60 s, so
	// the simulator's clock moves with the runs.
	var mu sync.Mutex
	clock := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	e := newEnv(t, envOptions{sim: func(o *sim.Options) {
		o.IAM.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	}})
	rec := &recordingNotifier{}
	e.p.notifier = rec
	ctx := testCtx(t)
	e.run(ctx, `{}`, "day-1")
	if len(rec.calls) != 0 {
		t.Fatalf("Got(notifications after the first run) = %d; want 0 (nothing to compare with)", len(rec.calls))
	}

	ns, account := unusedNamespace(t, e.org), memberAccount(e.org)
	e.org.Activity[account][ns] = orgmodel.Access{Time: e.org.AsOf.Add(-24 * time.Hour), Region: "eu-west-1"}
	e.now = e.now.Add(24 * time.Hour)
	mu.Lock()
	clock = clock.Add(24 * time.Hour)
	mu.Unlock()
	st := e.run(ctx, `{}`, "day-2")
	if len(rec.calls) != 1 {
		t.Fatalf("Got(notifications after the second run) = %d; want 1", len(rec.calls))
	}
	var atRoot []string
	for _, c := range rec.calls[0].Entities {
		if c.EntityID == e.org.Root.ID && c.PolicyID == nil {
			atRoot = c.NewlyAccessed
		}
	}
	if !slices.Contains(atRoot, ns) {
		t.Errorf("Got(newly accessed at the root) = %v; want it to contain %s", atRoot, ns)
	}

	// Store again after the run finished, as a retried Lambda would.
	if _, err := e.p.Store(ctx, st); err != nil {
		t.Fatalf("Store again: %v", err)
	}
	if len(rec.calls) != 1 {
		t.Errorf("Got(notifications after a retried final step) = %d; want still 1", len(rec.calls))
	}
}

// unusedNamespace returns a catalog service no account of org has used.
func unusedNamespace(t *testing.T, org *orgmodel.Org) string {
	t.Helper()
	for _, s := range catalog.All() {
		used := false
		for _, acts := range org.Activity {
			if _, ok := acts[s.Namespace]; ok {
				used = true
				break
			}
		}
		if !used && len(org.AllowedServices(org.Root.ID)) > 0 && slices.Contains(org.AllowedServices(org.Root.ID), s.Namespace) {
			return s.Namespace
		}
	}
	t.Fatal("every catalog service allowed at the root is used by some account")
	return ""
}

// memberAccount returns an account other than the management account that
// already has activity.
func memberAccount(org *orgmodel.Org) string {
	for _, a := range org.Accounts {
		if a.ID != org.ManagementAccountID && org.Activity[a.ID] != nil {
			return a.ID
		}
	}
	return ""
}
