// Command check is the Check Lambda function of the orgaudit state machine.
// Check polls the running report jobs and starts queued ones within its Lambda budget.
package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/orgaudit/orgaudit/internal/config"
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
	p := pipeline.New(cfg, pipeline.Deps{Orgs: orgs, IAM: iam, Store: objstore.NewS3(s3, cfg.Bucket, cfg.Prefix), Logger: log})
	lambda.Start(p.Check)
}
