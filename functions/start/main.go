// Command start is the Start Lambda function of the orgaudit state machine.
// Start validates the run input, walks the organization, writes the run manifest and starts the first report jobs.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orgaudit/orgaudit/functions/internal/boot"
)

func main() {
	lambda.Start(boot.Pipeline(nil).Start)
}
