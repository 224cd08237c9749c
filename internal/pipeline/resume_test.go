package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// TestResumeAfterFailurePath: a run that stored some reports fails (the
// failure path records it FAILED); Resume, called with the State the
// failure path ended with, as the redriven AuditFailed task calls it,
// takes the run up again from its manifest: the loop runs it to
// SUCCEEDED, every report stored before the failure keeps its bytes, every
// entity has one report and one row set, and the run is the same run (its
// startedAt). Resume run twice in a row (a retried task) is the same as
// once.
func TestResumeAfterFailurePath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		sim: func(o *sim.Options) { o.IAM.TimeScale = 0.05 }, // jobs of 100-550 ms: a Check runs a few
	})
	ctx := testCtx(t)
	const runID = "redriven"
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: runID, Input: json.RawMessage(`{"includeAccounts":true,"maxConcurrentJobs":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	// Check until some reports are stored, then the failure path.
	for i := 0; st.Completed == 0; i++ {
		if i > 100 {
			t.Fatal("no report completed after 100 Checks")
		}
		// A step's budget comes from its deadline: half of it here.
		short, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
		st, err = e.p.Check(short, st)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Error = &StepError{Error: "StepFailed", Cause: "check run redriven: save manifest: 503"}
	st.Caught = &Caught{RedriveCount: 0}
	if _, err := e.p.Store(ctx, st); err != nil {
		t.Fatalf("Store(failure): %v", err)
	}
	failed := checkOutcome(ctx, t, e.store, runID)
	if failed.Status != reportdoc.RunFailed || failed.Entities.Succeeded == 0 || failed.Entities.Failed == 0 {
		t.Fatalf("Got(summary of the failed run) = %s %+v; want FAILED with some reports completed", failed.Status, failed.Entities)
	}
	kept := map[string][]byte{}
	for k, b := range e.snapshot(ctx) {
		if strings.HasPrefix(k, reportdoc.RunDir(runID)+"reports/") && strings.Contains(string(b), `"status": "COMPLETED"`) {
			kept[k] = b
		}
	}
	if len(kept) != failed.Entities.Succeeded {
		t.Fatalf("Got(%d COMPLETED report files); want the summary's %d", len(kept), failed.Entities.Succeeded)
	}

	e.now = e.now.Add(time.Hour) // the redrive comes later
	resumed, err := e.p.Resume(ctx, st)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	checkState(t, resumed)
	if resumed.Error != nil || resumed.Caught != nil || resumed.Done || resumed.Walking {
		t.Errorf("Got(resumed State) = %+v; want a fresh State for the loop, not done", resumed)
	}
	if resumed.Queued != failed.Entities.Failed || resumed.Completed != failed.Entities.Succeeded {
		t.Errorf("Got(resumed counts) queued %d, completed %d; want the %d failed queued again and the %d completed kept",
			resumed.Queued, resumed.Completed, failed.Entities.Failed, failed.Entities.Succeeded)
	}
	m1, err := manifest.Load(ctx, e.store, runID)
	if err != nil {
		t.Fatal(err)
	}
	if m1.RunError != nil || m1.FinishedAt != nil || m1.Settings.MaxConcurrentJobs != 2 {
		t.Errorf("Got(resumed manifest) runError %+v, finishedAt %v, window %d; want the failure cleared and the run's own window 2",
			m1.RunError, m1.FinishedAt, m1.Settings.MaxConcurrentJobs)
	}
	again, err := e.p.Resume(ctx, st)
	if err != nil || again.Queued != resumed.Queued || again.Completed != resumed.Completed {
		t.Errorf("Got(Resume again) = %+v, %v; want the same counts as %+v", again, err, resumed)
	}

	e.drive(ctx, e.p, again)
	// The model has the run start at the first clock: the same run went on.
	e.now = e.now.Add(-time.Hour)
	o := e.verify(ctx, runID, expectScope(e.org, true, false), nil)
	if o.summary.Status != reportdoc.RunSucceeded {
		t.Errorf("Got(summary after the redrive) = %s; want SUCCEEDED", o.summary.Status)
	}
	after := e.snapshot(ctx)
	for k, b := range kept {
		if string(after[k]) != string(b) {
			t.Errorf("Got(%s) rewritten by the resumed run; want the bytes stored before the failure", k)
		}
	}

	// A run with no manifest cannot be resumed: the step fails, naming it.
	_, err = e.p.Resume(ctx, State{RunID: "never-started"})
	var sf *StepFailed
	if !errors.As(err, &sf) || !manifest.IsNotFound(err) {
		t.Errorf("Got(Resume without a manifest) = %v; want StepFailed (not found)", err)
	}
}

// TestResumeDuringTheWalk: a run whose Walk failed (the failure path
// records it FAILED with the walk unfinished) is resumed by Resume, which
// goes on with the walk from its saved progress and returns walking, as
// Start does; Start again until the walk is done, then the loop, ends with
// the organization's entities, every one reported.
func TestResumeDuringTheWalk(t *testing.T) {
	t.Parallel()
	const input = `{"includeAccounts":true}`
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 20, Accounts: 40, Depth: 4, Seed: 11})
	ctx := testCtx(t)
	whole := newEnv(t, envOptions{org: org})
	want := entityList(t, whole, whole.start(ctx, whole.p, input, "whole").RunID)

	e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) { o.OrgTPS = 40 }})
	short, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
	st, err := e.p.Start(short, StartEvent{ExecutionName: "walk-failed", Input: json.RawMessage(input)})
	cancel()
	if err != nil || !st.Walking {
		t.Fatalf("Start = %+v, %v; want the walk unfinished", st, err)
	}
	st.Error = &StepError{Error: "StepFailed", Cause: "start run walk-failed: walk: 503"}
	st.Caught = &Caught{}
	if _, err := e.p.Store(ctx, st); err != nil {
		t.Fatalf("Store(failure during the walk): %v", err)
	}

	short, cancel = context.WithTimeout(ctx, 1200*time.Millisecond)
	resumed, err := e.p.Resume(short, st)
	cancel()
	if err != nil || !resumed.Walking || resumed.Error != nil || resumed.WalkCalls == 0 {
		t.Fatalf("Resume = %+v, %v; want the walk going on, still unfinished", resumed, err)
	}
	for i := 0; resumed.Walking; i++ {
		if i > 200 {
			t.Fatalf("walk not done after %d Starts: %+v", i, resumed)
		}
		// The Walk task: Start again with the execution's input.
		if resumed, err = e.p.Start(ctx, StartEvent{ExecutionName: "walk-failed", Input: json.RawMessage(input)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := entityList(t, e, "walk-failed"); !bytes.Equal(got, want) {
		t.Errorf("Got(entities after the resumed walk) =\n%s\nwant (one Start)\n%s", got, want)
	}
	final := e.drive(ctx, e.p, resumed)
	if final.Failed != 0 || final.Completed != final.Total {
		t.Errorf("Got(run) = %+v; want every entity reported", final)
	}
	if sum := checkOutcome(ctx, t, e.store, "walk-failed"); sum.Status != reportdoc.RunSucceeded {
		t.Errorf("Got(summary) = %s; want SUCCEEDED", sum.Status)
	}
}
