// Command echo is a stand-in for the three orgaudit functions, for checking
// the end-to-end wiring (runtime emulator, Lambda Invoke API, state machine
// runner) apart from the pipeline: Start's event becomes a State that asks for
// no wait, Check and Store hand the State back marked done, and an execution
// input with "fail": "<field>" fails Start with the named error InvalidInput.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

// InvalidInput is reported by aws-lambda-go as errorType "InvalidInput".
type InvalidInput struct{ Field string }

func (e *InvalidInput) Error() string { return fmt.Sprintf("invalid input: %s", e.Field) }

func handle(_ context.Context, ev map[string]json.RawMessage) (map[string]any, error) {
	if name, ok := ev["executionName"]; ok {
		var in struct {
			Fail *string `json:"fail"`
		}
		if err := json.Unmarshal(ev["input"], &in); err != nil {
			return nil, fmt.Errorf("decode input: %w", err)
		}
		if in.Fail != nil {
			return nil, &InvalidInput{Field: *in.Fail}
		}
		return map[string]any{"runId": name, "waitSeconds": 0, "done": false}, nil
	}
	out := make(map[string]any, len(ev)+1)
	for k, v := range ev {
		out[k] = v
	}
	out["done"] = true
	return out, nil
}

func main() { lambda.Start(handle) }
