package sfnrun

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/orgaudit/orgaudit/internal/pipeline"
)

// AlreadyRunning is the error of an execution that found another execution
// of its state machine running: two runs at once halve each other's speed
// on IAM's report job slot. The Lambda runtime reports the type name as
// errorType, so the execution fails with error AlreadyRunning.
type AlreadyRunning struct {
	RunID        string // the other execution's name
	ExecutionARN string
	Started      time.Time
}

func (e *AlreadyRunning) Error() string {
	return fmt.Sprintf("run %s is still running (execution %s, started %s): one run at a time; wait for it to end or stop it",
		e.RunID, e.ExecutionARN, e.Started.UTC().Format(time.RFC3339))
}

// Guard returns an *AlreadyRunning naming another RUNNING execution of
// smARN that started before self (the execution asking), or nil. Of two
// executions started at once, the older one goes on: each sees the other,
// and only the younger steps back. A redriven execution counts from its
// redrive, so it yields to a run started while it lay failed. When self is
// not listed yet (the list may lag a new execution), every other running
// execution counts as older.
func Guard(ctx context.Context, api ListAPI, smARN, self string) error {
	running, err := listRunning(ctx, api, smARN)
	if err != nil {
		return err
	}
	var mine *Execution
	for i := range running {
		if running[i].ARN == self {
			mine = &running[i]
		}
	}
	var first *AlreadyRunning
	for _, e := range running {
		if e.ARN == self || (mine != nil && !before(e, *mine)) {
			continue
		}
		if first == nil || e.began().Before(first.Started) {
			first = &AlreadyRunning{RunID: e.Name, ExecutionARN: e.ARN, Started: e.began()}
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// before orders executions by start time, then by ARN.
func before(a, b Execution) bool {
	if ta, tb := a.began(), b.began(); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.ARN < b.ARN
}

func listRunning(ctx context.Context, api ListAPI, smARN string) ([]Execution, error) {
	return List(ctx, api, smARN, types.ExecutionStatusRunning, 0)
}

// StartEvent is the input of the Start function's tasks: the execution's
// name and input, and the ARNs of the state machine and the execution from
// the context object, for Guard. The AuditFailed task passes, in place of
// the input, the State it received (FailedState) and the execution's
// $$.Execution.RedriveCount.
type StartEvent struct {
	pipeline.StartEvent
	StateMachineARN string          `json:"stateMachineArn"`
	ExecutionARN    string          `json:"executionArn"`
	RedriveCount    *int            `json:"redriveCount,omitempty"`
	FailedState     *pipeline.State `json:"failedState,omitempty"`
}

// OneAtATime wraps the Start step: it calls start only when no older
// execution of the same state machine is running, and otherwise returns
// *AlreadyRunning with nothing written. An event without the ARNs (a
// definition that does not pass them) skips the check, and says so in
// the log.
func OneAtATime(api ListAPI, start func(context.Context, pipeline.StartEvent) (pipeline.State, error), log *slog.Logger) func(context.Context, StartEvent) (pipeline.State, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev StartEvent) (pipeline.State, error) {
		if ev.StateMachineARN == "" || ev.ExecutionARN == "" {
			log.Warn("the Start task passes no stateMachineArn and executionArn: not checking for a running execution", "execution_name", ev.ExecutionName)
		} else if err := Guard(ctx, api, ev.StateMachineARN, ev.ExecutionARN); err != nil {
			if ar, ok := err.(*AlreadyRunning); ok {
				log.Warn("another run is running; this one ends", "execution_name", ev.ExecutionName, "running_run", ar.RunID)
				return pipeline.State{}, ar
			}
			// Not knowing is no reason to skip a nightly run, nor to
			// run twice: the step fails and the state machine's retry
			// (or the next night) tries again.
			return pipeline.State{}, &pipeline.StepFailed{Step: "start", RunID: ev.ExecutionName, Err: fmt.Errorf("check for a running execution: %w", err)}
		}
		return start(ctx, ev.StartEvent)
	}
}

// causeMessage is the errorMessage of a Lambda error's JSON cause, or the
// cause itself.
func causeMessage(cause string) string {
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if strings.HasPrefix(strings.TrimSpace(cause), "{") && json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	return strings.Join(strings.Fields(cause), " ")
}
