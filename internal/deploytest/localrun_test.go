package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// These tests run the real definition on aws-local-stepfunctions (local-sfn)
// with its Lambda client pointed at a fake Lambda Invoke API, so the loop,
// the retries and the failure path run as Step Functions would run them, with
// function errors named by their errorType as in AWS.

// call is one invocation the fake Lambda received.
type call struct {
	function string // StartFunction, CheckFunction or StoreFunction
	payload  map[string]any
}

// reply is a fake function's answer: a result, or an error of a type.
type reply struct {
	result  any
	errType string
	errMsg  string
}

// fakeLambda serves the Lambda Invoke API and records every call.
type fakeLambda struct {
	mu     sync.Mutex
	calls  []call
	handle func(function string, payload map[string]any, n int) reply
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// POST /2015-03-31/functions/<escaped ARN>/invocations
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	arn, err := url.PathUnescape(strings.TrimSuffix(p, "/invocations"))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "not an Invoke request", http.StatusBadRequest)
		return
	}
	function := strings.TrimPrefix(arn[strings.LastIndex(arn, ":")+1:], "orgaudit-")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{function, payload})
	n := 0
	for _, c := range f.calls {
		if c.function == function {
			n++
		}
	}
	f.mu.Unlock()

	rep := f.handle(function, payload, n)
	w.Header().Set("Content-Type", "application/json")
	if rep.errType != "" {
		// How Lambda answers a function error on a synchronous invoke.
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		json.NewEncoder(w).Encode(map[string]string{"errorType": rep.errType, "errorMessage": rep.errMsg})
		return
	}
	json.NewEncoder(w).Encode(rep.result)
}

func (f *fakeLambda) sequence() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		name := strings.TrimSuffix(c.function, "Function")
		if _, failed := c.payload["error"]; failed {
			name = "RecordFailure"
		}
		if _, failed := c.payload["failedState"]; failed {
			name = "AuditFailed"
		}
		out = append(out, name)
	}
	return out
}

// The context object's ARNs of the local execution.
const (
	localStateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orgaudit-auditor"
	localExecutionARN    = "arn:aws:states:us-east-1:123456789012:execution:orgaudit-auditor:exec-1"
)

// runLocal runs one execution of the deployed definition with input on
// local-sfn, answering Task invocations with f. It returns what local-sfn
// printed and its exit code (0 succeeded, 2 the execution failed).
func runLocal(t *testing.T, f *fakeLambda, input string) (string, int) {
	t.Helper()
	return runLocalFrom(t, f, input, "", 0)
}

