package sfnrun

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

func TestExecutionARN(t *testing.T) {
	tests := []struct {
		sm, name, want string
	}{
		{"arn:aws:states:eu-west-1:111122223333:stateMachine:orgaudit-auditor", "20261125T030000Z",
			"arn:aws:states:eu-west-1:111122223333:execution:orgaudit-auditor:20261125T030000Z"},
		{"arn:aws-cn:states:cn-north-1:111122223333:stateMachine:a", "r",
			"arn:aws-cn:states:cn-north-1:111122223333:execution:a:r"},
	}
	for _, tt := range tests {
		got, err := ExecutionARN(tt.sm, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("ExecutionARN(%q, %q) = %q, %v; want %q", tt.sm, tt.name, got, err, tt.want)
		}
		back, err := StateMachineARNOf(got)
		if err != nil || back != tt.sm {
			t.Errorf("StateMachineARNOf(%q) = %q, %v; want %q", got, back, err, tt.sm)
		}
	}
	for _, bad := range []string{"", "orgaudit-auditor", "arn:aws:states:us-east-1:111122223333:execution:a:b",
		"arn:aws:lambda:us-east-1:111122223333:function:a", "arn:aws:states:us-east-1:111122223333:stateMachine:a:v1"} {
		if _, err := ExecutionARN(bad, "r"); err == nil {
			t.Errorf("ExecutionARN(%q) = nil error; want one", bad)
		}
	}
}

func TestConsoleURL(t *testing.T) {
	got := ConsoleURL("arn:aws:states:eu-west-1:111122223333:execution:orgaudit-auditor:r1")
	want := "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111122223333:execution:orgaudit-auditor:r1"
	if got != want {
		t.Errorf("ConsoleURL = %q; want %q", got, want)
	}
}

func TestFailureLine(t *testing.T) {
	tests := []struct {
		e    Execution
		want string
	}{
		{Execution{Status: types.ExecutionStatusFailed, Error: "AlreadyRunning",
			Cause: `{"errorMessage":"run a is still running","errorType":"AlreadyRunning"}`}, "AlreadyRunning: run a is still running"},
		{Execution{Status: types.ExecutionStatusFailed, Error: "AuditFailed", Cause: "store run r: put\n  object: 503"}, "AuditFailed: store run r: put object: 503"},
		{Execution{Status: types.ExecutionStatusTimedOut}, "TIMED_OUT"},
		{Execution{Status: types.ExecutionStatusAborted, Error: "States.Aborted"}, "States.Aborted"},
	}
	for _, tt := range tests {
		if got := tt.e.FailureLine(); got != tt.want {
			t.Errorf("FailureLine(%+v) = %q; want %q", tt.e, got, tt.want)
		}
	}
}

func TestRunIDOf(t *testing.T) {
	if got := RunIDOf("exec-1", `{"runId":"nightly-1"}`); got != "nightly-1" {
		t.Errorf("RunIDOf with runId = %q; want nightly-1", got)
	}
	if got := RunIDOf("exec-1", `{}`); got != "exec-1" {
		t.Errorf("RunIDOf without runId = %q; want the name", got)
	}
	if got := RunIDOf("exec-1", `{"bogus":1}`); got != "exec-1" {
		t.Errorf("RunIDOf of bad input = %q; want the name", got)
	}
}

func TestDuration(t *testing.T) {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	e := Execution{Started: start}
	if d := e.Duration(start.Add(time.Minute)); d != time.Minute {
		t.Errorf("Duration running = %v; want 1m", d)
	}
	e.Stopped = start.Add(5 * time.Second)
	if d := e.Duration(start.Add(time.Hour)); d != 5*time.Second {
		t.Errorf("Duration stopped = %v; want 5s", d)
	}
}

func TestResumeNames(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 4, 5, 0, time.UTC)
	name, err := ResumeName("20261125T030000Z", at)
	if err != nil || name != "20261125T030000Z-resume-20261125T030405Z" {
		t.Errorf("ResumeName = %q, %v", name, err)
	}
	for in, want := range map[string]string{
		name: "20261125T030000Z", "20261125T030000Z": "20261125T030000Z",
		"a-resume-later": "a-resume-later", "x-resume-20261125T030405Z-resume-20261126T000000Z": "x-resume-20261125T030405Z",
	} {
		if got := RunIDOfName(in); got != want {
			t.Errorf("RunIDOfName(%q) = %q; want %q", in, got, want)
		}
	}
	if _, err := ResumeName(strings.Repeat("r", 60), at); err == nil {
		t.Error("ResumeName of a 60-character run id = nil error; want one (the name would pass 80)")
	}
	b, err := ResumeInput(`{"unusedDays":30}`, "r1")
	if err != nil || string(b) != `{"runId":"r1","unusedDays":30}` {
		t.Errorf("ResumeInput = %s, %v", b, err)
	}
	if b, err := ResumeInput(``, "r1"); err != nil || string(b) != `{"runId":"r1"}` {
		t.Errorf("ResumeInput(empty) = %s, %v", b, err)
	}
}

func TestRedriveCountsFromTheRedrive(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	nightly := Execution{ARN: "a:nightly", Started: t0, Redriven: t0.Add(2 * time.Hour)}
	manual := Execution{ARN: "b:manual", Started: t0.Add(time.Hour)}
	if before(nightly, manual) || !before(manual, nightly) {
		t.Errorf("before(redriven nightly, manual started in between) = %v; want the manual run first", before(nightly, manual))
	}
	if !before(Execution{ARN: "a", Started: t0}, Execution{ARN: "b", Started: t0}) {
		t.Error("before with equal starts does not order by ARN")
	}
}
