package sfnrun

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/orgaudit/orgaudit/internal/motoserver"
	"github.com/orgaudit/orgaudit/internal/pipeline"
)

// These tests run the real SDK client against moto_server's Step Functions
// API (JSON 1.0): moto keeps a started execution RUNNING until it is
// stopped, which is what the one-run-at-a-time checks need.

func motoSFN(t *testing.T) *sfn.Client {
	t.Helper()
	url := motoserver.Start(t)
	return sfn.New(sfn.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func createStateMachine(t *testing.T, c *sfn.Client, name string) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name:       aws.String(name),
		Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/orgaudit-states"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

func TestStartDescribeListAgainstMoto(t *testing.T) {
	ctx := context.Background()
	c := motoSFN(t)
	sm := createStateMachine(t, c, "orgaudit-auditor")

	first, err := Start(ctx, c, sm, "20261125T030000Z", []byte(`{"runId":"20261125T030000Z"}`))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	wantARN, _ := ExecutionARN(sm, "20261125T030000Z")
	if first.ARN != wantARN {
		t.Errorf("Start ARN = %s; want %s", first.ARN, wantARN)
	}
	got, err := Describe(ctx, c, first.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != types.ExecutionStatusRunning || got.RunID != "20261125T030000Z" || got.Input != `{"runId":"20261125T030000Z"}` {
		t.Errorf("Describe = %+v; want the RUNNING execution with its input", got)
	}

	// A second run while the first runs: refused before starting.
	_, err = Start(ctx, c, sm, "second", []byte(`{}`))
	var ar *AlreadyRunning
	if !errors.As(err, &ar) || ar.RunID != "20261125T030000Z" || ar.ExecutionARN != first.ARN {
		t.Fatalf("Start while running = %v; want AlreadyRunning naming %s", err, first.ARN)
	}
	// The same run id again: the existing execution is reported.
	_, err = Start(ctx, c, sm, "20261125T030000Z", []byte(`{"unusedDays":30}`))
	var ex *ExecutionExists
	if !errors.As(err, &ex) || ex.Execution.ARN != first.ARN || ex.Execution.Status != types.ExecutionStatusRunning {
		t.Fatalf("Start of an existing run id = %v; want ExecutionExists for %s", err, first.ARN)
	}

	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(first.ARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, c, sm, "20261125T030000Z", []byte(`{"runId":"20261125T030000Z"}`))
	if !errors.As(err, &ex) || ex.Execution.Status != types.ExecutionStatusAborted {
		t.Fatalf("Start of an ended run id = %v; want ExecutionExists, ABORTED", err)
	}
	second, err := Start(ctx, c, sm, "second", []byte(`{}`))
	if err != nil {
		t.Fatalf("Start once the first ended: %v", err)
	}

	all, err := List(ctx, c, sm, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ARN != second.ARN || all[1].ARN != first.ARN {
		t.Errorf("List = %+v; want second then first, newest first", all)
	}
	if all[1].Status != types.ExecutionStatusAborted || all[1].Stopped.IsZero() {
		t.Errorf("List[1] = %+v; want ABORTED with a stop date", all[1])
	}
	one, err := List(ctx, c, sm, "", 1)
	if err != nil || len(one) != 1 {
		t.Errorf("List limit 1 = %d, %v; want 1", len(one), err)
	}
}

func TestGuardOlderExecutionGoesOn(t *testing.T) {
	ctx := context.Background()
	c := motoSFN(t)
	sm := createStateMachine(t, c, "auditor")
	other := createStateMachine(t, c, "another")
	start := func(sm, name string) string {
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String(name), Input: aws.String("{}")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ExecutionArn)
	}
	older := start(sm, "nightly")
	start(other, "elsewhere") // another state machine's execution does not count
	time.Sleep(10 * time.Millisecond)
	younger := start(sm, "manual")

	if err := Guard(ctx, c, sm, older); err != nil {
		t.Errorf("Guard(older) = %v; want nil: the older execution goes on", err)
	}
	err := Guard(ctx, c, sm, younger)
	var ar *AlreadyRunning
	if !errors.As(err, &ar) || ar.RunID != "nightly" {
		t.Errorf("Guard(younger) = %v; want AlreadyRunning naming nightly", err)
	}
	// An execution not listed yet yields to every running one.
	unlisted, _ := ExecutionARN(sm, "not-yet-listed")
	if err := Guard(ctx, c, sm, unlisted); !errors.As(err, &ar) || ar.RunID != "nightly" {
		t.Errorf("Guard(unlisted) = %v; want AlreadyRunning naming the oldest, nightly", err)
	}
}

func TestOneAtATimeWritesNothingWhenAnotherRuns(t *testing.T) {
	ctx := context.Background()
	c := motoSFN(t)
	sm := createStateMachine(t, c, "auditor")
	run := func(name string) string {
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String(name), Input: aws.String("{}")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ExecutionArn)
	}
	first := run("first")
	time.Sleep(10 * time.Millisecond)
	second := run("second")

	var started []string
	step := OneAtATime(c, func(_ context.Context, ev pipeline.StartEvent) (pipeline.State, error) {
		started = append(started, ev.ExecutionName)
		return pipeline.State{RunID: ev.ExecutionName}, nil
	}, nil)
	ev := func(name, arn string) StartEvent {
		return StartEvent{StartEvent: pipeline.StartEvent{ExecutionName: name, Input: []byte("{}")}, StateMachineARN: sm, ExecutionARN: arn}
	}
	if _, err := step(ctx, ev("second", second)); err == nil {
		t.Fatal("the second execution's Start went on while the first runs")
	} else if !strings.Contains(err.Error(), "run first is still running") {
		t.Errorf("error = %q; want it to name run first", err)
	}
	st, err := step(ctx, ev("first", first))
	if err != nil || st.RunID != "first" {
		t.Fatalf("the first execution's Start = %+v, %v; want it to go on", st, err)
	}
	if len(started) != 1 || started[0] != "first" {
		t.Errorf("Start ran for %v; want only first", started)
	}

	// Without the ARNs (an older definition) the check is skipped.
	if _, err := step(ctx, StartEvent{StartEvent: pipeline.StartEvent{ExecutionName: "legacy"}}); err != nil {
		t.Errorf("event without ARNs: %v; want Start to run", err)
	}
	// A state machine that is gone: the step fails (to be retried), not run.
	gone := strings.Replace(sm, ":auditor", ":gone", 1)
	_, err = step(ctx, StartEvent{StartEvent: pipeline.StartEvent{ExecutionName: "x"}, StateMachineARN: gone, ExecutionARN: first})
	var sf *pipeline.StepFailed
	if !errors.As(err, &sf) || !IsCode(err, "StateMachineDoesNotExist") {
		t.Errorf("Start on a missing state machine = %v; want StepFailed wrapping StateMachineDoesNotExist", err)
	}
}

func TestErrorShapesFromMoto(t *testing.T) {
	ctx := context.Background()
	c := motoSFN(t)
	sm := createStateMachine(t, c, "auditor")
	missing := strings.Replace(sm, ":auditor", ":missing", 1)

	if _, err := Start(ctx, c, missing, "r1", []byte("{}")); !IsCode(err, "StateMachineDoesNotExist") {
		t.Errorf("Start on a missing state machine = %v; want StateMachineDoesNotExist", err)
	}
	if _, err := Describe(ctx, c, "arn:aws:states:us-east-1:123456789012:stateMachine:auditor"); !IsCode(err, "InvalidArn") {
		t.Errorf("Describe of a state machine ARN = %v; want InvalidArn", err)
	}
	gone, _ := ExecutionARN(sm, "never-started")
	if _, err := Describe(ctx, c, gone); !IsCode(err, "ExecutionDoesNotExist") {
		t.Errorf("Describe of a never-started execution = %v; want ExecutionDoesNotExist", err)
	}
	// Two starts under one name with different input: the second is
	// ExecutionAlreadyExists on the wire, reported as ExecutionExists.
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String("same"), Input: aws.String(`{"unusedDays":1}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String("same"), Input: aws.String(`{"unusedDays":2}`)})
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		t.Errorf("second StartExecution = %v; want ExecutionAlreadyExists", err)
	}
}
