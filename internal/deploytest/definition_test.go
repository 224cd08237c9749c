package deploytest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// taskFunction says which function each Task state invokes.
var taskFunction = map[string]string{
	"Start":         "StartFunction",
	"Walk":          "StartFunction",
	"Check":         "CheckFunction",
	"Store":         "StoreFunction",
	"RecordFailure": "StoreFunction",
	"AuditFailed":   "StartFunction",
}

// transientLambdaErrors are the Lambda service errors every Task retries.
var transientLambdaErrors = []string{
	"Lambda.ServiceException",
	"Lambda.AWSLambdaException",
	"Lambda.SdkClientException",
	"Lambda.TooManyRequestsException",
	"Lambda.ClientExecutionTimeoutException",
}

// crashErrors are a step that timed out or died. Every Task retries them:
// each resumes from the manifest (Start and Walk from the walk's saved
// progress), so running one again repeats at most the work since its last
// save.
var crashErrors = []string{"States.Timeout", "Sandbox.Timedout", "Runtime.ExitError", "Lambda.Unknown"}

// stepFailed is the error type of a step that failed on its own after its
// internal retries; the same three states try it again a bounded number of
// times before the Catch.
const stepFailed = "StepFailed"

func TestTasksInvokeTheThreeFunctions(t *testing.T) {
	def := loadDefinition(t)
	var tasks []string
	for name, s := range def.States {
		if s.Type == "Task" {
			tasks = append(tasks, name)
		}
	}
	slices.Sort(tasks)
	if want := slices.Sorted(maps.Keys(taskFunction)); !slices.Equal(tasks, want) {
		t.Fatalf("Got(Task states) = %v; want %v", tasks, want)
	}
	for _, name := range tasks {
		s := def.States[name]
		want := "${" + taskFunction[name] + "Arn}"
		if s.Resource != want {
			t.Errorf("Got(%q Resource) = %q; want %q", name, s.Resource, want)
		}
		// The direct function-ARN form: the state's result is the
		// function's return value, so no OutputPath is needed to unwrap it.
		if s.OutputPath != nil || s.InputPath != nil {
			t.Errorf("Got(%q OutputPath/InputPath) set; want the direct form with neither", name)
		}
	}
}

func TestLoopShape(t *testing.T) {
	def := loadDefinition(t)
	if def.StartAt != "Start" {
		t.Errorf("Got(StartAt) = %q; want Start", def.StartAt)
	}
	edges := []struct {
		from, typ, next string
	}{
		{"Start", "Task", "Walked"},
		{"WaitWalk", "Wait", "Walk"},
		{"Walk", "Task", "Walked"},
		{"Wait", "Wait", "Check"},
		{"Check", "Task", "Store"},
		{"Store", "Task", "Done"},
		{"Caught", "Pass", "RecordFailure"},
		{"RecordFailure", "Task", "AuditFailed"},
		// Redriven, AuditFailed resumes the run: through Walked (a walk
		// that was not done goes on) into the loop.
		{"AuditFailed", "Task", "Walked"},
	}
	for _, e := range edges {
		s := def.state(t, e.from)
		if s.Type != e.typ || s.Next != e.next {
			t.Errorf("Got(%q) = %s -> %q; want %s -> %q", e.from, s.Type, s.Next, e.typ, e.next)
		}
	}
	wait := def.state(t, "Wait")
	if wait.SecondsPath != "$.waitSeconds" || wait.Seconds != nil {
		t.Errorf("Got(Wait SecondsPath) = %q; want $.waitSeconds", wait.SecondsPath)
	}
	done := def.state(t, "Done")
	wantChoice := []map[string]any{{"Variable": "$.done", "BooleanEquals": true, "Next": "Succeeded"}}
	if done.Type != "Choice" || canon(done.Choices) != canon(wantChoice) || done.Default != "Wait" {
		t.Errorf("Got(Done) = %s %s default %q; want Choice %s default Wait", done.Type, canon(done.Choices), done.Default, canon(wantChoice))
	}
	walked := def.state(t, "Walked")
	wantWalked := []map[string]any{{"And": []any{
		map[string]any{"Variable": "$.walking", "IsPresent": true},
		map[string]any{"Variable": "$.walking", "BooleanEquals": true},
	}, "Next": "WaitWalk"}}
	if walked.Type != "Choice" || canon(walked.Choices) != canon(wantWalked) || walked.Default != "Wait" {
		t.Errorf("Got(Walked) = %s %s default %q; want Choice %s default Wait", walked.Type, canon(walked.Choices), walked.Default, canon(wantWalked))
	}
	if ww := def.state(t, "WaitWalk"); ww.SecondsPath != "$.waitSeconds" || ww.Seconds != nil {
		t.Errorf("Got(WaitWalk SecondsPath) = %q; want $.waitSeconds", ww.SecondsPath)
	}
	if s := def.state(t, "Succeeded"); s.Type != "Succeed" {
		t.Errorf("Got(Succeeded Type) = %q; want Succeed", s.Type)
	}
	wantParams := map[string]any{"executionName.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
		"stateMachineArn.$": "$$.StateMachine.Id", "executionArn.$": "$$.Execution.Id"}
	for _, name := range []string{"Start", "Walk"} {
		// Walk is Start again with the same input: it finds the walk in
		// the run's manifest and goes on with it.
		if p := def.state(t, name).Parameters; canon(p) != canon(wantParams) {
			t.Errorf("Got(%q Parameters) = %s; want %s", name, canon(p), canon(wantParams))
		}
	}
	for _, name := range []string{"Check", "Store", "RecordFailure"} {
		if p := def.state(t, name).Parameters; p != nil {
			t.Errorf("Got(%q Parameters) = %s; want none: the State passes through whole", name, canon(p))
		}
	}
	if def.TimeoutSeconds <= 0 {
		t.Errorf("Got(TimeoutSeconds) = %d; want a bound on a run", def.TimeoutSeconds)
	}
}

