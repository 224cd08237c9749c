package sfnrun

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/orgaudit/orgaudit/internal/pipeline"
)

func failedState(caughtAt *int) pipeline.State {
	s := pipeline.State{RunID: "nightly", ManifestKey: "runs/nightly/manifest.json", Total: 3, Failed: 3,
		Error: &pipeline.StepError{Error: "StepFailed", Cause: `{"errorType":"StepFailed","errorMessage":"check run nightly: save manifest: 503"}`}}
	if caughtAt != nil {
		s.Caught = &pipeline.Caught{RedriveCount: *caughtAt}
	}
	return s
}

func TestFailOrResume(t *testing.T) {
	n := func(i int) *int { return &i }
	tests := []struct {
		name     string
		caughtAt *int
		redrives int
		resume   bool
	}{
		{"the failure itself", n(0), 0, false},
		{"the first redrive", n(0), 1, true},
		{"a redrive that failed again, at its own end", n(1), 1, false},
		{"the next redrive of it", n(1), 2, true},
		{"several redrives at once (a redrive that failed at AuditFailed itself)", n(0), 3, true},
		// Retries of a step keep the redrive count: the failure is still
		// the failure.
		{"a count below the caught one", n(2), 1, false},
		{"no Caught mark", nil, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := FailOrResume(failedState(tt.caughtAt), tt.redrives)
			if tt.resume {
				if err != nil {
					t.Errorf("FailOrResume = %v; want nil (resume)", err)
				}
				return
			}
			var af *AuditFailed
			if !errors.As(err, &af) || af.RunID != "nightly" {
				t.Fatalf("FailOrResume = %v; want *AuditFailed of run nightly", err)
			}
		})
	}
}

func TestAuditFailedMessage(t *testing.T) {
	tests := []struct {
		name string
		e    AuditFailed
		want string
	}{
		{"a Lambda error's JSON cause (Step Functions)", AuditFailed{Err: pipeline.StepError{Error: "StepFailed",
			Cause: `{"errorType":"StepFailed","errorMessage":"check run r: save manifest: 503","stackTrace":[]}`}},
			"StepFailed: check run r: save manifest: 503"},
		{"a cause that names the error already (aws-local-stepfunctions)", AuditFailed{Err: pipeline.StepError{Error: "StepFailed",
			Cause: "StepFailed: check run r: save manifest: 503"}}, "StepFailed: check run r: save manifest: 503"},
		{"a timeout has no cause", AuditFailed{Err: pipeline.StepError{Error: "States.Timeout"}}, "States.Timeout"},
		{"a multi-line cause on one line", AuditFailed{Err: pipeline.StepError{Error: "States.TaskFailed", Cause: "put\n   object:  503"}},
			"States.TaskFailed: put object: 503"},
		{"the summary not written either", AuditFailed{Err: pipeline.StepError{Error: "StepFailed", Cause: "check broke"},
			RecordErr: &pipeline.StepError{Error: "StepFailed", Cause: `{"errorMessage":"store run r: 503"}`}},
			"StepFailed: check broke (and the FAILED summary was not written: StepFailed: store run r: 503)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
		})
	}
	long := AuditFailed{Err: pipeline.StepError{Error: "StepFailed", Cause: strings.Repeat("x", 5000)}}
	if got := long.Error(); len(got) > maxMessage+len("…") || !strings.HasPrefix(got, "StepFailed: xxx") {
		t.Errorf("Error() of a 5000-character cause = %d characters; want at most %d", len(got), maxMessage)
	}
}

// listOnly answers ListExecutions with a fixed list of RUNNING
// executions and counts the calls.
type listOnly struct {
	running []types.ExecutionListItem
	calls   int
}

func (l *listOnly) ListExecutions(_ context.Context, in *sfn.ListExecutionsInput, _ ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error) {
	l.calls++
	if in.StatusFilter != types.ExecutionStatusRunning {
		return nil, errors.New("want a RUNNING filter")
	}
	return &sfn.ListExecutionsOutput{Executions: l.running}, nil
}

// steps records which step the handler ran.
type steps struct{ ran []string }

