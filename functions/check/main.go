// Command check is the Check Lambda function of the orgaudit state machine.
// Check polls the running report jobs, starts queued ones and stores the reports of
// finished jobs while it waits, within its Lambda budget.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orgaudit/orgaudit/functions/internal/boot"
)

func main() {
	lambda.Start(boot.Pipeline(nil).Check)
}