func TestEveryStateReachable(t *testing.T) {
	def := loadDefinition(t)
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if name == "" || seen[name] {
			return
		}
		s, ok := def.States[name]
		if !ok {
			t.Errorf("Got(transition to %q) = undefined; want a state", name)
			return
		}
		seen[name] = true
		visit(s.Next)
		visit(s.Default)
		for _, c := range s.Catch {
			visit(c.Next)
		}
		for _, c := range s.Choices {
			if n, ok := c["Next"].(string); ok {
				visit(n)
			}
		}
	}
	visit(def.StartAt)
	for _, name := range slices.Sorted(maps.Keys(def.States)) {
		if !seen[name] {
			t.Errorf("Got(%q reachable) = false; want true", name)
		}
	}
}

func TestRetryPolicies(t *testing.T) {
	def := loadDefinition(t)
	tests := []struct {
		state      string
		retryCrash bool
	}{
		{"Start", true},
		{"Walk", true},
		{"Check", true},
		{"Store", true},
		{"RecordFailure", true},
		{"AuditFailed", true},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			s := def.state(t, tt.state)
			wantLen := 1
			if tt.retryCrash {
				wantLen = 3 // transient Lambda errors, crashes, StepFailed
			}
			if len(s.Retry) != wantLen {
				t.Fatalf("Got(%q retriers) = %d; want %d", tt.state, len(s.Retry), wantLen)
			}
			transient := s.Retry[0]
			if !slices.Equal(transient.ErrorEquals, transientLambdaErrors) {
				t.Errorf("Got(%q first retrier) = %v; want %v", tt.state, transient.ErrorEquals, transientLambdaErrors)
			}
			if transient.IntervalSeconds != 2 || transient.MaxAttempts != 6 || transient.BackoffRate != 2 || transient.JitterStrategy != "FULL" {
				t.Errorf("Got(%q transient retry) = %+v; want interval 2, 6 attempts, backoff 2, FULL jitter", tt.state, transient)
			}
			if tt.retryCrash {
				crash := s.Retry[1]
				if !slices.Equal(crash.ErrorEquals, crashErrors) {
					t.Errorf("Got(%q second retrier) = %v; want %v", tt.state, crash.ErrorEquals, crashErrors)
				}
				if crash.MaxAttempts < 1 || crash.MaxAttempts > 3 {
					t.Errorf("Got(%q crash retries) = %d; want 1..3", tt.state, crash.MaxAttempts)
				}
				if !slices.Equal(s.Retry[2].ErrorEquals, []string{stepFailed}) {
					t.Errorf("Got(%q retriers) = %+v; want a third for %s alone", tt.state, s.Retry, stepFailed)
				} else if n := s.Retry[2].MaxAttempts; n < 1 || n > 3 {
					t.Errorf("Got(%q %s retries) = %d; want 1..3, so a persistent failure reaches the Catch", tt.state, stepFailed, n)
				}
			}
			// A handler's own error (InvalidInput, a failed S3 write) is an
			// answer, not a glitch: it must reach the Catch, not loop.
			for _, r := range s.Retry {
				for _, e := range r.ErrorEquals {
					if e == "States.ALL" || e == "States.TaskFailed" || e == "InvalidInput" || e == "AuditFailed" || e == "AlreadyRunning" {
						t.Errorf("Got(%q retries %s) = true; want false", tt.state, e)
					}
				}
			}
		})
	}
}

