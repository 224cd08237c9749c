// Command store is the Store Lambda function of the orgaudit state machine.
// Store writes the completed reports and, at the end of a run, its summary, findings, HTML report and latest.json.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orgaudit/orgaudit/functions/internal/boot"
	"github.com/orgaudit/orgaudit/internal/notify"
	"github.com/orgaudit/orgaudit/internal/pipeline"
)

func main() {
	p := boot.Pipeline(func(awsCfg aws.Config, deps *pipeline.Deps) {
		if topic := os.Getenv(notify.EnvTopicARN); topic != "" {
			// The function's own credentials publish: the report role has no sns:Publish.
			deps.Notifier = notify.Topic{Publisher: sns.NewFromConfig(awsCfg), ARN: topic}
		}
	})
	lambda.Start(p.Store)
}
