package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/athena"
	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/runinput"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestConcurrencyLimit runs with IAM's real limit of one job: with a
// window of one the pipeline provokes no 409 but those of its hand-over
// (with the hand-over off, none at all: each is a speculative Generate,
// "not yet", that starts nothing); with a window of three every 409 is
// retried and no report is lost or started twice. Every 409 is counted.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		window   int
		handOver bool
		want409s bool
	}{
		{"window1", 1, false, false},
		{"window1 with the hand-over", 1, true, true},
		{"window3", 3, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.p.tune.handOver = tt.handOver
			ctx := testCtx(t)
			runID := "limit"
			st := e.run(ctx, `{"maxConcurrentJobs":`+string(rune('0'+tt.window))+`,"includeAccounts":true}`, runID)
			scope := expectScope(e.org, true, false)
			o := e.verify(ctx, runID, scope, nil)
			stats := e.sim.IAM().Stats()
			if got := stats.LimitExceeded > 0; got != tt.want409s {
				t.Errorf("Got(409 answers) = %d; want some: %v", stats.LimitExceeded, tt.want409s)
			}
			if st.Throttled < stats.LimitExceeded {
				t.Errorf("Got(throttled) = %d; want at least the %d 409 answers", st.Throttled, stats.LimitExceeded)
			}
			if stats.JobsCreated != len(scope) || stats.JobsCompleted != len(scope) {
				t.Errorf("Got(jobs created/completed) = %d/%d; want %d each (one per report)", stats.JobsCreated, stats.JobsCompleted, len(scope))
			}
			for _, ent := range o.manifest.Entities {
				if ent.Attempts != 1 {
					t.Errorf("Got(attempts for %s) = %d; want 1: a 409 starts nothing", ent.ID, ent.Attempts)
				}
			}
		})
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	// Each job costs at least a Generate, a poll and a read: at 10 calls a
	// second the run is bound by the rate, as a large one is in AWS.
	e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.IAMTPS = 10; o.OrgTPS = 4 }})
	ctx := testCtx(t)
	st := e.run(ctx, `{}`, "throttled")
	e.verify(ctx, "throttled", expectScope(e.org, false, false), nil)
	if st.Throttled == 0 {
		t.Errorf("Got(throttled) = 0; want the throttling to be seen and counted")
	}
}

// TestFlakyService: injected 5xx answers and short pages change nothing in
// the output.
func TestFlakyService(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) {
		o.ErrorRate = 0.05
		o.IAM.ShortPageRate = 0.5
	}})
	ctx := testCtx(t)
	e.run(ctx, `{"includeAccounts":true}`, "flaky")
	e.verify(ctx, "flaky", expectScope(e.org, true, false), nil)
}

func TestFailedJob(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	bad := org.OUs[2].ID
	e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) { o.IAM.FailEntities = []string{bad} }})
	ctx := testCtx(t)
	st := e.run(ctx, `{}`, "partial")
	if st.Failed != 1 || st.Completed != st.Total-1 {
		t.Errorf("Got(state) = %+v; want 1 failed", st)
	}
	o := e.verify(ctx, "partial", expectScope(org, false, false), map[scopeKey]string{{bad, ""}: "ServiceFailure"})
	if o.summary.Status != reportdoc.RunPartial {
		t.Errorf("Got(status) = %s; want PARTIAL", o.summary.Status)
	}
}

