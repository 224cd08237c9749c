package sfnrun

import (
	"context"
	"log/slog"
	"strings"

	"github.com/orgaudit/orgaudit/internal/pipeline"
)

// AuditFailed is the error with which a failed execution ends, at the end
// of its failure path (Caught, RecordFailure, then the AuditFailed task):
// the summary says FAILED, and the message is the error that was caught.
// The Lambda runtime reports the type name as errorType, so the execution
// fails with error AuditFailed.
type AuditFailed struct {
	RunID string
	Err   pipeline.StepError // the error the state machine caught
	// RecordErr, when set, is why the FAILED summary was not written.
	RecordErr *pipeline.StepError
}

// maxMessage bounds the message: the caught cause may be long.
const maxMessage = 2000

func (e *AuditFailed) Error() string {
	msg := describe(e.Err)
	if e.RecordErr != nil {
		msg += " (and the FAILED summary was not written: " + describe(*e.RecordErr) + ")"
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return msg
}

// describe is a caught error on one line, "<Error>: <message>". Step
// Functions' cause of a Lambda error is the function's JSON error object;
// its message is taken. A cause that already begins with the error's name
// is not prefixed twice.
func describe(e pipeline.StepError) string {
	cause := causeMessage(e.Cause)
	switch {
	case e.Error == "":
		return cause
	case cause == "", cause == e.Error:
		return e.Error
	case strings.HasPrefix(cause, e.Error+": "):
		return cause
	}
	return e.Error + ": " + cause
}

// FailOrResume decides what the AuditFailed task does with a failed
// execution's State. Run after RecordFailure at the redrive count Caught
// recorded, it is the end of the failed execution: *AuditFailed. When a
// RedriveExecution runs the task again (Step Functions re-runs the failed
// state with its original input, so the State is the same, but
// $$.Execution.RedriveCount has grown), it returns nil: the run is to go
// on from its manifest. A State that Caught did not mark fails as well: a
// redrive can only resume what the failure path recorded.
func FailOrResume(failed pipeline.State, redriveCount int) error {
	if failed.Caught != nil && redriveCount > failed.Caught.RedriveCount {
		return nil
	}
	err := &AuditFailed{RunID: failed.RunID, RecordErr: failed.RecordError}
	if failed.Error != nil {
		err.Err = *failed.Error
	} else {
		err.Err = pipeline.StepError{Error: "RunFailed", Cause: "the failure path reached AuditFailed without the caught error"}
	}
	return err
}

// Steps are the two ways the Start function goes on with a run: Start
// (and Walk) with the execution's input, Resume with a failed execution's
// State.
type Steps interface {
	Start(ctx context.Context, ev pipeline.StartEvent) (pipeline.State, error)
	Resume(ctx context.Context, s pipeline.State) (pipeline.State, error)
}

// Handler is the Start function: the Start, Walk and AuditFailed tasks of
// the state machine. An event with a failed State (the AuditFailed task)
// ends the failed execution with *AuditFailed, unless the execution was
// redriven since, in which case the run resumes from its manifest. Either
// way of going on keeps to one run at a time (Guard): a redriven execution
// counts from its redrive.
func Handler(api ListAPI, steps Steps, log *slog.Logger) func(context.Context, StartEvent) (pipeline.State, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := OneAtATime(api, steps.Start, log)
	return func(ctx context.Context, ev StartEvent) (pipeline.State, error) {
		if ev.FailedState == nil {
			return start(ctx, ev)
		}
		redrives := 0
		if ev.RedriveCount != nil {
			redrives = *ev.RedriveCount
		}
		if err := FailOrResume(*ev.FailedState, redrives); err != nil {
			log.Error("run failed; the execution ends", "run_id", ev.FailedState.RunID, "error", err.Error())
			return pipeline.State{}, err
		}
		log.Info("execution redriven; resuming its run", "run_id", ev.FailedState.RunID, "redrive_count", redrives,
			"caught_at_redrive", ev.FailedState.Caught.RedriveCount)
		resume := func(ctx context.Context, _ pipeline.StartEvent) (pipeline.State, error) {
			return steps.Resume(ctx, *ev.FailedState)
		}
		return OneAtATime(api, resume, log)(ctx, ev)
	}
}
