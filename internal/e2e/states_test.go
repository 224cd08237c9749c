package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// statesFront serves the part of the Step Functions API (JSON 1.0,
// X-Amz-Target AWSStepFunctions.<Operation>) that orgaudit calls, for the
// stack's one state machine: StartExecution runs the execution on local-sfn
// in the background as stack.execute does, DescribeExecution and
// ListExecutions report the executions, those stack.execute runs included.
// The Start function's ListExecutions (one run at a time) comes here, as
// does `orgaudit start`.
type statesFront struct {
	st              *stack
	stateMachineARN string

	mu      sync.Mutex
	execs   []*frontExecution // in start order
	running sync.WaitGroup    // background executions
}

// frontExecution is one execution the front knows.
type frontExecution struct {
	arn, name, input string
	status           string // RUNNING, SUCCEEDED, FAILED
	started, stopped time.Time
	errorName, cause string
	redrives         int
	redriven         time.Time
}

// begin records a new RUNNING execution; a name in use is
// ExecutionAlreadyExists.
func (f *statesFront) begin(name, input string) (*frontExecution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := strings.Replace(f.stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
	for _, e := range f.execs {
		if e.name == name {
			return nil, &statesError{"ExecutionAlreadyExists", "Execution Already Exists: '" + arn + "'"}
		}
	}
	e := &frontExecution{arn: arn, name: name, input: input, status: "RUNNING", started: time.Now()}
	f.execs = append(f.execs, e)
	return e, nil
}

// redrive records that the execution called name, which did not succeed,
// runs again: RUNNING, redriven now, as RedriveExecution leaves it.
func (f *statesFront) redrive(name string) (*frontExecution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.execs {
		if e.name != name {
			continue
		}
		if e.status == "RUNNING" || e.status == "SUCCEEDED" {
			return nil, &statesError{"ExecutionNotRedrivable", "Execution " + e.arn + " is " + e.status}
		}
		e.status, e.stopped, e.errorName, e.cause = "RUNNING", time.Time{}, "", ""
		e.redrives++
		e.redriven = time.Now()
		return e, nil
	}
	return nil, &statesError{"ExecutionDoesNotExist", "Execution Does Not Exist: " + name}
}

// taskErrorRE matches local-sfn's account of a Task error,
// "<errorType>: <errorMessage>".
var taskErrorRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_.]*): (.*)$`)

// end records how the execution ended. local-sfn prints a failed Task's
// "<errorType>: <message>", or a Fail state's cause; the latter gets the
// Fail state's error name.
func (f *statesFront) end(e *frontExecution, ex execution, runErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.stopped = time.Now()
	switch {
	case runErr != nil:
		e.status, e.errorName, e.cause = "FAILED", "States.Runtime", runErr.Error()
	case ex.succeeded:
		e.status = "SUCCEEDED"
	default:
		e.status = "FAILED"
		if m := taskErrorRE.FindStringSubmatch(ex.errorText); m != nil && !strings.HasPrefix(ex.errorText, "{") {
			e.errorName, e.cause = m[1], m[2]
		} else {
			e.errorName, e.cause = f.failStateError(), ex.errorText
		}
	}
}

// failStateError is the Error of the definition's Fail state.
func (f *statesFront) failStateError() string {
	raw, err := os.ReadFile(f.st.definition)
	if err != nil {
		return "States.Failed"
	}
	var def struct {
		States map[string]struct{ Type, Error string }
	}
	if json.Unmarshal(raw, &def) == nil {
		for _, s := range def.States {
			if s.Type == "Fail" && s.Error != "" {
				return s.Error
			}
		}
	}
	return "States.Failed"
}

// wait waits for the background executions to end.
func (f *statesFront) wait() { f.running.Wait() }

// statesError is an error answer of the API.
type statesError struct{ code, message string }

func (e *statesError) Error() string { return e.code + ": " + e.message }

func (f *statesFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	if r.Method != http.MethodPost || !ok {
		writeStatesError(w, &statesError{"UnknownOperationException", "not a Step Functions request"})
		return
	}
	var in struct {
		StateMachineArn, ExecutionArn, Name, Input, StatusFilter string
		MaxResults                                               int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeStatesError(w, &statesError{"SerializationException", err.Error()})
		return
	}
	var out any
	var err error
	switch op {
	case "StartExecution":
		out, err = f.startExecution(in.StateMachineArn, in.Name, in.Input)
	case "DescribeExecution":
		out, err = f.describeExecution(in.ExecutionArn)
	case "ListExecutions":
		out, err = f.listExecutions(in.StateMachineArn, in.StatusFilter, in.MaxResults)
	default:
		err = &statesError{"UnknownOperationException", op + " is not served here"}
	}
	if err != nil {
		writeStatesError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

func writeStatesError(w http.ResponseWriter, err error) {
	se, ok := err.(*statesError)
	if !ok {
		se = &statesError{"InternalFailure", err.Error()}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.states#" + se.code, "message": se.message})
}

func (f *statesFront) checkStateMachine(arn string) error {
	if !strings.HasPrefix(arn, "arn:aws:states:") || !strings.Contains(arn, ":stateMachine:") {
		return &statesError{"InvalidArn", "Invalid Arn: '" + arn + "'"}
	}
	if arn != f.stateMachineARN {
		return &statesError{"StateMachineDoesNotExist", "State Machine Does Not Exist: '" + arn + "'"}
	}
	return nil
}

func (f *statesFront) startExecution(smARN, name, input string) (any, error) {
	if err := f.checkStateMachine(smARN); err != nil {
		return nil, err
	}
	if name == "" {
		name = fmt.Sprintf("exec-%d", time.Now().UnixNano())
	}
	if input == "" {
		input = "{}"
	}
	e, err := f.begin(name, input)
	if err != nil {
		return nil, err
	}
	f.running.Add(1)
	go func() {
		defer f.running.Done()
		ex, err := f.st.runExecution(e.name, e.arn, e.input)
		f.end(e, ex, err)
	}()
	return map[string]any{"executionArn": e.arn, "startDate": epoch(e.started)}, nil
}

func (f *statesFront) describeExecution(arn string) (any, error) {
	if !strings.HasPrefix(arn, "arn:aws:states:") || !strings.Contains(arn, ":execution:") {
		return nil, &statesError{"InvalidArn", "Invalid Arn: '" + arn + "'"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.execs {
		if e.arn == arn {
			out := e.item()
			out["input"] = e.input
			if e.errorName != "" {
				out["error"], out["cause"] = e.errorName, e.cause
			}
			return out, nil
		}
	}
	return nil, &statesError{"ExecutionDoesNotExist", "Execution Does Not Exist: '" + arn + "'"}
}

func (f *statesFront) listExecutions(smARN, status string, max int) (any, error) {
	if err := f.checkStateMachine(smARN); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	items := []map[string]any{}
	for i := len(f.execs) - 1; i >= 0; i-- { // newest first
		e := f.execs[i]
		if status != "" && e.status != status {
			continue
		}
		if max > 0 && len(items) == max {
			break // (no paging: the tests start a handful)
		}
		items = append(items, e.item())
	}
	return map[string]any{"executions": items}, nil
}

// item is the execution as ListExecutions lists it.
func (e *frontExecution) item() map[string]any {
	out := map[string]any{
		"executionArn": e.arn, "stateMachineArn": strings.Replace(e.arn[:strings.LastIndexByte(e.arn, ':')], ":execution:", ":stateMachine:", 1),
		"name": e.name, "status": e.status, "startDate": epoch(e.started),
	}
	if !e.stopped.IsZero() {
		out["stopDate"] = epoch(e.stopped)
	}
	if e.redrives > 0 {
		out["redriveCount"], out["redriveDate"] = e.redrives, epoch(e.redriven)
	}
	return out
}

// epoch is a timestamp as the JSON protocol carries it: seconds, with
// milliseconds as the fraction.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