// TestJobOfAnotherPrincipal: a step that runs as another principal than
// the step before it touches none of that step's jobs: a job left running
// by a Check that ran out of budget is started again by the next one,
// which gets a job of its own (IAM reuses a job only for its creator) and
// reads it; the run completes.
func TestJobOfAnotherPrincipal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.IAM.Latency = func(int) time.Duration { return 20 * time.Second } }})
	ctx := testCtx(t)
	role := "arn:aws:iam::" + e.org.ManagementAccountID + ":role/OrgAuditReport"
	cfgA, cfgB := e.cfg, e.cfg
	cfgA.ReportRoleARN, cfgA.ReportRoleSession = role, "orgaudit"
	cfgB.ReportRoleARN, cfgB.ReportRoleSession = role, "someone-else"
	pA, _ := e.pipeline(cfgA, "test", "test")
	pB, _ := e.pipeline(cfgB, "test", "test")
	st, err := pA.Start(ctx, StartEvent{ExecutionName: "two-principals", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st.Running != 0 {
		t.Fatalf("Got(running after Start) = %d; want 0 (Start starts no job)", st.Running)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond) // a budget of 50 ms
	defer cancel()
	if st, err = pA.Check(short, st); err != nil || st.Running != 1 {
		t.Fatalf("Got(Check with a short budget) = %+v, %v; want one job left running", st, err)
	}
	m, err := manifest.Load(ctx, e.store, st.RunID)
	if err != nil {
		t.Fatal(err)
	}
	first := m.Entities[0]
	st = e.drive(ctx, pB, st)
	o := e.verify(ctx, st.RunID, expectScope(e.org, false, false), nil)
	for _, ent := range o.manifest.Entities {
		if ent.ID == first.ID && (ent.Attempts != 2 || ent.JobID == first.JobID) {
			t.Errorf("Got(%s) = attempts %d, job %s; want 2 attempts, a job other than %s", ent.ID, ent.Attempts, ent.JobID, first.JobID)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	ou, _ := e.org.Node(e.org.OUs[0].ID)
	otherOrg := "o-zzzzzzzzzz/r-" + strings.TrimPrefix(e.org.Root.ID, "r-")
	tests := []struct {
		name, input, field string
	}{
		{"syntax", `{"runId":`, "input"},
		{"unknown field", `{"entityPath":["x"]}`, "entityPath"},
		{"wrong type", `{"includeAccounts":"yes"}`, "includeAccounts"},
		{"trailing data", `{}{}`, "input"},
		{"bad run id", `{"runId":"../../x"}`, "runId"},
		{"days out of range", `{"unusedDays":0}`, "unusedDays"},
		{"malformed path", `{"entityPaths":["ou-1234"]}`, "entityPaths[0]"},
		{"other organization", `{"entityPaths":["` + ou.Path + `","` + otherOrg + `"]}`, "entityPaths[1]"},
		{"no such OU", `{"entityPaths":["` + e.org.ID + "/" + e.org.Root.ID + `/ou-zzzz-zzzzzzzz"]}`, "entityPaths[0]"},
		{"no such account", `{"entityPaths":["` + ou.Path + `/999999999999"]}`, "entityPaths[0]"},
		{"OU under the wrong parent", `{"entityPaths":["` + e.org.ID + "/" + e.org.Root.ID + "/" + e.org.OUs[0].ID + "/" + e.org.OUs[0].ID + `"]}`, "entityPaths[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.p.Start(ctx, StartEvent{ExecutionName: "bad-" + strings.ReplaceAll(tt.name, " ", "-"), Input: json.RawMessage(tt.input)})
			inv, ok := err.(*runinput.InvalidInput)
			if !ok {
				t.Fatalf("Got(Start(%s)) error %T %v; want *runinput.InvalidInput unwrapped", tt.input, err, err)
			}
			if typ := reflect.TypeOf(err).Elem().Name(); typ != "InvalidInput" {
				t.Errorf("Got(error type name) = %q; want InvalidInput (the state machine matches it)", typ)
			}
			if inv.Field != tt.field {
				t.Errorf("Got(field) = %q (%v); want %q", inv.Field, err, tt.field)
			}
		})
	}
	keys, err := e.store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("Got(objects after invalid input) = %q; want none", keys)
	}
}

// faultyStore fails every Put after the first `after` ones whose key has
// the given prefix; it passes everything else through.
type faultyStore struct {
	objstore.Store
	mu     sync.Mutex
	prefix string
	after  int
	fail   bool
}

var errInjected = errors.New("injected storage failure")

func (f *faultyStore) Put(ctx context.Context, key string, body []byte, ct string) error {
	f.mu.Lock()
	if strings.HasPrefix(key, f.prefix) {
		if f.after == 0 {
			f.fail = true
		}
		f.after--
	}
	fail := f.fail && strings.HasPrefix(key, f.prefix)
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Store.Put(ctx, key, body, ct)
}

// TestStoreCrashAndRetry: storing fails mid-way (after some reports, at
// the manifest save that claims an Athena part, or at the part's write
// after that save); the retried step loses and duplicates nothing. The reports are stored by the Check
// that ran their jobs (a job is read by the step that started it).
func TestStoreCrashAndRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		after  int
	}{
		{"after some reports", "runs/crash/reports/", 4},
		{"at the save that claims a part, before the part", "runs/crash/manifest.json", 0},
		{"after the save that claims a part, at the part", "access/", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{config: func(c *config.Config) { c.StepBudget = 20 * time.Second }})
			ctx := testCtx(t)
			e.p.tune.storeBatch = 1000    // Check runs every job
			e.p.tune.storeInCheck = false // and stores every report after the last one
			st, err := e.p.Start(ctx, StartEvent{ExecutionName: "crash", Input: json.RawMessage(`{"includeAccounts":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			faulty := &faultyStore{Store: e.store, prefix: tt.prefix, after: tt.after}
			crashing := New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: faulty, Now: e.p.now, Logger: e.p.log})
			crashing.tune = e.p.tune
			crashing.tune.partRows = 2000 // several parts per step
			if _, err := crashing.Check(ctx, st); !errors.Is(err, errInjected) {
				t.Fatalf("Got(Check with failing storage) error %v; want the injected failure", err)
			}
			st = e.drive(ctx, e.p, st)
			e.verify(ctx, "crash", expectScope(e.org, true, false), nil)
		})
	}
}

// TestCheckInterruptedAndRetried: a Check cancelled mid-way (the CLI's
// Ctrl-C: it saves what it did) or losing its storage mid-way (a crash:
// work since the last save is lost, including jobs it started) is run
// again; no report is lost or duplicated, and IAM's reuse of an identical
// recent request means no job is started twice.
func TestCheckInterruptedAndRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash bool
	}{
		{"cancelled", false},
		{"storage lost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			ctx := testCtx(t)
			st, err := e.p.Start(ctx, StartEvent{ExecutionName: "interrupted", Input: json.RawMessage(`{"includeAccounts":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			interrupted := 0
			for i := 0; i < 3; i++ {
				cctx, cancel := context.WithCancel(ctx)
				p := e.p
				if tt.crash {
					faulty := &faultyStore{Store: e.store, prefix: "runs/interrupted/manifest.json", after: 2}
					p = New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: faulty, Now: e.p.now, Logger: e.p.log})
					p.tune = e.p.tune
				} else {
					time.AfterFunc(120*time.Millisecond, cancel)
				}
				_, err := p.Check(cctx, st)
				cancel()
				if err != nil {
					interrupted++
				}
			}
			if interrupted == 0 {
				t.Fatalf("no Check was interrupted; the test proves nothing")
			}
			e.drive(ctx, e.p, st)
			scope := expectScope(e.org, true, false)
			e.verify(ctx, "interrupted", scope, nil)
			if stats := e.sim.IAM().Stats(); stats.JobsCreated != len(scope) {
				t.Errorf("Got(jobs created) = %d; want %d", stats.JobsCreated, len(scope))
			}
		})
	}
}

