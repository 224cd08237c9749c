// Command start is the Start Lambda function of the orgaudit state machine.
// Start checks that no other run is running, validates the run input, walks
// the organization and writes the run manifest. It is also the AuditFailed
// task at the end of the failure path: it ends the failed execution, or,
// when the execution was redriven, resumes its run.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/orgaudit/orgaudit/functions/internal/boot"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/sfnrun"
)

func main() {
	var states *sfn.Client
	p := boot.Pipeline(func(awsCfg aws.Config, _ *pipeline.Deps) { states = sfn.NewFromConfig(awsCfg) })
	lambda.Start(sfnrun.Handler(states, p, slog.New(slog.NewJSONHandler(os.Stdout, nil))))
}