func TestFailurePath(t *testing.T) {
	def := loadDefinition(t)
	if c := def.state(t, "Start").Catch; len(c) != 0 {
		t.Errorf("Got(Start Catch) = %+v; want none: InvalidInput and other Start errors fail the execution as they are", c)
	}
	wantCatch := []aslCatcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.error", Next: "Caught"}}
	for _, name := range []string{"Walk", "Check", "Store"} {
		if got := def.state(t, name).Catch; canon(got) != canon(wantCatch) {
			t.Errorf("Got(%q Catch) = %s; want %s", name, canon(got), canon(wantCatch))
		}
	}
	// Caught adds the redrive count at which the error was caught to the
	// State, beside the error.
	caught := def.state(t, "Caught")
	wantCaught := map[string]any{"redriveCount.$": "$$.Execution.RedriveCount"}
	if caught.Type != "Pass" || canon(caught.Parameters) != canon(wantCaught) || string(caught.ResultPath) != `"$.caught"` {
		t.Errorf("Got(Caught) = %s %s at %s; want Pass %s at $.caught", caught.Type, canon(caught.Parameters), caught.ResultPath, canon(wantCaught))
	}
	rec := def.state(t, "RecordFailure")
	if string(rec.ResultPath) != "null" {
		t.Errorf("Got(RecordFailure ResultPath) = %s; want null, keeping $.error and $.caught for AuditFailed", rec.ResultPath)
	}
	for _, c := range rec.Catch {
		if c.Next != "AuditFailed" || c.ResultPath == "$" || c.ResultPath == "$.error" || c.ResultPath == "$.caught" {
			t.Errorf("Got(RecordFailure Catch) = %+v; want AuditFailed keeping $.error and $.caught", c)
		}
	}
	// AuditFailed is a task, not a Fail state: a RedriveExecution runs the
	// failed state again, and a Fail state would only fail again. It gets
	// the State whole and the redrive count now, from the context object.
	fail := def.state(t, "AuditFailed")
	wantParams := map[string]any{"executionName.$": "$$.Execution.Name", "stateMachineArn.$": "$$.StateMachine.Id",
		"executionArn.$": "$$.Execution.Id", "redriveCount.$": "$$.Execution.RedriveCount", "failedState.$": "$"}
	if fail.Type != "Task" || canon(fail.Parameters) != canon(wantParams) {
		t.Errorf("Got(AuditFailed) = %s %s; want a Task with Parameters %s", fail.Type, canon(fail.Parameters), canon(wantParams))
	}
	if len(fail.Catch) != 0 || fail.ResultPath != nil {
		t.Errorf("Got(AuditFailed Catch %+v, ResultPath %s); want neither: its error ends the execution, its result is the resumed run's State", fail.Catch, fail.ResultPath)
	}
	for name, s := range def.States {
		if s.Type == "Fail" {
			t.Errorf("Got(Fail state %q); want none: a redrive of an execution that ended there could only fail again", name)
		}
	}
}

func TestTaskTimeoutsExceedFunctionTimeouts(t *testing.T) {
	def := loadDefinition(t)
	for _, name := range slices.Sorted(maps.Keys(taskFunction)) {
		fn := taskFunction[name]
		timeout, ok := effectiveFunction(t, fn)["Timeout"].(int)
		if !ok {
			t.Fatalf("Got(%q Timeout) is not an int", fn)
		}
		// Lambda ends the function first and reports why; the Task timeout
		// only catches an invocation that never answers.
		if got := def.state(t, name).TimeoutSeconds; got <= timeout {
			t.Errorf("Got(%q TimeoutSeconds) = %d; want more than %s's %d", name, got, fn, timeout)
		}
	}
}

// TestPayloadDoesNotGrow checks that every state in the loop replaces its
// input with the function's State instead of adding to it: the payload is
// then the State (well under 2 KB) however many times the loop turns.
func TestPayloadDoesNotGrow(t *testing.T) {
	def := loadDefinition(t)
	for _, name := range []string{"Start", "Walk", "Check", "Store", "AuditFailed"} {
		if rp := def.state(t, name).ResultPath; rp != nil {
			t.Errorf("Got(%q ResultPath) = %s; want none, so the State replaces the input", name, rp)
		}
	}
	for _, name := range []string{"Wait", "Done", "WaitWalk", "Walked"} {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(readDefinition(t), &raw); err != nil {
			t.Fatal(err)
		}
		var states map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw["States"], &states); err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"Parameters", "ResultPath", "InputPath", "OutputPath"} {
			if v, ok := states[name][field]; ok {
				t.Errorf("Got(%q %s) = %s; want none", name, field, v)
			}
		}
	}
}
