// Command store is the Store Lambda function of the orgaudit state machine.
// Store writes the completed reports and, at the end of a run, its summary, findings, HTML report and latest.json.
package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/notify"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/pipeline"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if limit, ok := config.LambdaMemoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("aws configuration", "error", err.Error())
		os.Exit(1)
	}
	orgs, iam, s3 := config.NewClients(context.Background(), awsCfg, cfg)
	deps := pipeline.Deps{Orgs: orgs, IAM: iam, Store: objstore.NewS3(s3, cfg.Bucket, cfg.Prefix), Logger: log}
	if topic := os.Getenv(notify.EnvTopicARN); topic != "" {
		// The function's own credentials publish: the report role has no sns:Publish.
		deps.Notifier = notify.Topic{Publisher: sns.NewFromConfig(awsCfg), ARN: topic}
	}
	p := pipeline.New(cfg, deps)
	lambda.Start(p.Store)
}