// TestSmallBudget: steps with a tiny budget (a large organization is the
// same, in more loop iterations) still finish the run.
func TestSmallBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.StepBudget = 30 * time.Millisecond }})
	e.p.tune.storeBatch = 3
	ctx := testCtx(t)
	e.run(ctx, `{"includeAccounts":true}`, "small-budget")
	e.verify(ctx, "small-budget", expectScope(e.org, true, false), nil)
}

// TestRerunSameRunID: starting a finished run again rewrites the same
// keys with the same bytes; other settings under the same id are refused.
func TestRerunSameRunID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	input := `{"runId":"again","includeAccounts":true}`
	e.run(ctx, input, "exec-1")
	before := e.snapshot(ctx)
	e.now = e.now.Add(time.Hour) // a later clock must not leak into the documents
	e.run(ctx, input, "exec-2")
	after := e.snapshot(ctx)
	if len(before) != len(after) {
		t.Errorf("Got(objects after re-run) = %d; want %d", len(after), len(before))
	}
	for k, b := range before {
		if string(after[k]) != string(b) {
			t.Errorf("Got(%s) changed on re-run; want the same bytes", k)
		}
	}
	_, err := e.p.Start(ctx, StartEvent{ExecutionName: "exec-3", Input: json.RawMessage(`{"runId":"again"}`)})
	var inv *runinput.InvalidInput
	if !errors.As(err, &inv) || inv.Field != "includeAccounts" {
		t.Errorf("Got(re-run with other settings) = %v; want InvalidInput naming includeAccounts", err)
	}
}

func (e *env) snapshot(ctx context.Context) map[string][]byte {
	e.t.Helper()
	keys, err := e.store.List(ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		out[k] = e.read(ctx, k)
	}
	return out
}

