package sfnrun

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// ExecutionExists is the error of a start whose run id already names an
// execution of the state machine (Step Functions keeps execution names
// unique for 90 days after an execution ends).
type ExecutionExists struct {
	Execution *Execution
}

func (e *ExecutionExists) Error() string {
	x := e.Execution
	return fmt.Sprintf("run %s already has an execution (%s, started %s): %s",
		x.Name, x.Status, x.Started.UTC().Format(time.RFC3339), x.ARN)
}

// Start starts an execution of smARN called runID with input, after
// checking that no execution of that name exists (*ExecutionExists) and
// that no other execution runs (*AlreadyRunning). The Start function checks
// the latter again, for executions started otherwise (the schedule, the
// console) or in between.
func Start(ctx context.Context, api API, smARN, runID string, input []byte) (*Execution, error) {
	execARN, err := ExecutionARN(smARN, runID)
	if err != nil {
		return nil, err
	}
	if existing, err := Describe(ctx, api, execARN); err == nil {
		return nil, &ExecutionExists{Execution: existing}
	} else if !IsCode(err, "ExecutionDoesNotExist") {
		return nil, err
	}
	if err := Guard(ctx, api, smARN, ""); err != nil {
		return nil, err
	}
	out, err := api.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(smARN),
		Name:            aws.String(runID),
		Input:           aws.String(string(input)),
	})
	if err != nil {
		if IsCode(err, "ExecutionAlreadyExists") {
			// Started in between, under the same name.
			if existing, derr := Describe(ctx, api, execARN); derr == nil {
				return nil, &ExecutionExists{Execution: existing}
			}
		}
		return nil, fmt.Errorf("start execution %s of %s: %w", runID, smARN, err)
	}
	return &Execution{
		ARN:     aws.ToString(out.ExecutionArn),
		Name:    runID,
		RunID:   runID,
		Status:  "RUNNING",
		Started: aws.ToTime(out.StartDate),
		Input:   string(input),
	}, nil
}
