// Package sfnrun drives runs of the deployed state machine through the Step
// Functions API: it starts an execution for a run input, describes and lists
// executions, finds the stack's outputs, and keeps to one run at a time
// (Guard, called by the Start function before anything is written).
//
// An execution's name is its run id: `orgaudit start` names it so, and an
// execution started with input {} takes its name as the run id (runinput's
// default), so the name finds the run's folder in S3.
package sfnrun

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

// API is the part of Step Functions sfnrun calls, with the SDK's
// signatures (so sfn.NewListExecutionsPaginator accepts it).
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
}

// ListAPI is what Guard needs: listing only, the one permission the Start
// function has on its state machine.
type ListAPI interface {
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
}

// StacksAPI is the part of CloudFormation sfnrun calls.
type StacksAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var (
	_ API                                    = (*sfn.Client)(nil)
	_ ListAPI                                = (*sfn.Client)(nil)
	_ sfn.ListExecutionsAPIClient            = ListAPI(nil)
	_ StacksAPI                              = (*cloudformation.Client)(nil)
	_ cloudformation.DescribeStacksAPIClient = StacksAPI(nil)
)

// Execution is what sfnrun reports of one execution.
type Execution struct {
	ARN     string
	Name    string
	RunID   string // the input's runId, else the name
	Status  types.ExecutionStatus
	Started time.Time
	Stopped time.Time // zero while it runs
	Error   string    // of a FAILED, TIMED_OUT or ABORTED execution
	Cause   string
	Input   string
	// Redrives counts RedriveExecution calls; the status of a redriven
	// execution is that of its latest attempt, which began at Redriven.
	Redrives int
	Redriven time.Time
}

// began is when the execution's latest attempt began: a redrive is a new
// start as far as one run at a time is concerned.
func (e *Execution) began() time.Time {
	if e.Redriven.After(e.Started) {
		return e.Redriven
	}
	return e.Started
}

// Running reports whether the execution has not ended.
func (e *Execution) Running() bool {
	return e.Status == types.ExecutionStatusRunning || e.Status == types.ExecutionStatusPendingRedrive
}

// Duration is how long the execution ran (until now while it runs).
func (e *Execution) Duration(now time.Time) time.Duration {
	end := e.Stopped
	if end.IsZero() {
		end = now
	}
	return end.Sub(e.Started)
}

// FailureLine is the error and cause of an execution that did not succeed,
// on one line: "AlreadyRunning: run … is still running". The cause of a
// Lambda error is the function's JSON error object; its message is taken.
func (e *Execution) FailureLine() string {
	cause := causeMessage(e.Cause)
	switch {
	case e.Error == "" && cause == "":
		return string(e.Status)
	case cause == "":
		return e.Error
	case e.Error == "":
		return cause
	}
	return e.Error + ": " + cause
}

// ExecutionARN is the ARN of the execution called name of the state machine
// smARN: the two differ in the resource type and the appended name.
func ExecutionARN(smARN, name string) (string, error) {
	a, err := parseStateMachineARN(smARN)
	if err != nil {
		return "", err
	}
	a.Resource = "execution:" + strings.TrimPrefix(a.Resource, "stateMachine:") + ":" + name
	return a.String(), nil
}

// StateMachineARNOf is the state machine of an execution ARN.
func StateMachineARNOf(execARN string) (string, error) {
	a, err := arn.Parse(execARN)
	if err != nil || a.Service != "states" || !strings.HasPrefix(a.Resource, "execution:") {
		return "", fmt.Errorf("%q is not a Step Functions execution ARN", execARN)
	}
	parts := strings.Split(a.Resource, ":")
	if len(parts) < 3 {
		return "", fmt.Errorf("%q is not a Step Functions execution ARN", execARN)
	}
	a.Resource = "stateMachine:" + parts[1]
	return a.String(), nil
}

func parseStateMachineARN(s string) (arn.ARN, error) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "states" || !strings.HasPrefix(a.Resource, "stateMachine:") || strings.Count(a.Resource, ":") != 1 {
		return arn.ARN{}, fmt.Errorf("%q is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)", s)
	}
	return a, nil
}

