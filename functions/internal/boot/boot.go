// Package boot builds what every Lambda function of the state machine
// starts with: the JSON logger, the memory limit, the configuration from the
// ORGAUDIT_* environment, the AWS clients and the pipeline. It lives beside
// the functions because it loads the AWS configuration, which nothing under
// internal/ does.
package boot

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/pipeline"
)

// Pipeline returns the pipeline a function runs. extra, when set, may add to
// its dependencies (the Store function's notifier). A configuration error
// ends the process before the runtime starts, so Lambda reports an init
// failure naming the variable.
func Pipeline(extra func(awsCfg aws.Config, deps *pipeline.Deps)) *pipeline.Pipeline {
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
	if extra != nil {
		extra(awsCfg, &deps)
	}
	return pipeline.New(cfg, deps)
}
