package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
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
	// now is the simulated clock: the wall clock, moved on to the night
	// after the output's last demo run of this organization.
	now      func() time.Time
	timeline demoTimeline
}

// startDemo starts the embedded simulator. prior is the output the run
// writes to (nil when it starts empty): its earlier demo runs of the same
// organization place this one on their timeline.
func startDemo(ctx context.Context, f demoFlags, logger *slog.Logger, prior objstore.Store) (*demo, error) {
	opts := orgmodel.GenerateOptions{OUs: f.ous, Accounts: f.accounts, Depth: f.depth, Seed: f.seed, Daily: true}
	tl := findDemoTimeline(ctx, prior, orgmodel.GeneratedID(opts), time.Now())
	opts.AsOf = tl.asOf
	org, err := orgmodel.Generate(opts)
	if err != nil {
		return nil, userErrorf("--demo: %v", err)
	}
	now := func() time.Time { return time.Now().Add(tl.offset) }
	s, err := sim.New(sim.Options{
		Org:    org,
		IAM:    iamreports.Options{TimeScale: f.timeScale, Now: now},
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
	return &demo{org: org, endpoint: endpoint, awsConfig: cfg, stop: stop, now: now, timeline: tl}, nil
}

// demoTimeline is where a demo run stands in the life of its simulated
// organization. The organization's activity moves with the simulated
// clock from asOf on (orgmodel.Daily), so that a second demo run on the
// same output shows what changed since the first.
type demoTimeline struct {
	// asOf is the day the organization's history ends and its daily
	// activity starts: the day of the output's first demo run of it, or
	// today.
	asOf time.Time
	// offset moves the wall clock to the simulated one: whole days, so
	// that a run less than a day after the last one audits the night after
	// it instead of the same activity again.
	offset time.Duration
	// after is the run this one follows, if any.
	after string
}

// demoRunGap is how long after the last demo run the next one may start
// without moving the simulated clock on by a night.
const demoRunGap = 20 * time.Hour

// findDemoTimeline reads the output's runs of the organization orgID. Any
// doubt (no output, an unreadable summary) starts a new timeline today.
func findDemoTimeline(ctx context.Context, prior objstore.Store, orgID string, wall time.Time) demoTimeline {
	tl := demoTimeline{asOf: wall.UTC().Truncate(24 * time.Hour)}
	if prior == nil {
		return tl
	}
	keys, err := prior.List(ctx, "runs/")
	if err != nil {
		return tl
	}
	var first, last *reportdoc.Summary
	for _, k := range keys { // run ids sort by their start
		if !strings.HasSuffix(k, "/summary.json") {
			continue
		}
		var sum reportdoc.Summary
		if b, err := prior.Get(ctx, k); err != nil || json.Unmarshal(b, &sum) != nil || sum.OrganizationID != orgID || sum.StartedAt == nil || sum.CompletedAt == nil {
			continue
		}
		if first == nil || sum.StartedAt.Time.Before(first.StartedAt.Time) {
			first = &sum
		}
		if last == nil || sum.CompletedAt.Time.After(last.CompletedAt.Time) {
			last = &sum
		}
	}
	if first == nil {
		return tl
	}
	tl.asOf = first.StartedAt.Time.UTC().Truncate(24 * time.Hour)
	tl.after = last.RunID
	if next := last.CompletedAt.Time.Add(demoRunGap); wall.Before(next) {
		days := next.Sub(wall)/(24*time.Hour) + 1
		tl.offset = days * 24 * time.Hour
	}
	return tl
}