// runLocalFrom is runLocal starting at state (the definition's StartAt
// when empty) with the context object's Execution.RedriveCount set to
// redrives: with the failed state and its input, what a RedriveExecution
// runs.
func runLocalFrom(t *testing.T, f *fakeLambda, input, state string, redrives int) (string, int) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(repoRoot, "node_modules", ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	requireTool(t, filepath.Join(bin, "node"), "run npm ci in the repository root (package.json pins Node 22)")
	localSFN := requireTool(t, filepath.Join(bin, "local-sfn"), "run npm ci in the repository root")

	rendered, err := RenderDefinition(readDefinition(t), fakeARNs())
	if err != nil {
		t.Fatal(err)
	}
	if state != "" {
		if rendered, err = RedriveDefinition(rendered, state); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	defPath := filepath.Join(dir, "auditor.json")
	if err := os.WriteFile(defPath, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	args := []string{"-f", defPath,
		"--context", fmt.Sprintf(`{"Execution":{"Name":"exec-1","Id":%q,"RedriveCount":%d},"StateMachine":{"Id":%q}}`, localExecutionARN, redrives, localStateMachineARN),
		// Waits and retry pauses take no time here; their lengths are not
		// what these tests are about.
		"-w", "Wait:0", "-r", "Start:0", "-r", "Check:0", "-r", "Store:0", "-r", "RecordFailure:0", "-r", "AuditFailed:0"}
	if state != "" {
		// Started elsewhere than StartAt, the definition has states no
		// transition reaches (Start), which local-sfn's checks refuse; the
		// definition is the committed one, which every other run checks.
		args = append(args, "--no-validation")
	}
	cmd := exec.Command(localSFN, args...)
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AWS_ENDPOINT_URL_LAMBDA="+srv.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
	)
	// local-sfn reads its inputs from stdin whenever stdin is not a terminal.
	cmd.Stdin = strings.NewReader(input + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run local-sfn: %v", err)
		}
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// simulatedRun answers like the real steps for a run of total entities:
// Check completes one per call, Store reports done when all are complete.
// The Start function as the AuditFailed task fails with AuditFailed and the
// caught cause, unless the redrive count has grown since the error was
// caught; then it resumes the run: the State as it was, without the
// failure path's fields.
func simulatedRun(total int) func(string, map[string]any, int) reply {
	return func(function string, p map[string]any, n int) reply {
		if failed, ok := p["failedState"].(map[string]any); ok {
			caught, _ := failed["caught"].(map[string]any)
			if caught != nil && p["redriveCount"].(float64) > caught["redriveCount"].(float64) {
				s := copyState(failed)
				delete(s, "error")
				delete(s, "caught")
				delete(s, "recordError")
				s["waitSeconds"] = 0
				return reply{result: s}
			}
			errObj, _ := failed["error"].(map[string]any)
			return reply{errType: "AuditFailed", errMsg: fmt.Sprint(errObj["Cause"])}
		}
		switch function {
		case "StartFunction":
			return reply{result: map[string]any{
				"runId": p["executionName"], "manifestKey": fmt.Sprintf("orgaudit/runs/%v/manifest.json", p["executionName"]),
				"total": total, "completed": 0, "failed": 0, "running": 1, "queued": total - 1,
				"waitSeconds": 5, "done": false,
			}}
		case "CheckFunction":
			s := copyState(p)
			s["completed"] = s["completed"].(float64) + 1
			s["waitSeconds"] = 0
			return reply{result: s}
		default:
			s := copyState(p)
			if _, failed := s["error"]; failed {
				delete(s, "error")
			}
			s["done"] = s["completed"].(float64) >= s["total"].(float64)
			return reply{result: s}
		}
	}
}

func copyState(p map[string]any) map[string]any {
	s := make(map[string]any, len(p))
	for k, v := range p {
		s[k] = v
	}
	return s
}

func TestLocalRunLoopsUntilDone(t *testing.T) {
	f := &fakeLambda{handle: simulatedRun(3)}
	out, code := runLocal(t, f, `{"includeAccounts":true}`)
	if code != 0 {
		t.Fatalf("Got(exit) = %d; want 0\n%s", code, out)
	}
	want := []string{"Start", "Check", "Store", "Check", "Store", "Check", "Store"}
	if got := f.sequence(); canon(got) != canon(want) {
		t.Fatalf("Got(calls) = %v; want %v", got, want)
	}
	start := f.calls[0].payload
	wantStart := map[string]any{"executionName": "exec-1", "input": map[string]any{"includeAccounts": true},
		"stateMachineArn": localStateMachineARN, "executionArn": localExecutionARN}
	if canon(start) != canon(wantStart) {
		t.Errorf("Got(Start event) = %s; want %s", canon(start), canon(wantStart))
	}
	// Every step receives exactly what the step before it returned.
	for i := 1; i < len(f.calls); i++ {
		prev := simulatedRun(3)(f.calls[i-1].function, f.calls[i-1].payload, 0).result
		if canon(f.calls[i].payload) != canon(prev) {
			t.Errorf("Got(event %d to %s) = %s; want the previous result %s", i, f.calls[i].function, canon(f.calls[i].payload), canon(prev))
		}
	}
	if !strings.Contains(out, "done: true") {
		t.Errorf("Got(output) = %q; want the final State with done: true", out)
	}
}

func TestLocalRunInvalidInputFailsAtStart(t *testing.T) {
	f := &fakeLambda{handle: func(function string, p map[string]any, n int) reply {
		return reply{errType: "InvalidInput", errMsg: `unknown field "bogus"`}
	}}
	out, code := runLocal(t, f, `{"bogus":1}`)
	if code != 2 || !strings.Contains(out, `InvalidInput: unknown field "bogus"`) {
		t.Errorf("Got(exit, output) = (%d, %q); want (2, the InvalidInput error)", code, out)
	}
	if got := f.sequence(); canon(got) != canon([]string{"Start"}) {
		t.Errorf("Got(calls) = %v; want [Start]: no retry, no summary", got)
	}
}

func TestLocalRunAlreadyRunningFailsAtStart(t *testing.T) {
	f := &fakeLambda{handle: func(function string, p map[string]any, n int) reply {
		return reply{errType: "AlreadyRunning", errMsg: "run nightly is still running"}
	}}
	out, code := runLocal(t, f, `{}`)
	if code != 2 || !strings.Contains(out, "AlreadyRunning: run nightly is still running") {
		t.Errorf("Got(exit, output) = (%d, %q); want (2, the AlreadyRunning error)", code, out)
	}
	if got := f.sequence(); canon(got) != canon([]string{"Start"}) {
		t.Errorf("Got(calls) = %v; want [Start]: no retry, no summary written", got)
	}
}

func TestLocalRunFailurePath(t *testing.T) {
	tests := []struct {
		name      string
		failing   string // the function whose first call fails
		errType   string
		wantCalls []string
		wantCode  int
	}{
		{
			name: "handler error in Check is not retried and is recorded", failing: "CheckFunction", errType: "ManifestWriteFailed",
			wantCalls: []string{"Start", "Check", "RecordFailure", "AuditFailed"}, wantCode: 2,
		},
		{
			name: "handler error in Store is recorded", failing: "StoreFunction", errType: "ReportParseFailed",
			wantCalls: []string{"Start", "Check", "Store", "RecordFailure", "AuditFailed"}, wantCode: 2,
		},
		{
			name: "timed-out Check is retried", failing: "CheckFunction", errType: "Sandbox.Timedout",
			wantCalls: []string{"Start", "Check", "Check", "Store"}, wantCode: 0,
		},
		{
			name: "crashed Store is retried", failing: "StoreFunction", errType: "Runtime.ExitError",
			wantCalls: []string{"Start", "Check", "Store", "Store"}, wantCode: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := simulatedRun(1)
			f := &fakeLambda{handle: func(function string, p map[string]any, n int) reply {
				if function == tt.failing && n == 1 {
					return reply{errType: tt.errType, errMsg: "step broke on purpose"}
				}
				return ok(function, p, n)
			}}
			out, code := runLocal(t, f, `{}`)
			if code != tt.wantCode {
				t.Errorf("Got(exit) = %d; want %d\n%s", code, tt.wantCode, out)
			}
			if got := f.sequence(); canon(got) != canon(tt.wantCalls) {
				t.Fatalf("Got(calls) = %v; want %v", got, tt.wantCalls)
			}
			if tt.wantCode == 0 {
				return
			}
			rec := f.calls[len(f.calls)-2].payload
			errObj, _ := rec["error"].(map[string]any)
			if errObj["Error"] != tt.errType || !strings.Contains(fmt.Sprint(errObj["Cause"]), "step broke on purpose") {
				t.Errorf("Got(RecordFailure error) = %s; want Error %q and the message in Cause", canon(rec["error"]), tt.errType)
			}
			// Caught put the redrive count (0: not redriven) beside the error.
			if canon(rec["caught"]) != canon(map[string]any{"redriveCount": 0}) {
				t.Errorf("Got(RecordFailure caught) = %s; want {redriveCount: 0}", canon(rec["caught"]))
			}
			state := copyState(rec)
			delete(state, "error")
			delete(state, "caught")
			if state["runId"] != "exec-1" || state["manifestKey"] == nil {
				t.Errorf("Got(RecordFailure State) = %s; want the State the failed step received", canon(state))
			}
			// AuditFailed gets RecordFailure's input whole, and the
			// execution's redrive count.
			end := f.calls[len(f.calls)-1].payload
			wantEnd := map[string]any{"executionName": "exec-1", "stateMachineArn": localStateMachineARN, "executionArn": localExecutionARN,
				"redriveCount": 0, "failedState": rec}
			if canon(end) != canon(wantEnd) {
				t.Errorf("Got(AuditFailed event) = %s; want %s", canon(end), canon(wantEnd))
			}
			// The execution fails with AuditFailed and the original cause.
			if !strings.Contains(out, "AuditFailed: ") || !strings.Contains(out, "step broke on purpose") {
				t.Errorf("Got(output) = %q; want AuditFailed with the failed step's cause", out)
			}
		})
	}
}

func TestLocalRunFailsEvenWhenRecordingFails(t *testing.T) {
	f := &fakeLambda{handle: func(function string, p map[string]any, n int) reply {
		switch {
		case function == "CheckFunction":
			return reply{errType: "ManifestWriteFailed", errMsg: "check broke"}
		case function == "StoreFunction":
			return reply{errType: "SummaryWriteFailed", errMsg: "store broke too"}
		}
		return simulatedRun(1)(function, p, n)
	}}
	out, code := runLocal(t, f, `{}`)
	if code != 2 || !strings.Contains(out, "check broke") {
		t.Errorf("Got(exit, output) = (%d, %q); want (2, the original cause)", code, out)
	}
	if got := f.sequence(); canon(got) != canon([]string{"Start", "Check", "RecordFailure", "AuditFailed"}) {
		t.Errorf("Got(calls) = %v; want [Start Check RecordFailure AuditFailed]", got)
	}
	if end := f.calls[len(f.calls)-1].payload["failedState"].(map[string]any); end["recordError"] == nil || end["error"] == nil {
		t.Errorf("Got(AuditFailed failed State) = %s; want the caught error and RecordFailure's own", canon(end))
	}
}

// TestLocalRunRedriveResumes runs a failed execution's failure path, then
// stands in for a RedriveExecution: the definition started at the state
// that failed (AuditFailed), with the input it had then and the context
// object's redrive count at 1. The first run ends in AuditFailed; the
// redrive goes back into the loop and succeeds.
func TestLocalRunRedriveResumes(t *testing.T) {
	ok := simulatedRun(2)
	broken := true
	f := &fakeLambda{handle: func(function string, p map[string]any, n int) reply {
		if function == "CheckFunction" && broken {
			return reply{errType: "StepFailed", errMsg: "check run exec-1: s3 is down"}
		}
		return ok(function, p, n)
	}}
	out, code := runLocal(t, f, `{}`)
	if code != 2 || !strings.Contains(out, "AuditFailed: ") {
		t.Fatalf("Got(first run exit, output) = (%d, %q); want (2, AuditFailed)", code, out)
	}
	last := f.calls[len(f.calls)-1].payload
	failedInput, err := json.Marshal(last["failedState"])
	if err != nil || last["redriveCount"] != float64(0) {
		t.Fatalf("Got(AuditFailed event) = %s; want redriveCount 0 and the failed State", canon(last))
	}

	broken = false
	f.calls = nil
	out, code = runLocalFrom(t, f, string(failedInput), "AuditFailed", 1)
	if code != 0 {
		t.Fatalf("Got(redrive exit) = %d; want 0\n%s", code, out)
	}
	// AuditFailed resumes, then the loop runs to Succeeded.
	want := []string{"AuditFailed", "Check", "Store", "Check", "Store"}
	if got := f.sequence(); canon(got) != canon(want) {
		t.Fatalf("Got(redrive calls) = %v; want %v", got, want)
	}
	first := f.calls[0].payload
	if first["redriveCount"] != float64(1) || canon(first["failedState"]) != canon(last["failedState"]) {
		t.Errorf("Got(redriven AuditFailed event) = %s; want redriveCount 1 and the same failed State", canon(first))
	}
	if !strings.Contains(out, "done: true") {
		t.Errorf("Got(output) = %q; want the final State with done: true", out)
	}
}