// TestFailurePath: Store with the state machine's error records the run
// FAILED, lists every entity once, and leaves latest.json alone.
func TestFailurePath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "doomed", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	st.Error = &StepError{Error: "States.Timeout", Cause: "the Check task timed out"}
	got, err := e.p.Store(ctx, st)
	if err != nil {
		t.Fatalf("Store(failure): %v", err)
	}
	if !got.Done || got.Error == nil {
		t.Errorf("Got(state) = %+v; want done with the error kept", got)
	}
	o := e.outcome(ctx, "doomed")
	checkOutcome(ctx, t, e.store, "doomed")
	if o.summary.Status != reportdoc.RunFailed || len(o.summary.Reports) != st.Total || o.summary.Entities.Failed+o.summary.Entities.Succeeded != st.Total {
		t.Errorf("Got(summary) = %s %+v with %d reports; want FAILED listing %d", o.summary.Status, o.summary.Entities, len(o.summary.Reports), st.Total)
	}
	for _, er := range o.summary.Errors {
		if er.Code != "States.Timeout" {
			t.Errorf("Got(error code for %s) = %q; want States.Timeout", er.EntityID, er.Code)
		}
	}
	if len(o.reports) != st.Total {
		t.Errorf("Got(report files) = %d; want %d", len(o.reports), st.Total)
	}
	if _, err := e.store.Get(ctx, reportdoc.LatestKey); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Got(latest.json after a FAILED run) err %v; want none written", err)
	}
	// With no manifest at all there is nothing to record, and no error.
	if s, err := e.p.Store(ctx, State{RunID: "never-started", Error: st.Error}); err != nil || !s.Done {
		t.Errorf("Got(Store failure without manifest) = %+v, %v; want done", s, err)
	}
}

// TestStuckJob: a job that never finishes is started again once, then its
// entity fails with JobTimedOut; the run still ends.
func TestStuckJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) {
		o.IAM.Latency = func(int) time.Duration { return time.Hour }
	}})
	e.p.tune.jobTimeout = 100 * time.Millisecond
	ctx := testCtx(t)
	st := e.run(ctx, `{"entityPaths":["`+e.org.ID+"/"+e.org.Root.ID+`"]}`, "stuck")
	if st.Failed != 1 {
		t.Errorf("Got(state) = %+v; want the one entity failed", st)
	}
	root, _ := e.org.Node(e.org.Root.ID)
	e.verify(ctx, "stuck", map[scopeKey]orgmodel.Node{{root.ID, ""}: root}, map[scopeKey]string{{root.ID, ""}: "JobTimedOut"})
}

// TestLimitHeldByOthers: when another principal's job holds IAM's limit
// for longer than a job may take, the run gives up on what it could not
// start instead of waiting forever.
func TestLimitHeldByOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) {
		o.IAM.Latency = func(int) time.Duration { return time.Hour }
	}})
	e.p.tune.jobTimeout = 200 * time.Millisecond
	ctx := testCtx(t)
	// Someone else's long job holds the account's only slot.
	other, _ := e.pipeline(e.cfg, "test", "test")
	if _, err := other.reports.Generate(ctx, e.org.ID+"/"+e.org.Root.ID, ""); err != nil {
		t.Fatal(err)
	}
	ou, _ := e.org.Node(e.org.OUs[0].ID)
	st := e.run(ctx, `{"entityPaths":["`+ou.Path+`"]}`, "blocked")
	if st.Failed != 1 || st.Throttled == 0 {
		t.Errorf("Got(state) = %+v; want the entity failed after 409s", st)
	}
	e.verify(ctx, "blocked", map[scopeKey]orgmodel.Node{{ou.ID, ""}: ou}, map[scopeKey]string{{ou.ID, ""}: accessreport.CodeLimitExceeded})
}

