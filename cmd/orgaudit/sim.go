package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/cliflags"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

func init() {
	register(command{name: "sim", summary: "serve a simulated organization on the AWS wire protocols (Organizations, IAM, STS, S3)", run: simCommand})
}

// simFlags is the command line of `orgaudit sim`.
type simFlags struct {
	listen            string
	orgFile           string
	ous, accounts     int
	depth             int
	seed              int64
	asOf              string
	daily             bool
	timeScale         float64
	maxJobs           int
	jobOwner          string
	iamTPS, orgTPS    float64
	errorRate         float64
	resetRate         float64
	failJobs          float64
	failEntities      repeatedFlag
	stuckEntities     repeatedFlag
	shortPages        float64
	latency, jitter   time.Duration
	buckets           repeatedFlag
	credentials       string
	logLevel          string
	generatorFlagsSet []string
}

// repeatedFlag collects every value of a repeatable flag.
type repeatedFlag []string

func (r *repeatedFlag) String() string     { return strings.Join(*r, ",") }
func (r *repeatedFlag) Set(v string) error { *r = append(*r, v); return nil }

const simUsage = `Usage: orgaudit sim [flags]

Serves a simulated AWS Organization on one loopback endpoint that speaks the
real wire protocols of AWS Organizations, IAM access reports, STS and S3, so
the AWS CLI, the AWS SDKs and orgaudit itself run against it unchanged. It
prints the endpoint and the environment to use, then serves until interrupted.

Credentials: access key "test", secret "test" (the management account's
administrator), every set AssumeRole issues, and those of --credentials FILE,
a JSON list: [{"accessKeyId": "…", "secretAccessKey": "…",
"arn": "arn:aws:iam::<account>:user/<name>"}].

Flags:`

const simExamples = `
Examples:
  orgaudit sim
  orgaudit sim --listen 127.0.0.1:4566 --ous 200 --accounts 2000 --depth 5 --seed 42
  orgaudit sim --org testdata/org-small.json --time-scale 0.05 --bucket audit
  orgaudit sim --iam-tps 2 --org-tps 5 --error-rate 0.02 --reset-rate 0.01 --fail-jobs 0.1

Exit codes: 0 stopped by SIGINT or SIGTERM, 1 could not serve, 2 usage error.`

func simCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f simFlags
	fs := flag.NewFlagSet("orgaudit sim", flag.ContinueOnError)
	// Parse errors are reported in one line below; --help goes to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), simUsage)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), simExamples)
	}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:4566", "address to listen on, host:port (port 0 picks a free one)")
	fs.StringVar(&f.orgFile, "org", "", "organization file to serve (JSON, see testdata/); default: generate one")
	fs.IntVar(&f.ous, "ous", 40, "generated organization: number of OUs (0..1000)")
	fs.IntVar(&f.accounts, "accounts", 300, "generated organization: number of accounts, the management account included")
	fs.IntVar(&f.depth, "depth", 4, "generated organization: OU levels under the root (1..5)")
	fs.Int64Var(&f.seed, "seed", 1, "generated organization and fault injection: seed")
	fs.StringVar(&f.asOf, "as-of", "", "generated organization: the day its activity starts moving with the clock, YYYY-MM-DD (default: today, UTC)")
	fs.BoolVar(&f.daily, "daily-activity", true, "generated organization: its activity moves on with the clock after --as-of, a fifth of the accounts active on a given day (false: it stands still at --as-of)")
	fs.Float64Var(&f.timeScale, "time-scale", 1, "factor on IAM's realistic report job latency, about 2-11 s (0.01 for fast tests)")
	fs.IntVar(&f.maxJobs, "max-jobs", 1, "report jobs one account may have in progress, across callers, before ReportGenerationLimitExceeded")
	fs.StringVar(&f.jobOwner, "job-owner", iamreports.OwnerPrincipal, "who may read a report job: principal (the IAM user or role session ARN that created it) or session (only the credentials that created it)")
	fs.Float64Var(&f.iamTPS, "iam-tps", 0, "IAM requests per second before Throttling (0: unlimited)")
	fs.Float64Var(&f.orgTPS, "org-tps", 0, "Organizations requests per second before TooManyRequestsException (0: unlimited)")
	fs.Float64Var(&f.errorRate, "error-rate", 0, "fraction of requests answered with an injected 500 or 503 (0..1)")
	fs.Float64Var(&f.resetRate, "reset-rate", 0, "fraction of requests whose connection is reset without an answer, half of them after the service acted (0..1)")
	fs.Float64Var(&f.failJobs, "fail-jobs", 0, "fraction of report jobs that end FAILED (0..1)")
	fs.Var(&f.failEntities, "fail-entity", "entity id or path whose report jobs always end FAILED (repeatable)")
	fs.Var(&f.stuckEntities, "stuck-entity", "entity id or path whose report jobs never leave IN_PROGRESS (repeatable)")
	fs.Float64Var(&f.shortPages, "short-pages", 0, "fraction of report pages returned short with IsTruncated (0..1)")
	fs.DurationVar(&f.latency, "latency", 0, "network round trip added to every request of every service, half each way (e.g. 30ms; 0: loopback)")
	fs.DurationVar(&f.jitter, "latency-jitter", 0, "with --latency: each half varies uniformly within ±half of this (at most --latency)")
	fs.Var(&f.buckets, "bucket", "S3 bucket to create at start (repeatable)")
	fs.StringVar(&f.credentials, "credentials", "", "JSON file of extra credentials (see above)")
	fs.StringVar(&f.logLevel, "log-level", "warn", "log on stderr: debug, info (one line per request), warn (faults and refusals), error")
	if stop, code := cliflags.Parse(ctx, fs, args, stdout, stderr); stop {
		return code
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "ous", "accounts", "depth", "as-of", "daily-activity":
			f.generatorFlagsSet = append(f.generatorFlagsSet, "--"+fl.Name)
		}
	})
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "orgaudit sim: unexpected argument %q (flags only; see --help)\n", fs.Arg(0))
		return exitUsage
	}
	opts, level, err := f.options()
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit sim:", err)
		return exitUsage
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s, err := sim.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit sim:", err)
		return exitUsage
	}
	endpoint, stop, err := sim.Serve(ctx, f.listen, s)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit sim:", err)
		return exitFailure
	}
	printSimBanner(stdout, endpoint, s.Org(), opts.Buckets)
	<-ctx.Done()
	if err := stop(); err != nil {
		fmt.Fprintln(stderr, "orgaudit sim: stop:", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "orgaudit sim: stopped")
	return exitOK
}

