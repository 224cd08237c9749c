package pipeline

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// TestCheckStoresWhileJobsRun: with one job at a time, Check stores each
// finished report while the next job runs, so when the last job ends only
// its own report is left for Store.
func TestCheckStoresWhileJobsRun(t *testing.T) {
	t.Parallel()
	// Jobs of a twentieth of IAM's time (75–400 ms): a report is stored
	// well within one, even under the race detector.
	e := newEnv(t, envOptions{
		config: func(c *config.Config) { c.StepBudget = 60 * time.Second },
		sim:    func(o *sim.Options) { o.IAM.TimeScale = 0.05 },
	})
	ctx := testCtx(t)
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "overlap", Input: json.RawMessage(`{"includeAccounts":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = e.p.Check(ctx, st); err != nil || st.Running+st.Queued != 0 {
		t.Fatalf("Check = %+v, %v; want every job finished", st, err)
	}
	m, err := manifest.Load(ctx, e.store, "overlap")
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for i := range m.Entities {
		if m.Entities[i].State == manifest.StateStored {
			stored++
		}
	}
	t.Logf("Check stored %d of %d reports", stored, st.Total)
	// Each report is stored while a later job runs: all but the last.
	if stored < st.Total-2 {
		t.Errorf("Got(reports stored by Check) = %d of %d; want most of them", stored, st.Total)
	}
	e.drive(ctx, e.p, st)
	e.verify(ctx, "overlap", expectScope(e.org, true, false), nil)
}

// TestCheckCrashWhileStoring: Check's storage fails after some reports
// were written; the retried steps lose and duplicate nothing.
func TestCheckCrashWhileStoring(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		after  int
	}{
		{"after some reports", "runs/check-crash/reports/", 4},
		{"at an Athena part", "access/", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{config: func(c *config.Config) { c.StepBudget = 60 * time.Second }})
			ctx := testCtx(t)
			e.p.tune.partRows = 1000 // parts written mid-Check
			st, err := e.p.Start(ctx, StartEvent{ExecutionName: "check-crash", Input: json.RawMessage(`{"includeAccounts":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			faulty := &faultyStore{Store: e.store, prefix: tt.prefix, after: tt.after}
			crashing := New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: faulty, Now: e.p.now, Logger: e.p.log})
			crashing.tune = e.p.tune
			if _, err := crashing.Check(ctx, st); !errors.Is(err, errInjected) {
				t.Fatalf("Got(Check with failing storage) error %v; want the injected failure", err)
			}
			e.drive(ctx, e.p, st)
			e.verify(ctx, "check-crash", expectScope(e.org, true, false), nil)
		})
	}
}