// TestFailurePathStartsNothing: the failure path stores what completed
// but starts no job.
func TestFailurePathStartsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "stopping", Input: json.RawMessage(`{"includeAccounts":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	created := e.sim.IAM().Stats().JobsCreated
	st.Error = &StepError{Error: "States.TaskFailed", Cause: "boom"}
	if _, err := e.p.Store(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.IAM().Stats().JobsCreated; got != created {
		t.Errorf("Got(jobs created by the failure path) = %d; want 0", got-created)
	}
	o := e.outcome(ctx, "stopping")
	checkOutcome(ctx, t, e.store, "stopping")
	// Start starts no job (a job belongs to the step that starts it), so
	// every entity is reported failed.
	if o.summary.Status != reportdoc.RunFailed || o.summary.Entities.Succeeded != 0 || o.summary.Entities.Failed != st.Total || o.summary.Entities.Total != st.Total {
		t.Errorf("Got(summary) = %s %+v; want FAILED with every entity failed", o.summary.Status, o.summary.Entities)
	}
}

// TestStepFailedType: a step that cannot save reports a *StepFailed, the
// type name the state machine can retry by.
func TestStepFailedType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "cannot-save", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	faulty := &faultyStore{Store: e.store, prefix: "runs/", after: 0}
	p := New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: faulty, Now: e.p.now, Logger: e.p.log})
	_, err = p.Check(ctx, st)
	sf, ok := err.(*StepFailed)
	if !ok || sf.Step != "check" || sf.RunID != "cannot-save" || !errors.Is(err, errInjected) {
		t.Fatalf("Got(Check error) = %T %v; want *StepFailed wrapping the storage error", err, err)
	}
	if typ := reflect.TypeOf(err).Elem().Name(); typ != "StepFailed" {
		t.Errorf("Got(error type name) = %q; want StepFailed", typ)
	}
}

// TestWalkResumesAcrossStarts: with Start budgets far shorter than the
// walk of a throttled organization, each Start saves the walk's progress
// and returns walking, the next goes on from it, and the run's entity list
// is byte for byte that of an uninterrupted walk.
func TestWalkResumesAcrossStarts(t *testing.T) {
	t.Parallel()
	const input = `{"includeAccounts":true,"includePolicies":true}`
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 20, Accounts: 40, Depth: 4, Seed: 11})
	ctx := testCtx(t)

	whole := newEnv(t, envOptions{org: org})
	st := whole.start(ctx, whole.p, input, "whole")
	want := entityList(t, whole, st.RunID)

	slow := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) { o.OrgTPS = 40 }})
	starts := 0
	for {
		starts++
		// A Lambda deadline of 1.2 s: a budget of 0.6 s, most of it the walk's.
		short, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
		st, err := slow.p.Start(short, StartEvent{ExecutionName: "sliced", Input: json.RawMessage(input)})
		expired := short.Err()
		cancel()
		if err != nil || expired != nil {
			t.Fatalf("Start #%d = %v (deadline passed: %v); want a state before the deadline", starts, err, expired)
		}
		checkState(t, st)
		if !st.Walking {
			break
		}
		if st.WaitSeconds < 0 || st.WaitSeconds > 60 {
			t.Errorf("Got(waitSeconds) = %d; want 0..60", st.WaitSeconds)
		}
		if starts > 200 {
			t.Fatalf("walk not done after %d Starts: %+v", starts, st)
		}
	}
	if starts < 3 {
		t.Errorf("Got(Starts) = %d; want the walk spread over several", starts)
	}
	if got := entityList(t, slow, "sliced"); !bytes.Equal(got, want) {
		t.Errorf("Got(entities after %d Starts) =\n%s\nwant (one Start)\n%s", starts, got, want)
	}
	final := slow.drive(ctx, slow.p, State{RunID: "sliced", ManifestKey: reportdoc.ManifestKey("sliced")})
	if final.Failed != 0 || final.Completed != final.Total {
		t.Errorf("Got(run) = %+v; want every entity reported", final)
	}
	checkOutcome(ctx, t, slow.store, "sliced")
}

// entityList is the run's entities without their progress, as JSON.
func entityList(t *testing.T, e *env, runID string) []byte {
	t.Helper()
	m, err := manifest.Load(testCtx(t), e.store, runID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Walk != nil {
		t.Fatalf("run %s is still walking", runID)
	}
	type id struct{ ID, Type, Name, Path, PolicyID string }
	var out []id
	for _, en := range m.Entities {
		out = append(out, id{en.ID, en.Type, en.Name, en.Path, en.PolicyID})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWalkThrottledTooLong: a walk that meets nothing but throttling for
// longer than its limit fails with a message saying so, and keeps its
// progress for a later try.
func TestWalkThrottledTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.OrgTPS = 5 }})
	ctx := testCtx(t)
	const input = `{"includeAccounts":true}`
	short, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
	st, err := e.p.Start(short, StartEvent{ExecutionName: "starved", Input: json.RawMessage(input)})
	cancel()
	if err != nil || !st.Walking {
		t.Fatalf("Got(first Start) = %+v, %v; want a walk still going", st, err)
	}
	// The same organization served at one request a minute from here on.
	starved := newEnv(t, envOptions{org: e.org, sim: func(o *sim.Options) { o.OrgTPS = 1.0 / 60 }})
	p := New(e.cfg, Deps{Orgs: starved.p.walker.API, IAM: e.p.reports.API, Store: e.store, Now: e.p.now, Logger: e.p.log})
	p.walker.ThrottleLimit = 300 * time.Millisecond
	_, err = p.Start(ctx, StartEvent{ExecutionName: "starved", Input: json.RawMessage(input)})
	var tooLong *orgwalk.ThrottledTooLong
	if !errors.As(err, &tooLong) || !strings.Contains(err.Error(), "only throttling") {
		t.Fatalf("Got(Start) = %v; want the walk to fail after only throttling", err)
	}
	m, err := manifest.Load(ctx, e.store, "starved")
	if err != nil || m.Walk == nil {
		t.Errorf("Got(manifest) = %v; want the walk's progress kept", err)
	}
}

// TestStaleDigests: digests made with another service catalog (a deploy
// in the middle of a run) are recomputed from the stored reports.
func TestStaleDigests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	e.run(ctx, `{}`, "stale")
	m, err := manifest.Load(ctx, e.store, "stale")
	if err != nil {
		t.Fatal(err)
	}
	want := *m.Entities[0].Digest
	for i := range m.Entities {
		m.Entities[i].Digest.Catalog = "00000000"
	}
	if err := m.Save(ctx, e.store); err != nil {
		t.Fatal(err)
	}
	if st, err := e.p.Store(ctx, State{RunID: "stale"}); err != nil || !st.Done {
		t.Fatalf("Got(Store) = %+v, %v; want done", st, err)
	}
	o := e.verify(ctx, "stale", expectScope(e.org, false, false), nil)
	if got := *o.manifest.Entities[0].Digest; got != want {
		t.Errorf("Got(refreshed digest) = %+v; want %+v", got, want)
	}
}

// brokenIAM fails every Generate for one entity path with a server error.
type brokenIAM struct {
	accessreport.API
	path string
}

func (b brokenIAM) GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, opts ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error) {
	if aws.ToString(in.EntityPath) == b.path {
		return nil, &smithy.GenericAPIError{Code: "ServiceFailure", Message: "internal failure", Fault: smithy.FaultServer}
	}
	return b.API.GenerateOrganizationsAccessReport(ctx, in, opts...)
}

// TestPersistentServerErrors: an entity whose calls keep failing with
// server errors fails after a bounded number of rounds; the run ends.
func TestPersistentServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ou, _ := e.org.Node(e.org.OUs[1].ID)
	p := New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: brokenIAM{API: e.p.reports.API, path: ou.Path}, Store: e.store, Now: e.p.now, Logger: e.p.log})
	p.tune = e.p.tune
	p.tune.backoff = backoff.Policy{Base: time.Millisecond, Cap: 5 * time.Millisecond}
	p.reports.Backoff = backoff.Policy{Base: time.Millisecond, Cap: time.Millisecond}
	e.p = p
	ctx := testCtx(t)
	e.run(ctx, `{}`, "server-errors")
	e.verify(ctx, "server-errors", expectScope(e.org, false, false), map[scopeKey]string{{ou.ID, ""}: "ServiceFailure"})
}

// TestOrphanPartEmptied: a part file the manifest never recorded (left by
// an older version, which wrote a part before the save that recorded it,
// when it crashed between the two) holds no rows at the end.
func TestOrphanPartEmptied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	e.run(ctx, `{}`, "orphan")
	m, err := manifest.Load(ctx, e.store, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	orphan := reportdoc.AccessPartKey(m.StartedAt.Time, "orphan", m.NextPart+1)
	stray := athena.NewPart()
	if err := stray.Add([]athena.Row{{RunID: "orphan", EntityID: "r-stray", ServiceNamespace: "s3"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := stray.Bytes()
	if err := e.store.Put(ctx, orphan, b, athena.ContentType); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Store(ctx, State{RunID: "orphan"}); err != nil {
		t.Fatal(err)
	}
	e.verify(ctx, "orphan", expectScope(e.org, false, false), nil) // counts every row of every part
}

// TestReportRoleWithoutOrganizationsAccess: IAM accepts the jobs of a
// caller who may not read the organization and fails them with
// ORGANIZATIONS_REPORT_ACCESS_DENIED; every entity is reported failed with
// that code, the run ends.
func TestReportRoleWithoutOrganizationsAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) {
		o.Credentials = []sim.Credential{{AccessKeyID: "AKIANOORGS", SecretAccessKey: "s3cret",
			ARN: "arn:aws:iam::" + o.Org.ManagementAccountID + ":user/reports", NoOrganizationsAccess: true}}
	}})
	denied, _ := e.pipeline(e.cfg, "AKIANOORGS", "s3cret")
	p := New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: denied.reports.API, Store: e.store, Now: e.p.now, Logger: e.p.log})
	p.tune = e.p.tune
	e.p = p
	ctx := testCtx(t)
	st := e.run(ctx, `{}`, "no-org-access")
	scope := expectScope(e.org, false, false)
	failed := map[scopeKey]string{}
	for k := range scope {
		failed[k] = "ORGANIZATIONS_REPORT_ACCESS_DENIED"
	}
	if st.Failed != len(scope) {
		t.Errorf("Got(state) = %+v; want all %d failed", st, len(scope))
	}
	o := e.verify(ctx, "no-org-access", scope, failed)
	if o.summary.Status != reportdoc.RunFailed {
		t.Errorf("Got(status) = %s; want FAILED", o.summary.Status)
	}
}

// TestSessionOwnership runs the pipeline against IAM that lets only the
// credentials that created a job read it (the simulator's --job-owner
// session), through the report role, whose session every step renews:
// with faults, short pages, throttling and tiny budgets the run still
// completes, no job is read by another step's credentials, and no report
// is lost or duplicated.
func TestSessionOwnership(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sim    func(o *sim.Options)
		budget time.Duration
	}{
		{"plain", func(o *sim.Options) {}, 0},
		{"faults and short pages", func(o *sim.Options) {
			o.ErrorRate, o.ResetRate, o.IAM.ShortPageRate, o.IAMTPS = 0.05, 0.02, 0.5, 200
		}, 0},
		{"short steps", func(o *sim.Options) {}, 400 * time.Millisecond}, // jobs take 20-110 ms
		{"two jobs at once", func(o *sim.Options) { o.IAM.MaxJobs = 2 }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{sim: func(o *sim.Options) {
				o.IAM.JobOwner = iamreports.OwnerSession
				tc.sim(o)
			}})
			cfg := e.cfg
			cfg.ReportRoleARN, cfg.ReportRoleSession = "arn:aws:iam::"+e.org.ManagementAccountID+":role/OrgAuditReport", "orgaudit"
			if tc.budget > 0 {
				cfg.StepBudget = tc.budget
			}
			e.p, _ = e.pipeline(cfg, "test", "test")
			ctx := context.Background() // no deadline: the step budget applies
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if tc.budget > 0 {
				ctx = context.WithoutCancel(ctx)
			}
			input := `{"includeAccounts":true}`
			if tc.name == "two jobs at once" {
				input = `{"includeAccounts":true,"maxConcurrentJobs":2}`
			}
			e.run(ctx, input, "session")
			e.verify(ctx, "session", expectScope(e.org, true, false), nil)
			if st := e.sim.IAM().Stats(); st.JobsCreated < len(expectScope(e.org, true, false)) {
				t.Errorf("Got(jobs created) = %d; want at least one per entity", st.JobsCreated)
			}
		})
	}
}

// TestSessionOwnershipStepsShorterThanJobs: where every step ends before
// any job can finish, jobs of earlier steps cannot be read; each entity
// fails with JobNotFinished after a bounded number of jobs, and the run
// ends.
func TestSessionOwnershipStepsShorterThanJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.IAM.JobOwner = iamreports.OwnerSession }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "too-short", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.StepBudget = 10 * time.Millisecond // jobs take 20-110 ms
	// Through the report role: every step has a session of its own.
	cfg.ReportRoleARN = "arn:aws:iam::" + e.org.ManagementAccountID + ":role/OrgAuditReport"
	short, _ := e.pipeline(cfg, "test", "test")
	e.drive(context.WithoutCancel(ctx), short, st)
	scope := expectScope(e.org, false, false)
	failed := map[scopeKey]string{}
	for k := range scope {
		failed[k] = "JobNotFinished"
	}
	e.verify(ctx, "too-short", scope, failed)
}
