package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// orgFile is the simulated organization of every scenario: a root, six OUs
// three levels deep, ten accounts and five SCPs.
const orgFile = "testdata/org-small.json"

// runState is the payload between the states, as pipeline.State encodes
// it.
type runState struct {
	RunID       string `json:"runId"`
	ManifestKey string `json:"manifestKey"`
	Total       int    `json:"total"`
	Completed   int    `json:"completed"`
	Failed      int    `json:"failed"`
	Running     int    `json:"running"`
	Queued      int    `json:"queued"`
	Throttled   int    `json:"throttled"`
	WaitSeconds int    `json:"waitSeconds"`
	Done        bool   `json:"done"`
	// Walking is false once Start has walked the whole organization;
	// the walk's counts are absent then.
	Walking bool `json:"walking"`
}

// finalState is the State the last Store call returned.
func (st *stack) finalState(t *testing.T) runState {
	t.Helper()
	calls := st.front.invocations()
	store := st.functions["StoreFunction"].Name
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Function != store || calls[i].FunctionError != "" {
			continue
		}
		var s runState
		dec := json.NewDecoder(strings.NewReader(string(calls[i].Response)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("Store's result %s: %v", calls[i].Response, err)
		}
		return s
	}
	t.Fatalf("no successful Store call among %d invocations", len(calls))
	return runState{}
}

// verifyState checks the State the execution ended with.
func (st *stack) verifyState(t *testing.T, w want) runState {
	t.Helper()
	s := st.finalState(t)
	total := len(expectedScope(t, st.org, w.input))
	failed := 0
	for _, item := range expectedScope(t, st.org, w.input) {
		if w.failed[item.node.ID] {
			failed++
		}
	}
	wantState := runState{RunID: w.runID, ManifestKey: st.prefix + reportdoc.ManifestKey(w.runID), Total: total,
		Completed: total - failed, Failed: failed, Throttled: s.Throttled, WaitSeconds: s.WaitSeconds, Done: true}
	// The manifest key may be given relative to the prefix.
	if s.ManifestKey == reportdoc.ManifestKey(w.runID) {
		wantState.ManifestKey = s.ManifestKey
	}
	if s != wantState {
		t.Errorf("Got(final State) = %+v; want %+v", s, wantState)
	}
	return s
}

func unusedDefault(t *testing.T, st *stack) int {
	t.Helper()
	n, err := strconv.Atoi(st.unusedDays)
	if err != nil {
		t.Fatalf("UnusedDays default %q: %v", st.unusedDays, err)
	}
	return n
}

// TestNightlyRun is the scheduled execution: input {}, everything else from
// the function environment template.yaml sets (the root and every OU, no
// accounts, no policies, the default unused days).
func TestNightlyRun(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile})
	ex := st.execute(t, "3f1c0c52-2b7e-4d0a-9a51-7f0e0f6d1a11", `{}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	w := want{runID: ex.name, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestManualRunOneOU is a console execution restricted to one OU, with
// accounts and policies, its own run id and unused days.
func TestManualRunOneOU(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile})
	ou, ok := st.org.Node("ou-ab12-workload")
	if !ok {
		t.Fatalf("%s has no ou-ab12-workload", orgFile)
	}
	in := runInput{EntityPaths: []string{ou.Path}, IncludeAccounts: true, IncludePolicies: true}
	input, _ := json.Marshal(map[string]any{
		"runId": "manual-workloads", "entityPaths": in.EntityPaths,
		"includeAccounts": true, "includePolicies": true, "unusedDays": 30, "maxConcurrentJobs": 2,
	})
	ex := st.execute(t, "console-run-1", string(input))
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	w := want{runID: "manual-workloads", input: in, status: reportdoc.RunSucceeded, unusedDays: 30}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestRunWithFailedJobAndThrottling injects a report job that always fails
// and low IAM and Organizations request rates: the execution still succeeds,
// the failed entity is recorded, and the run is PARTIAL.
func TestRunWithFailedJobAndThrottling(t *testing.T) {
	const failing = "ou-ab12-sandbox1"
	st := deploy(t, stackOptions{orgFile: orgFile,
		simArgs: []string{"--fail-entity", failing, "--iam-tps", "10", "--org-tps", "4"}})
	ex := st.execute(t, "nightly-with-faults", `{"includeAccounts":true}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunPartial,
		failed: map[string]bool{failing: true}, unusedDays: unusedDefault(t, st)}
	s := st.verifyState(t, w)
	t.Logf("State.throttled = %d", s.Throttled)
	if s.Throttled == 0 {
		t.Errorf("Got(State.throttled) = 0; want > 0 with sim %s", strings.Join(st.simFlags, " "))
	}
	st.verifyRun(t, w)
}