// options validates the flags and builds the simulator's options.
func (f *simFlags) options() (sim.Options, slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return sim.Options{}, 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return sim.Options{}, 0, fmt.Errorf("--listen %q: want host:port", f.listen)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"--error-rate", f.errorRate}, {"--reset-rate", f.resetRate}, {"--fail-jobs", f.failJobs}, {"--short-pages", f.shortPages}} {
		if r.v < 0 || r.v > 1 {
			return sim.Options{}, 0, fmt.Errorf("%s %v: want a fraction between 0 and 1", r.name, r.v)
		}
	}
	switch {
	case f.timeScale <= 0:
		return sim.Options{}, 0, fmt.Errorf("--time-scale %v: want a positive factor", f.timeScale)
	case f.maxJobs < 1:
		return sim.Options{}, 0, fmt.Errorf("--max-jobs %d: want at least 1", f.maxJobs)
	case f.jobOwner != iamreports.OwnerPrincipal && f.jobOwner != iamreports.OwnerSession:
		return sim.Options{}, 0, fmt.Errorf("--job-owner %q: want %s or %s", f.jobOwner, iamreports.OwnerPrincipal, iamreports.OwnerSession)
	case f.iamTPS < 0 || f.orgTPS < 0:
		return sim.Options{}, 0, errors.New("--iam-tps and --org-tps must not be negative")
	case f.latency < 0 || f.jitter < 0:
		return sim.Options{}, 0, errors.New("--latency and --latency-jitter must not be negative")
	case f.jitter > f.latency:
		return sim.Options{}, 0, fmt.Errorf("--latency-jitter %s is more than --latency %s: the jitter varies each half of the round trip by at most half of it", f.jitter, f.latency)
	case f.orgFile != "" && len(f.generatorFlagsSet) > 0:
		return sim.Options{}, 0, fmt.Errorf("--org and %s exclude each other: a file or a generated organization", strings.Join(f.generatorFlagsSet, ", "))
	}
	var org *orgmodel.Org
	var err error
	if f.orgFile != "" {
		org, err = orgmodel.LoadFile(f.orgFile)
	} else {
		asOf := time.Now().UTC().Truncate(24 * time.Hour)
		if f.asOf != "" {
			asOf, err = time.Parse(time.DateOnly, f.asOf)
			if err != nil {
				return sim.Options{}, 0, fmt.Errorf("--as-of %q: want YYYY-MM-DD", f.asOf)
			}
		}
		org, err = orgmodel.Generate(orgmodel.GenerateOptions{OUs: f.ous, Accounts: f.accounts, Depth: f.depth, Seed: f.seed, AsOf: asOf, Daily: f.daily})
	}
	if err != nil {
		return sim.Options{}, 0, err
	}
	var creds []sim.Credential
	if f.credentials != "" {
		if creds, err = sim.LoadCredentials(f.credentials); err != nil {
			return sim.Options{}, 0, err
		}
	}
	return sim.Options{
		Org: org,
		IAM: iamreports.Options{
			TimeScale:     f.timeScale,
			MaxJobs:       f.maxJobs,
			JobOwner:      f.jobOwner,
			FailRate:      f.failJobs,
			FailEntities:  f.failEntities,
			StuckEntities: f.stuckEntities,
			ShortPageRate: f.shortPages,
		},
		IAMTPS:      f.iamTPS,
		OrgTPS:      f.orgTPS,
		ErrorRate:   f.errorRate,
		ResetRate:   f.resetRate,
		Credentials: creds,
		Buckets:     f.buckets,
		Seed:        f.seed,
		Network:     sim.Network{RoundTrip: f.latency, Jitter: f.jitter},
	}, level, nil
}

// printSimBanner tells the user where the simulator is and how to point
// the AWS CLI and SDKs at it.
func printSimBanner(w io.Writer, endpoint string, org *orgmodel.Org, buckets []string) {
	bucket, mb := "my-bucket", "aws s3 mb s3://my-bucket"
	if len(buckets) > 0 {
		bucket, mb = buckets[0], "aws s3 ls s3://"+buckets[0]
	}
	fmt.Fprintf(w, `orgaudit simulator listening on %s
organization %s: root %s, %d OUs, %d accounts, %d SCPs; management account %s

Point the AWS CLI and SDKs at it:
  export AWS_ENDPOINT_URL=%s
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
S3 addressing: with a numeric endpoint (127.0.0.1) the CLI and SDKs use path style
on their own; with a host name, serve <bucket>.<host> or use path style:
"aws configure set default.s3.addressing_style path", UsePathStyle in the Go SDK.

Try:
  aws organizations list-roots
  aws organizations list-organizational-units-for-parent --parent-id %s
  aws sts get-caller-identity
  aws iam generate-organizations-access-report --entity-path %s/%s
  %s
  aws s3 cp ./file s3://%s/
(AWS CLI releases older than mid-2023 ignore AWS_ENDPOINT_URL: add --endpoint-url.)

Press Ctrl-C to stop.
`, endpoint, org.ID, org.Root.ID, len(org.OUs), len(org.Accounts), len(org.Policies), org.ManagementAccountID,
		endpoint, org.Root.ID, org.ID, org.Root.ID, mb, bucket)
}