// ValidStateMachineARN returns why s is not a state machine ARN, or nil.
func ValidStateMachineARN(s string) error {
	_, err := parseStateMachineARN(s)
	return err
}

// ConsoleURL is the execution's page in the Step Functions console.
func ConsoleURL(execARN string) string {
	a, err := arn.Parse(execARN)
	if err != nil {
		return ""
	}
	host := "console.aws.amazon.com"
	switch a.Partition {
	case "aws-cn":
		host = "console.amazonaws.cn"
	case "aws-us-gov":
		host = "console.amazonaws-us-gov.com"
	}
	return fmt.Sprintf("https://%s.%s/states/home?region=%s#/v2/executions/details/%s",
		a.Region, host, url.QueryEscape(a.Region), execARN)
}

// Describe returns the execution.
func Describe(ctx context.Context, api API, execARN string) (*Execution, error) {
	out, err := api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
	if err != nil {
		return nil, fmt.Errorf("describe execution %s: %w", execARN, err)
	}
	e := &Execution{
		ARN:      aws.ToString(out.ExecutionArn),
		Name:     aws.ToString(out.Name),
		Status:   out.Status,
		Started:  aws.ToTime(out.StartDate),
		Stopped:  aws.ToTime(out.StopDate),
		Error:    aws.ToString(out.Error),
		Cause:    aws.ToString(out.Cause),
		Input:    aws.ToString(out.Input),
		Redrives: int(aws.ToInt32(out.RedriveCount)),
		Redriven: aws.ToTime(out.RedriveDate),
	}
	if e.Name == "" {
		e.Name = e.ARN[strings.LastIndexByte(e.ARN, ':')+1:]
	}
	e.RunID = RunIDOf(e.Name, e.Input)
	return e, nil
}

// RunIDOf is the run id of an execution: its input's runId when the input
// sets one, else its name, as the Start function decides.
func RunIDOf(name, input string) string {
	if in, err := runinput.Parse([]byte(input), name, config.Default()); err == nil {
		return in.RunID
	}
	return RunIDOfName(name)
}

// List returns up to limit executions of the state machine, newest first.
// status, when set, filters them.
func List(ctx context.Context, api ListAPI, smARN string, status types.ExecutionStatus, limit int) ([]Execution, error) {
	in := &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), StatusFilter: status}
	if limit > 0 && limit <= 1000 {
		in.MaxResults = int32(limit)
	}
	pages := sfn.NewListExecutionsPaginator(api, in)
	var out []Execution
	for pages.HasMorePages() && (limit <= 0 || len(out) < limit) {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list executions of %s: %w", smARN, err)
		}
		for _, it := range page.Executions {
			out = append(out, Execution{
				ARN:      aws.ToString(it.ExecutionArn),
				Name:     aws.ToString(it.Name),
				RunID:    RunIDOfName(aws.ToString(it.Name)),
				Status:   it.Status,
				Started:  aws.ToTime(it.StartDate),
				Stopped:  aws.ToTime(it.StopDate),
				Redrives: int(aws.ToInt32(it.RedriveCount)),
				Redriven: aws.ToTime(it.RedriveDate),
			})
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Stack is what a deployed stack's outputs say about where to run.
type Stack struct {
	StateMachineARN string
	Bucket          string
}

// StackOutputs reads the StateMachineArn and BucketName outputs of the
// stack called name (template.yaml's Outputs).
func StackOutputs(ctx context.Context, api StacksAPI, name string) (Stack, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return Stack{}, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) == 0 {
		return Stack{}, fmt.Errorf("stack %s does not exist", name)
	}
	var st Stack
	for _, o := range out.Stacks[0].Outputs {
		switch aws.ToString(o.OutputKey) {
		case "StateMachineArn":
			st.StateMachineARN = aws.ToString(o.OutputValue)
		case "BucketName":
			st.Bucket = aws.ToString(o.OutputValue)
		}
	}
	if st.StateMachineARN == "" {
		return Stack{}, fmt.Errorf("stack %s has no StateMachineArn output (status %s): is it an orgaudit stack, deployed completely?", name, out.Stacks[0].StackStatus)
	}
	return st, nil
}

// IsCode reports whether err is the AWS error code.
func IsCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