// TestRunUnderSessionOwnership runs the stack against a simulator that
// lets only the credentials that created a report job read it (--job-owner
// session): every function assumes the report role afresh, so no step can
// read another's job. With a failing job and throttling the execution still
// succeeds, every entity once, the failed one recorded.
func TestRunUnderSessionOwnership(t *testing.T) {
	const failing = "ou-ab12-sandbox1"
	st := deploy(t, stackOptions{orgFile: orgFile,
		simArgs: []string{"--job-owner", "session", "--fail-entity", failing, "--iam-tps", "10", "--org-tps", "4"}})
	ex := st.execute(t, "nightly-session-owned", `{"includeAccounts":true}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunPartial,
		failed: map[string]bool{failing: true}, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestInvalidInputFailsAtStart: a bad execution input fails the execution
// at Start with InvalidInput naming the field, no step runs after Start, and
// nothing is written.
func TestInvalidInputFailsAtStart(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile})
	tests := []struct {
		name, input, field string
	}{
		{"unknown field", `{"includeAccount":true}`, "includeAccount"},
		{"unusedDays out of range", `{"unusedDays":0}`, "unusedDays"},
		{"unusedDays not a number", `{"unusedDays":"90"}`, "unusedDays"},
		{"runId leaving its folder", `{"runId":"../other"}`, "runId"},
		{"entity path of no entity", `{"entityPaths":["` + st.org.ID + `/` + st.org.Root.ID + `/ou-ab12-nosuchou"]}`, "entityPaths"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(st.front.invocations())
			ex := st.execute(t, "invalid-"+strconv.Itoa(i), tt.input)
			if ex.succeeded {
				t.Fatalf("Got(execution of %s) succeeded; want InvalidInput", tt.input)
			}
			if !strings.HasPrefix(ex.errorText, "InvalidInput: ") || !strings.Contains(ex.errorText, tt.field) {
				t.Errorf("Got(execution error) = %q; want InvalidInput naming %s", ex.errorText, tt.field)
			}
			calls := st.front.invocations()[before:]
			if len(calls) != 1 || calls[0].Function != st.functions["StartFunction"].Name || calls[0].FunctionError == "" {
				var names []string
				for _, c := range calls {
					names = append(names, c.Function)
				}
				t.Errorf("Got(invocations) = %v; want Start alone, failing", names)
			}
			if keys := st.bucketObjects(t); len(keys) != 0 {
				t.Errorf("Got(objects in s3://%s) = %q; want none", st.bucket, keys)
			}
		})
	}
}

// TestRunOnMotoS3 runs with S3 served by moto_server, an independent S3
// implementation, while Organizations, IAM and STS stay on the simulator:
// the functions reach it through AWS_ENDPOINT_URL_S3. The stack is deployed
// with parameters (IncludeAccounts, Prefix) so that the nightly input {}
// takes its defaults from the function environment they set.
func TestRunOnMotoS3(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, motoS3: true,
		params: map[string]string{"IncludeAccounts": "true", "Prefix": "audit/nightly/"}})
	if st.prefix != "audit/nightly/" {
		t.Fatalf("Got(prefix) = %q; want the Prefix parameter", st.prefix)
	}
	ex := st.execute(t, "nightly-on-moto", `{}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestStepsBoundedByShortTimeouts gives Check and Store a 2-second Lambda
// timeout and slower report jobs: each step stops at its budget, saves the
// manifest and returns, so the run goes round the Wait/Check/Store loop
// several times and resumes from the manifest each time.
func TestStepsBoundedByShortTimeouts(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, timeScale: "0.1",
		timeouts: map[string]string{"CheckFunction": "2", "StoreFunction": "2"}})
	ex := st.execute(t, "short-timeouts", `{"includeAccounts":true}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	checks := 0
	for _, c := range st.front.invocations() {
		if c.FunctionError != "" {
			t.Errorf("Got(%s) error %s; want every step to return within its timeout", c.Function, c.Response)
		}
		if c.Function == st.functions["CheckFunction"].Name {
			checks++
		}
	}
	t.Logf("%d Check invocations", checks)
	if checks < 2 {
		t.Errorf("Got(Check invocations) = %d; want several: one step cannot finish the run in its budget", checks)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestCrashedCheckIsRetried kills the Check function's runtime in the middle
// of its first invocation: Lambda reports Runtime.ExitError, the state
// machine retries Check, the retry resumes from the manifest, and the run
// ends with every report stored exactly once.
func TestCrashedCheckIsRetried(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, timeScale: "0.1"})
	check := st.functions["CheckFunction"].Name
	killed := make(chan []int, 1)
	st.front.before = func(function string, n int) {
		if function != check || n != 1 {
			return
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			killed <- killRuntime(st.emulators["CheckFunction"])
		}()
	}
	ex := st.execute(t, "crashed-check", `{"includeAccounts":true}`)
	if kids := <-killed; len(kids) == 0 {
		t.Fatal("Got(no runtime process under the Check emulator); want one to kill")
	}
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success after a retry\n%s", ex.errorText, ex.output)
	}
	var checks []invocation
	for _, c := range st.front.invocations() {
		if c.Function == check {
			checks = append(checks, c)
		}
	}
	if len(checks) < 2 || checks[0].FunctionError == "" || !strings.Contains(string(checks[0].Response), `"errorType":"Runtime.ExitError"`) {
		t.Fatalf("Got(Check invocations) = %+v; want a Runtime.ExitError, then a retry", checks)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestCrashedStartResumesTheWalk serves the organization at 8
// Organizations requests a second and gives Start a 2-second timeout, so
// the walk spans several Start invocations (the Walk loop), and kills
// Start's runtime in the middle of one: Lambda reports Runtime.ExitError,
// the state machine retries, the retry goes on from the walk's last saved
// page, and the run audits exactly the organization's entities.
func TestCrashedStartResumesTheWalk(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, simArgs: []string{"--org-tps", "8"},
		timeouts: map[string]string{"StartFunction": "2"}})
	start := st.functions["StartFunction"].Name
	killed := make(chan []int, 1)
	st.front.before = func(function string, n int) {
		if function != start || n != 2 {
			return
		}
		go func() {
			time.Sleep(500 * time.Millisecond)
			killed <- killRuntime(st.emulators["StartFunction"])
		}()
	}
	ex := st.execute(t, "crashed-start", `{"includeAccounts":true}`)
	if kids := <-killed; len(kids) == 0 {
		t.Fatal("Got(no runtime process under the Start emulator); want one to kill")
	}
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success after a retry\n%s", ex.errorText, ex.output)
	}
	var starts []invocation
	crashed := false
	for _, c := range st.front.invocations() {
		if c.Function != start {
			continue
		}
		starts = append(starts, c)
		crashed = crashed || strings.Contains(string(c.Response), `"errorType":"Runtime.ExitError"`)
	}
	if len(starts) < 4 || !crashed {
		t.Fatalf("Got(%d Start invocations, a crash: %v); want the walk over several, one of them killed", len(starts), crashed)
	}
	walking := 0
	for _, c := range starts {
		if strings.Contains(string(c.Response), `"walking":true`) {
			walking++
		}
	}
	if walking < 2 {
		t.Errorf("Got(%d Start answers walking); want several", walking)
	}
	w := want{runID: ex.name, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestCrashedStoreIsRetried kills the Store function's runtime in the
// middle of the last Store, while it writes the run's documents:
// findings.json and report.html are in S3, and summary.json is held by the
// proxy in front of S3 until the runtime is dead, then dropped. Lambda
// reports Runtime.ExitError, the state machine retries Store, the retry
// writes the documents again from the manifest, the same bytes, and the run
// ends with every report stored exactly once.
func TestCrashedStoreIsRetried(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, s3Faults: true})
	const runID = "crashed-store"
	store := st.functions["StoreFunction"].Name
	runDir := st.prefix + reportdoc.RunDir(runID)
	// Check writes to S3 too (the reports it stores while it waits): only
	// a write made while Store runs may crash it.
	var storing atomic.Bool
	st.front.before = func(function string, n int) { storing.Store(function == store) }
	type crash struct {
		killed  []int
		written map[string][]byte // the run's objects at the crash
		err     error
	}
	crashed := make(chan crash, 1)
	var once sync.Once
	st.faults.beforePut = func(key string) bool {
		if !storing.Load() || key != st.prefix+reportdoc.SummaryKey(runID) {
			return false
		}
		drop := false
		once.Do(func() {
			c := crash{killed: killRuntime(st.emulators["StoreFunction"])}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.written, c.err = st.readObjects(ctx, runDir)
			crashed <- c
			drop = true
		})
		return drop
	}
	ex := st.execute(t, runID, `{"includeAccounts":true}`)
	var c crash
	select {
	case c = <-crashed:
	default:
		t.Fatalf("Got(no write of summary.json while Store ran); want one to crash Store on\n%s", ex.output)
	}
	if len(c.killed) == 0 {
		t.Fatal("Got(no runtime process under the Store emulator); want one to kill")
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success after a retry\n%s", ex.errorText, ex.output)
	}
	var stores []invocation
	crashedAt := -1
	for _, call := range st.front.invocations() {
		if call.Function != store {
			continue
		}
		if call.FunctionError != "" && crashedAt < 0 {
			crashedAt = len(stores)
		}
		stores = append(stores, call)
	}
	if crashedAt < 0 || !strings.Contains(string(stores[crashedAt].Response), `"errorType":"Runtime.ExitError"`) ||
		crashedAt == len(stores)-1 || stores[len(stores)-1].FunctionError != "" {
		t.Fatalf("Got(Store invocations) = %+v; want a Runtime.ExitError, then a retry that succeeds", stores)
	}
	t.Logf("killed Store's runtime %v at its write of summary.json: %s", c.killed, stores[crashedAt].Response)
	// The crash came after findings.json and report.html were written; the
	// retry wrote them again from the manifest.
	for _, name := range []string{"findings.json", "report.html"} {
		key := runDir + name
		before, ok := c.written[key]
		if !ok {
			t.Errorf("Got(%s) absent at the crash; want it written before summary.json", key)
			continue
		}
		if after := st.get(t, key); !bytes.Equal(after, before) {
			t.Errorf("Got(%s after the retry) = %d bytes, not those the crashed Store wrote (%d); want the same document", key, len(after), len(before))
		}
	}
	if _, ok := c.written[st.prefix+reportdoc.SummaryKey(runID)]; ok {
		t.Errorf("Got(summary.json) present at the crash; want its first write dropped")
	}
	w := want{runID: runID, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// TestFailedStepIsRecorded makes S3 refuse the manifest writes of Check: the
// step fails, is retried and fails again, the state machine's Catch hands the
// error (through Caught, which notes the redrive count) to RecordFailure,
// which writes the summary with status FAILED and every entity in it, and the
// AuditFailed task (the Start function) fails the execution with AuditFailed
// carrying the step's error.
func TestFailedStepIsRecorded(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, s3Faults: true})
	st.refuseCheckManifestWrites()
	check, store := st.functions["CheckFunction"].Name, st.functions["StoreFunction"].Name
	ex := st.execute(t, "failed-step", `{}`)
	if ex.succeeded {
		t.Fatalf("Got(execution) succeeded; want AuditFailed\n%s", ex.output)
	}
	if st.faults.failed.Load() == 0 {
		t.Fatal("Got(no manifest write refused); want Check's writes refused")
	}
	calls := st.front.invocations()
	var checkErr struct{ ErrorType, ErrorMessage string }
	var names []string
	for _, c := range calls {
		names = append(names, c.Function)
		if c.Function == check && c.FunctionError != "" { // the last failure is the one caught
			if err := json.Unmarshal(c.Response, &checkErr); err != nil {
				t.Fatal(err)
			}
		}
	}
	// StepFailed is retried twice (the definition's third retrier) before
	// the Catch: a persistent failure still ends in RecordFailure.
	start := st.functions["StartFunction"].Name
	wantNames := []string{start, check, check, check, store, start}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") || checkErr.ErrorType != "StepFailed" {
		t.Fatalf("Got(invocations) = %v, Check error %+v; want Start, a Check failing with StepFailed three times, RecordFailure (Store), AuditFailed (Start)", names, checkErr)
	}
	// local-sfn reports a failed task as "<errorType>: <errorMessage>":
	// AuditFailed, with the caught error (local-sfn's Cause of a Lambda
	// error is "<errorType>: <errorMessage>"; Step Functions' is the JSON
	// error object, of which the function takes the message).
	if want := "AuditFailed: " + checkErr.ErrorType + ": " + checkErr.ErrorMessage; ex.errorText != want {
		t.Errorf("Got(execution error) = %q; want %q", ex.errorText, want)
	}
	var recorded map[string]json.RawMessage
	recordFailure := calls[len(calls)-2]
	if err := json.Unmarshal(recordFailure.Payload, &recorded); err != nil || recorded["error"] == nil || string(recorded["caught"]) != `{"redriveCount":0}` {
		t.Fatalf("Got(RecordFailure event) = %s; want the State with the error under \"error\" and the redrive count 0 under \"caught\"", recordFailure.Payload)
	}
	if end := calls[len(calls)-1]; end.FunctionError == "" || !strings.Contains(string(end.Response), `"errorType":"AuditFailed"`) {
		t.Errorf("Got(AuditFailed answer) = %s; want the function error AuditFailed", end.Response)
	}
	// No manifest write of Check got through, so the run knows only what
	// Start wrote: RecordFailure may still store the reports of the jobs
	// Start had started, if they completed; every other entity fails with
	// the step's error.
	var started runState
	if err := json.Unmarshal(calls[0].Response, &started); err != nil {
		t.Fatal(err)
	}
	var sum reportdoc.Summary
	if err := json.Unmarshal(st.get(t, st.prefix+reportdoc.SummaryKey(ex.name)), &sum); err != nil {
		t.Fatalf("summary: %v", err)
	}
	failed := map[string]bool{}
	completed := 0
	for _, l := range sum.Reports {
		if l.Status == reportdoc.StatusFailed {
			failed[l.EntityID] = true
		} else {
			completed++
		}
	}
	if completed > started.Running {
		t.Errorf("Got(completed reports of the failed run) = %d; want at most the %d job(s) Start started", completed, started.Running)
	}
	w := want{runID: ex.name, status: reportdoc.RunFailed, failed: failed, failCode: checkErr.ErrorType, unusedDays: unusedDefault(t, st)}
	st.verifyRun(t, w)
}

// failedRun is what failAfterSomeReports left.
type failedRun struct {
	ex execution
	// completed holds the COMPLETED reports after the failure, by key.
	completed map[string][]byte
	summary   reportdoc.Summary
	objects   map[string][]byte // every object of the run
}

// failAfterSomeReports runs an execution called runID with input {} that
// fails after some of its reports are stored. Check must have a short
// timeout, so that the run takes several Check/Store rounds; S3 (the
// stack's s3Faults proxy) refuses Check's manifest writes from the first
// Check after a Store once some reports are stored (Check stores the
// reports of its own jobs), so the reports stored until then are recorded,
// and the rest fail through RecordFailure. It checks the failure and that
// every report stored before it survived it, then disarms the faults.
func (st *stack) failAfterSomeReports(t *testing.T, runID string) failedRun {
	t.Helper()
	check, store := st.functions["CheckFunction"].Name, st.functions["StoreFunction"].Name
	reportsDir := st.prefix + reportdoc.RunDir(runID) + "reports/"
	var (
		mu sync.Mutex
		// The reports in S3 when the faults were armed.
		beforeFailure map[string][]byte
		snapshotErr   error
	)
	st.front.before = func(function string, n int) {
		switch function {
		case check:
			stored := false
			for _, c := range st.front.invocations() {
				stored = stored || (c.Function == store && c.FunctionError == "")
			}
			mu.Lock()
			defer mu.Unlock()
			if stored && beforeFailure == nil && snapshotErr == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				objects, err := st.readObjects(ctx, reportsDir)
				if err != nil || len(objects) > 0 {
					beforeFailure, snapshotErr = objects, err
					st.faults.armed.Store(true)
				}
			}
		case store:
			st.faults.armed.Store(false)
		}
	}
	first := st.execute(t, runID, `{}`)
	st.front.before = nil
	st.faults.armed.Store(false)
	if first.succeeded {
		t.Fatalf("Got(first execution) succeeded; want AuditFailed\n%s", first.output)
	}
	mu.Lock()
	storedBefore, err := beforeFailure, snapshotErr
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if st.faults.failed.Load() == 0 {
		t.Fatal("Got(no manifest write refused); want Check's writes refused")
	}
	if len(storedBefore) == 0 {
		t.Fatal("Got(no report stored before the failure); want some, so that the re-drive has work to keep")
	}
	if slices.Contains(st.bucketObjects(t), st.prefix+reportdoc.LatestKey) {
		t.Fatal("Got(latest.json) after the failed execution; want none: no run of this stack has finished")
	}
	fr := failedRun{ex: first, completed: map[string][]byte{}}
	if err := json.Unmarshal(st.get(t, st.prefix+reportdoc.SummaryKey(runID)), &fr.summary); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if fr.summary.Status != reportdoc.RunFailed || fr.summary.Entities.Failed == 0 || fr.summary.Entities.Succeeded == 0 {
		t.Fatalf("Got(summary of the failed execution) = {%s %+v}; want FAILED with some reports completed and some failed",
			fr.summary.Status, fr.summary.Entities)
	}
	// What the failed execution left: the reports it completed must
	// survive the re-drive as they are.
	fr.objects = st.runObjects(t, runID)
	for key, b := range fr.objects {
		if !strings.HasPrefix(key, reportsDir) {
			continue
		}
		var r reportdoc.EntityReport
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if r.Job.Status == reportdoc.StatusCompleted {
			fr.completed[key] = b
		}
	}
	for key, b := range storedBefore {
		if !bytes.Equal(fr.completed[key], b) {
			t.Errorf("Got(%s after the failed execution) changed or not COMPLETED; want the report stored before the failure", key)
		}
	}
	t.Logf("stored before the failure: %d reports; COMPLETED after it: %d of %d", len(storedBefore), len(fr.completed), fr.summary.Entities.Total)
	return fr
}

// verifyResumed checks a failed run after it resumed and finished: every
// entity once, SUCCEEDED, latest.json on it (verifyRun), the same run (its
// startedAt), and every report that was COMPLETED after the failure still
// the same bytes.
func (st *stack) verifyResumed(t *testing.T, runID string, fr failedRun) {
	t.Helper()
	w := want{runID: runID, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
	after := st.runObjects(t, runID)
	for key, b := range fr.completed {
		if !bytes.Equal(after[key], b) {
			t.Errorf("Got(%s after the re-drive) = %d bytes, not the %d the failed execution completed; want it kept as it was", key, len(after[key]), len(b))
		}
	}
	var sum reportdoc.Summary
	if err := json.Unmarshal(after[st.prefix+reportdoc.SummaryKey(runID)], &sum); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if sum.StartedAt == nil || fr.summary.StartedAt == nil || !sum.StartedAt.Equal(fr.summary.StartedAt.Time) {
		t.Errorf("Got(startedAt after the re-drive) = %v; want the failed run's %v", sum.StartedAt, fr.summary.StartedAt)
	}
	rewritten := 0
	for key, b := range fr.objects {
		if !bytes.Equal(after[key], b) {
			rewritten++
		}
	}
	t.Logf("the re-drive rewrote %d of the %d objects the failed execution left, none of its %d completed reports", rewritten, len(fr.objects), len(fr.completed))
}

// TestFailedRunIsRedriven fails the nightly run after some of its reports
// are stored, then starts a second execution with {"runId": <the failed
// execution's name>}, as `orgaudit start --resume` does. The second
// execution must resume that run: every entity once, SUCCEEDED,
// latest.json on it, and every report that was COMPLETED after the failure
// still the same bytes.
func TestFailedRunIsRedriven(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, s3Faults: true, timeScale: "0.2",
		timeouts: map[string]string{"CheckFunction": "2"}})
	const runID = "nightly-failed"
	fr := st.failAfterSomeReports(t, runID)
	ex := st.execute(t, "nightly-failed-redrive", `{"runId":"`+runID+`"}`)
	if !ex.succeeded {
		t.Fatalf("Got(re-driven execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	st.verifyResumed(t, runID, fr)
}

// TestRedriveExecutionResumesTheRun fails the nightly run after some of its
// reports are stored, so that it ends at the AuditFailed task, then stands
// in for the console's Redrive (RedriveExecution, which aws-local-stepfunctions
// does not have): the committed definition runs from AuditFailed, the
// state that failed, with the input that state had (the Start function's
// event holds it whole, as failedState), under the same name and ARN, with
// the context object's RedriveCount at 1. The AuditFailed task must resume
// the run, and the execution go on through the loop to SUCCEEDED: every
// entity once, every report COMPLETED before the redrive byte-identical.
func TestRedriveExecutionResumesTheRun(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: orgFile, s3Faults: true, timeScale: "0.2",
		timeouts: map[string]string{"CheckFunction": "2"}})
	const runID = "nightly-redriven"
	startFn := st.functions["StartFunction"].Name
	fr := st.failAfterSomeReports(t, runID)
	if !strings.HasPrefix(fr.ex.errorText, "AuditFailed: StepFailed: ") {
		t.Errorf("Got(execution error) = %q; want AuditFailed with the caught StepFailed", fr.ex.errorText)
	}
	calls := st.front.invocations()
	end := calls[len(calls)-1]
	var event struct {
		RedriveCount *int            `json:"redriveCount"`
		FailedState  json.RawMessage `json:"failedState"`
	}
	if err := json.Unmarshal(end.Payload, &event); err != nil || end.Function != startFn || event.RedriveCount == nil || *event.RedriveCount != 0 || event.FailedState == nil {
		t.Fatalf("Got(last invocation) %s %s; want the AuditFailed task's event to the Start function, redriveCount 0, with the failed State", end.Function, end.Payload)
	}
	var failed struct {
		RunID  string         `json:"runId"`
		Error  map[string]any `json:"error"`
		Caught map[string]any `json:"caught"`
	}
	if err := json.Unmarshal(event.FailedState, &failed); err != nil || failed.RunID != runID || failed.Error == nil || failed.Caught["redriveCount"] != float64(0) {
		t.Fatalf("Got(AuditFailed's input) = %s; want the run's State with the error and caught.redriveCount 0", event.FailedState)
	}
	if !strings.Contains(string(end.Response), `"errorType":"AuditFailed"`) {
		t.Errorf("Got(AuditFailed answer) = %s; want the function error AuditFailed", end.Response)
	}

	before := len(calls)
	ex := st.redrive(t, runID, "AuditFailed", string(event.FailedState))
	if !ex.succeeded {
		t.Fatalf("Got(redriven execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	redriven := st.front.invocations()[before:]
	var again struct {
		RedriveCount *int            `json:"redriveCount"`
		FailedState  json.RawMessage `json:"failedState"`
	}
	if len(redriven) == 0 || redriven[0].Function != startFn || json.Unmarshal(redriven[0].Payload, &again) != nil ||
		again.RedriveCount == nil || *again.RedriveCount != 1 || canonicalJSON(t, again.FailedState) != canonicalJSON(t, event.FailedState) || redriven[0].FunctionError != "" {
		t.Fatalf("Got(first call of the redrive) %+v; want the AuditFailed task again, redriveCount 1, the same failed State, answered with a State", redriven)
	}
	st.verifyResumed(t, runID, fr)
	if e, err := st.states.describeExecution(st.states.execs[len(st.states.execs)-1].arn); err != nil || e.(map[string]any)["status"] != "SUCCEEDED" {
		t.Errorf("Got(execution after the redrive) = %v, %v; want SUCCEEDED", e, err)
	}
}

// canonicalJSON is b re-encoded with sorted keys.
func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return canonical(t, v)
}

// runObjects returns every object of a run: its folder and its Athena
// parts.
func (st *stack) runObjects(t *testing.T, runID string) map[string][]byte {
	t.Helper()
	all, err := st.readObjects(context.Background(), st.prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for key, b := range all {
		if strings.HasPrefix(key, st.prefix+reportdoc.RunDir(runID)) ||
			(strings.HasPrefix(key, st.prefix+"access/") && strings.Contains(key, "/run="+runID+"/")) {
			out[key] = b
		}
	}
	return out
}

// TestBudgetEndsMidRun: a run whose time budget (maxRunMinutes) ends
// before its jobs do ends SUCCEEDED as an execution, not timed out, with
// summary, findings and report.html written: the run is PARTIAL, the
// entities whose jobs did not fit end BudgetExhausted, every entity once.
// The next run, with the same budget, carries the first run's account
// reports (nothing was used in between) and refreshes first the accounts
// the first run could not reach.
func TestBudgetEndsMidRun(t *testing.T) {
	// Report jobs 10x slower (about half a second each, one at a time):
	// a budget of 6 s holds the root's and OUs' jobs and some accounts',
	// not all 17.
	st := deploy(t, stackOptions{orgFile: orgFile, timeScale: "0.1"})
	const input = `{"includeAccounts":true,"maxRunMinutes":0.1}`
	in := runInput{IncludeAccounts: true}
	ex := st.execute(t, "night-short-1", input)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	first := st.summaryOf(t, ex.name)
	exhausted := map[string]bool{}
	for _, e := range first.Errors {
		exhausted[e.EntityID] = true
	}
	t.Logf("first night: took %s, %d of %d entities without a report", ex.took.Round(time.Millisecond), len(exhausted), first.Entities.Total)
	if len(exhausted) == 0 || first.Entities.Succeeded == 0 {
		t.Fatalf("Got(%d entities BudgetExhausted, %d succeeded); want the budget to end mid-run", len(exhausted), first.Entities.Succeeded)
	}
	w := want{runID: ex.name, input: in, status: reportdoc.RunPartial, failed: exhausted, failCode: "BudgetExhausted", unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)

	ex = st.execute(t, "night-short-2", input)
	if !ex.succeeded {
		t.Fatalf("Got(second execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	second := st.summaryOf(t, ex.name)
	t.Logf("second night: took %s, freshness %+v, jobs %+v", ex.took.Round(time.Millisecond), second.Freshness, second.Jobs)
	lines := map[string]reportdoc.SummaryReport{}
	for _, l := range second.Reports {
		lines[l.EntityID] = l
	}
	for _, a := range st.org.Accounts {
		l := lines[a.ID]
		switch {
		case !exhausted[a.ID] && a.ID != st.org.ManagementAccountID:
			// Reported the first night and not used since: carried.
			if l.Freshness != reportdoc.Unchanged {
				t.Errorf("Got(%s the second night) %s %q; want unchanged: reported the first night", a.ID, l.Status, l.Freshness)
			}
		case exhausted[a.ID] && l.Freshness != "" && l.Freshness != reportdoc.Fresh:
			t.Errorf("Got(%s the second night) %q; want fresh or BudgetExhausted: the first night had no report of it", a.ID, l.Freshness)
		}
	}
	if second.Jobs.Root != 1 || second.Jobs.OUs != len(st.org.OUs) || second.Jobs.Accounts > len(exhausted)+1 {
		t.Errorf("Got(second night's jobs) = %+v; want the root, %d OUs and at most the %d accounts the first night missed and the management account", second.Jobs, len(st.org.OUs), len(exhausted))
	}
	failed := map[string]bool{}
	for _, e := range second.Errors {
		failed[e.EntityID] = true
	}
	status := reportdoc.RunSucceeded
	if len(failed) > 0 {
		status = reportdoc.RunPartial
	}
	w = want{runID: ex.name, input: in, status: status, failed: failed, failCode: "BudgetExhausted", unusedDays: unusedDefault(t, st)}
	st.verifyState(t, w)
	st.verifyRun(t, w)
}

// summaryOf reads a run's summary.json.
func (st *stack) summaryOf(t *testing.T, runID string) *reportdoc.Summary {
	t.Helper()
	var sum reportdoc.Summary
	if err := json.Unmarshal(st.get(t, st.prefix+reportdoc.SummaryKey(runID)), &sum); err != nil {
		t.Fatalf("summary of %s: %v", runID, err)
	}
	return &sum
}