func (s *steps) Start(_ context.Context, ev pipeline.StartEvent) (pipeline.State, error) {
	s.ran = append(s.ran, "start "+ev.ExecutionName)
	return pipeline.State{RunID: ev.ExecutionName}, nil
}

func (s *steps) Resume(_ context.Context, st pipeline.State) (pipeline.State, error) {
	s.ran = append(s.ran, "resume "+st.RunID)
	return pipeline.State{RunID: st.RunID, ManifestKey: st.ManifestKey, Total: st.Total, Queued: st.Total}, nil
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	const sm = "arn:aws:states:us-east-1:111122223333:stateMachine:orgaudit-auditor"
	self := "arn:aws:states:us-east-1:111122223333:execution:orgaudit-auditor:nightly"
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	item := func(name string, started, redriven time.Time) types.ExecutionListItem {
		it := types.ExecutionListItem{ExecutionArn: aws.String(strings.TrimSuffix(self, "nightly") + name), Name: aws.String(name),
			StateMachineArn: aws.String(sm), Status: types.ExecutionStatusRunning, StartDate: aws.Time(started)}
		if !redriven.IsZero() {
			it.RedriveDate, it.RedriveCount = aws.Time(redriven), aws.Int32(1)
		}
		return it
	}
	caught := 0
	event := func(redrives int) StartEvent {
		fs := failedState(&caught)
		// The event as the AuditFailed task's Parameters build it.
		b, _ := json.Marshal(map[string]any{"executionName": "nightly", "stateMachineArn": sm, "executionArn": self,
			"redriveCount": redrives, "failedState": fs})
		var ev StartEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}

	t.Run("the failure ends the execution and asks nothing", func(t *testing.T) {
		api, s := &listOnly{}, &steps{}
		_, err := Handler(api, s, nil)(ctx, event(0))
		var af *AuditFailed
		if !errors.As(err, &af) || err.Error() != "StepFailed: check run nightly: save manifest: 503" {
			t.Errorf("Handler = %v; want AuditFailed with the caught error", err)
		}
		if api.calls != 0 || len(s.ran) != 0 {
			t.Errorf("Got(%d ListExecutions, steps %v); want none: the failure only fails", api.calls, s.ran)
		}
	})
	t.Run("a redrive resumes the run", func(t *testing.T) {
		api := &listOnly{running: []types.ExecutionListItem{item("nightly", t0, t0.Add(5*time.Hour))}}
		s := &steps{}
		st, err := Handler(api, s, nil)(ctx, event(1))
		if err != nil || st.RunID != "nightly" || st.Error != nil || st.Caught != nil {
			t.Fatalf("Handler = %+v, %v; want the resumed run's State, without the failure's fields", st, err)
		}
		if api.calls != 1 || strings.Join(s.ran, ",") != "resume nightly" {
			t.Errorf("Got(%d ListExecutions, steps %v); want the guard, then resume nightly", api.calls, s.ran)
		}
	})
	t.Run("a redrive yields to a run started while it lay failed", func(t *testing.T) {
		// The nightly run failed at 03:00-ish; a manual run started at
		// 04:00 still runs when the nightly one is redriven at 05:00.
		api := &listOnly{running: []types.ExecutionListItem{
			item("nightly", t0, t0.Add(5*time.Hour)), item("manual", t0.Add(time.Hour), time.Time{})}}
		s := &steps{}
		_, err := Handler(api, s, nil)(ctx, event(1))
		var ar *AlreadyRunning
		if !errors.As(err, &ar) || ar.RunID != "manual" || len(s.ran) != 0 {
			t.Errorf("Handler = %v, steps %v; want AlreadyRunning naming manual and nothing run", err, s.ran)
		}
	})
	t.Run("Start and Walk are Start", func(t *testing.T) {
		api, s := &listOnly{running: []types.ExecutionListItem{item("nightly", t0, time.Time{})}}, &steps{}
		ev := StartEvent{StartEvent: pipeline.StartEvent{ExecutionName: "nightly", Input: []byte("{}")}, StateMachineARN: sm, ExecutionARN: self}
		if _, err := Handler(api, s, nil)(ctx, ev); err != nil || strings.Join(s.ran, ",") != "start nightly" {
			t.Errorf("Handler(Start event) = %v, steps %v; want start nightly", err, s.ran)
		}
	})
}
