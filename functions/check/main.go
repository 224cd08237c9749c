// Command check is the Check Lambda function of the orgaudit state machine.
// Check polls the running report jobs and starts queued ones within its Lambda budget.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orgaudit/orgaudit/functions/internal/boot"
)

func main() {
	lambda.Start(boot.Pipeline(nil).Check)
}
