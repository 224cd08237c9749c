package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// demoFlags describe the simulated organization `orgaudit run --demo`
// audits: by default tens of OUs, hundreds of accounts and several SCPs,
// with IAM's job latency scaled down so the demo takes well under a minute.
type demoFlags struct {
	enabled        bool
	ous, accounts  int
	depth          int
	seed           int64
	timeScale      float64
	iamTPS, orgTPS float64
}

func (d *demoFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&d.enabled, "demo", false, "audit a simulated organization on an embedded simulator (no AWS account needed)")
	fs.IntVar(&d.ous, "demo-ous", 40, "with --demo: OUs in the simulated organization")
	fs.IntVar(&d.accounts, "demo-accounts", 300, "with --demo: accounts in the simulated organization")
	fs.IntVar(&d.depth, "demo-depth", 4, "with --demo: OU levels under the root (1..5)")
	fs.Int64Var(&d.seed, "demo-seed", 7, "with --demo: seed of the simulated organization")
	fs.Float64Var(&d.timeScale, "demo-time-scale", 0.02, "with --demo: factor on IAM's realistic job latency (about 2-11 s)")
	fs.Float64Var(&d.iamTPS, "demo-iam-tps", 50, "with --demo: IAM requests per second before throttling")
	fs.Float64Var(&d.orgTPS, "demo-org-tps", 50, "with --demo: Organizations requests per second before throttling")
}

// demo is a running embedded simulator and the AWS configuration that
// reaches it.
type demo struct {
	org       *orgmodel.Org
	endpoint  string
	awsConfig aws.Config
	stop      func() error
}

func startDemo(ctx context.Context, f demoFlags, logger *slog.Logger) (*demo, error) {
	// Activity ends today, so "days since last access" reads naturally.
	asOf := time.Now().UTC().Truncate(24 * time.Hour)
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: f.ous, Accounts: f.accounts, Depth: f.depth, Seed: f.seed, AsOf: asOf})
	if err != nil {
		return nil, userErrorf("--demo: %v", err)
	}
	s, err := sim.New(sim.Options{
		Org:    org,
		IAM:    iamreports.Options{TimeScale: f.timeScale},
		IAMTPS: f.iamTPS, OrgTPS: f.orgTPS,
		Seed: f.seed,
	})
	if err != nil {
		return nil, userErrorf("--demo: %v", err)
	}
	endpoint, stop, err := sim.Serve(ctx, "127.0.0.1:0", s)
	if err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, "")),
		awsconfig.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		stop()
		return nil, err
	}
	return &demo{org: org, endpoint: endpoint, awsConfig: cfg, stop: stop}, nil
}
