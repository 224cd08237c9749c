// Command orgaudit-bench measures orgaudit at AWS-quota scale on the
// simulator and prints the figures of docs/benchmarks.md as Markdown.
//
//	go run ./internal/bench/cmd/orgaudit-bench [flags]
//
// It also has a hidden subcommand, "step", that runs one pipeline step in
// its own process so that the step's peak RSS can be read alone.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/orgaudit/orgaudit/internal/bench"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "step" {
		os.Exit(stepMain(os.Args[2:]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

type options struct {
	jobOwner             string
	ous, accounts, depth int
	scale                float64
	iamTPS, orgTPS       float64 // real-world rates; the bench divides them by scale
	reps, naiveReps      int
	naiveFullReps        int
	rssRun               bool
	rssMemoryMB          int
	cpuProfile           string
	naivePoll            time.Duration
	sanityOUs            int
	sanityAccounts       int
	sanityScale          float64
	sanityFullOUs        int
	sanityFullAccounts   int
	coldReps             int
	rie                  string
	skipBuild            bool
	jsonOut              string
	timeline             string
	walkTPS              []float64       // real-time Organizations rates of the walk rows
	rtts                 []time.Duration // network round trips of the realistic-latency rows
	sanityReps           int
	network              sim.Network // of the run at hand
	iamNow               func() time.Time
	nights               int
	nightBudget          time.Duration
	activeShare          float64
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("orgaudit-bench", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.ous, "ous", 1000, "OUs of the simulated organization")
	fs.IntVar(&o.accounts, "accounts", 10000, "accounts of the simulated organization")
	fs.IntVar(&o.depth, "depth", 5, "OU levels under the root")
	fs.Float64Var(&o.scale, "scale", 0.01, "time scale of the simulated job latency (1 = realistic)")
	fs.StringVar(&o.jobOwner, "job-owner", iamreports.OwnerPrincipal, "who may read a report job in the simulator: principal or session")
	fs.Float64Var(&o.iamTPS, "iam-tps", 20, "IAM request rate, in real-world requests per second (scaled with the jobs)")
	fs.Float64Var(&o.orgTPS, "org-tps", 10, "Organizations request rate, in real-world requests per second (scaled with the jobs)")
	fs.IntVar(&o.reps, "reps", 3, "runs of the pipeline per scope (medians reported)")
	fs.IntVar(&o.naiveReps, "naive-reps", 3, "runs of the naive script without accounts")
	fs.IntVar(&o.naiveFullReps, "naive-full-reps", 1, "runs of the naive script with accounts (it is the slowest part)")
	fs.BoolVar(&o.rssRun, "rss", true, "one more run with accounts, not timed, whose steps run in child processes to measure their peak RSS")
	fs.IntVar(&o.rssMemoryMB, "rss-memory", 0, "function memory size (MB) the measured steps run with, for their GOMEMLIMIT; 0: each function's own from template.yaml")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process (pipeline steps in-process and the simulator) to this file")
	fs.DurationVar(&o.naivePoll, "naive-poll", 5*time.Second, "the naive script's poll interval, real-world (scaled with the jobs)")
	fs.IntVar(&o.sanityOUs, "sanity-ous", 20, "OUs of the realistic-latency sanity run (0: skip)")
	fs.IntVar(&o.sanityAccounts, "sanity-accounts", 200, "accounts of the sanity run")
	fs.Float64Var(&o.sanityScale, "sanity-scale", 1, "time scale of the sanity runs")
	fs.IntVar(&o.sanityFullOUs, "sanity-full-ous", 5, "OUs of the realistic-latency run with accounts, orgaudit only (0: skip)")
	fs.IntVar(&o.sanityFullAccounts, "sanity-full-accounts", 40, "accounts of the realistic-latency run with accounts")
	fs.IntVar(&o.coldReps, "cold-reps", 5, "cold starts per function under aws-lambda-rie (0: skip)")
	fs.StringVar(&o.rie, "rie", "", "aws-lambda-rie binary (default: built from tools/go.mod)")
	fs.BoolVar(&o.skipBuild, "skip-build", false, "skip binary sizes and cold starts")
	fs.StringVar(&o.jsonOut, "json", "", "also write the raw figures as JSON to this file")
	fs.StringVar(&o.timeline, "timeline", "", "write the IAM calls of the last pipeline run to this file (ms since start, call, job, status)")
	rtts := fs.String("rtt", "0,30ms,120ms", "network round trips (comma-separated) the realistic-latency rows run at, each with a jitter of a quarter of it")
	fs.IntVar(&o.sanityReps, "sanity-reps", 3, "runs of orgaudit per round trip in the realistic-latency rows (medians reported); the naive script runs once")
	fs.IntVar(&o.nights, "nights", 7, "consecutive nights of the nightly schedule on the organization, its activity moving with the clock (0: skip)")
	fs.DurationVar(&o.nightBudget, "night-budget", 6*time.Hour, "each night's time budget (maxRunMinutes), real-world (scaled with the jobs)")
	fs.Float64Var(&o.activeShare, "active-share", 0.2, "share of the accounts active on a given day in the nights")
	walkTPS := fs.String("walk-tps", "10,2", "real-time Organizations rates (comma-separated, not scaled with the jobs) of the runs with accounts that measure the walk; empty: skip")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: orgaudit-bench [flags]\n\nMeasures orgaudit against its lower bound on a simulated organization and prints Markdown.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, f := range strings.Split(*rtts, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if f == "0" {
			f = "0s"
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			fmt.Fprintf(os.Stderr, "orgaudit-bench: --rtt %q: want durations such as 0,30ms,120ms\n", *rtts)
			return 2
		}
		o.rtts = append(o.rtts, d)
	}
	if len(o.rtts) == 0 {
		o.rtts = []time.Duration{0}
	}
	for _, f := range strings.Split(*walkTPS, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "orgaudit-bench: --walk-tps %q: want positive numbers\n", *walkTPS)
			return 2
		}
		o.walkTPS = append(o.walkTPS, v)
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orgaudit-bench:", err)
		return 1
	}
	return 0
}

// runResult is one run of the pipeline or of the naive script.
type runResult struct {
	Kind          string        `json:"kind"` // pipeline | naive
	Accounts      bool          `json:"includeAccounts"`
	Entities      int           `json:"entities"`
	Wall          time.Duration `json:"wallNs"`
	JobTime       time.Duration `json:"jobTimeNs"`
	WalkBound     time.Duration `json:"walkBoundNs"`
	Ratio         float64       `json:"ratio"`
	OrgCalls      int64         `json:"orgCalls"`
	IAM           iamreports.Stats
	Polls, Pages  int64
	Trace         *bench.Trace `json:"trace,omitempty"`
	ManifestBytes int64        `json:"manifestBytes"`
	Throttled     int          `json:"throttled"`
	// WalkTPS is the real-time Organizations rate of a "walk" run, and
	// OrgThrottled the Organizations answers the simulator throttled.
	WalkTPS      float64 `json:"walkTps,omitempty"`
	OrgThrottled int     `json:"orgThrottled,omitempty"`
	// RTT is the simulated network round trip; IAMThrottled the IAM
	// answers the simulator throttled.
	RTT          time.Duration `json:"rttNs"`
	IAMThrottled int           `json:"iamThrottled"`
}

// idlePerJob is the time IAM's job slot sat idle between one job and the
// next, per hand-over.
func (r runResult) idlePerJob() time.Duration {
	if r.IAM.Handovers == 0 {
		return 0
	}
	return r.IAM.SlotIdle / time.Duration(r.IAM.Handovers)
}

// perJob is n per job created.
func (r runResult) perJob(n int64) float64 {
	if r.IAM.JobsCreated == 0 {
		return 0
	}
	return float64(n) / float64(r.IAM.JobsCreated)
}

func (r runResult) bound() time.Duration { return r.JobTime + r.WalkBound }

func run(ctx context.Context, o options, w io.Writer) error {
	log := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: o.ous, Accounts: o.accounts, Depth: o.depth, Seed: 1})
	if err != nil {
		return err
	}
	log("organization: %d OUs, %d accounts, generated in %s", len(org.OUs), len(org.Accounts), time.Since(t0).Round(time.Millisecond))
	var results []runResult
	for _, accounts := range []bool{false, true} {
		if accounts && o.rssRun {
			r, err := pipelineRun(ctx, org, o.scale, o, accounts, true)
			if err != nil {
				return err
			}
			r.Kind = "rss"
			log("pipeline accounts=%v, steps measured in child processes (not timed): peak RSS %v KiB, manifest %d bytes", accounts, r.Trace.PeakRSS, r.ManifestBytes)
			results = append(results, r)
		}
		for rep := 1; rep <= o.reps; rep++ {
			r, err := pipelineRun(ctx, org, o.scale, o, accounts, false)
			if err != nil {
				return err
			}
			log("pipeline accounts=%v rep %d: %d entities, wall %s, bound %s, ratio %.3f, transitions %d",
				accounts, rep, r.Entities, r.Wall.Round(time.Millisecond), r.bound().Round(time.Millisecond), r.Ratio, r.Trace.Transitions)
			results = append(results, r)
		}
		naiveReps := o.naiveReps
		if accounts {
			naiveReps = o.naiveFullReps
		}
		for rep := 1; rep <= naiveReps; rep++ {
			r, err := naiveRun(ctx, org, o.scale, o, accounts)
			if err != nil {
				return err
			}
			log("naive accounts=%v rep %d: %d entities, wall %s, bound %s, ratio %.3f",
				accounts, rep, r.Entities, r.Wall.Round(time.Millisecond), r.bound().Round(time.Millisecond), r.Ratio)
			results = append(results, r)
		}
	}
	for _, rate := range o.walkTPS {
		// The walk at a real-time Organizations rate, the jobs scaled as
		// in the rows above: walk time is then a real figure, and the
		// bound is the jobs' time plus the walk's calls at that rate.
		ow := o
		ow.orgTPS = rate * o.scale
		r, err := pipelineRun(ctx, org, o.scale, ow, true, false)
		if err != nil {
			return err
		}
		r.Kind, r.WalkTPS = "walk", rate
		log("walk at %g TPS: %d Organizations calls (%d throttled), %d Start invocations, walk %s, wall %s, bound %s, ratio %.3f",
			rate, r.OrgCalls, r.OrgThrottled, 1+r.Trace.Walks, r.Trace.Billed["Start"].Round(time.Second), r.Wall.Round(time.Second), r.bound().Round(time.Second), r.Ratio)
		results = append(results, r)
	}
	// The realistic-latency rows, at each network round trip: orgaudit
	// sanityReps times, the naive script once (root + OUs only).
	var sanity []runResult
	for _, rtt := range o.rtts {
		or := o
		or.network = sim.Network{RoundTrip: rtt, Jitter: rtt / 4}
		if o.sanityOUs > 0 {
			small, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: o.sanityOUs, Accounts: o.sanityAccounts, Depth: min(o.depth, 3), Seed: 2})
			if err != nil {
				return err
			}
			for rep := 1; rep <= o.sanityReps; rep++ {
				r, err := pipelineRun(ctx, small, o.sanityScale, or, false, false)
				if err != nil {
					return err
				}
				log("sanity pipeline rtt %s rep %d: wall %s, bound %s, ratio %.3f, slot idle %s per job", rtt, rep, r.Wall.Round(time.Millisecond), r.bound().Round(time.Millisecond), r.Ratio, r.idlePerJob().Round(time.Millisecond))
				sanity = append(sanity, r)
			}
			if o.naiveReps > 0 {
				n, err := naiveRun(ctx, small, o.sanityScale, or, false)
				if err != nil {
					return err
				}
				log("sanity naive rtt %s: wall %s, bound %s, ratio %.3f", rtt, n.Wall.Round(time.Millisecond), n.bound().Round(time.Millisecond), n.Ratio)
				sanity = append(sanity, n)
			}
		}
		if o.sanityFullOUs > 0 {
			small, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: o.sanityFullOUs, Accounts: o.sanityFullAccounts, Depth: min(o.depth, 2), Seed: 3})
			if err != nil {
				return err
			}
			for rep := 1; rep <= o.sanityReps; rep++ {
				r, err := pipelineRun(ctx, small, o.sanityScale, or, true, false)
				if err != nil {
					return err
				}
				log("sanity pipeline with accounts rtt %s rep %d: %d entities, wall %s, bound %s, ratio %.3f, slot idle %s per job", rtt, rep, r.Entities, r.Wall.Round(time.Millisecond), r.bound().Round(time.Millisecond), r.Ratio, r.idlePerJob().Round(time.Millisecond))
				sanity = append(sanity, r)
			}
		}
	}
	var nights []nightResult
	var fullJobs int
	var fullTime time.Duration
	if o.nights > 0 {
		if nights, fullJobs, fullTime, err = nightsRun(ctx, o, log); err != nil {
			return err
		}
	}
	var bins []binaryResult
	if !o.skipBuild {
		if bins, err = binaries(ctx, o, log); err != nil {
			return err
		}
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(map[string]any{"results": results, "sanity": sanity, "nights": nights, "binaries": bins}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	report(w, o, org, results, sanity, bins)
	nightsTable(w, o, nights, fullJobs, fullTime)
	return nil
}

// environment is one simulator with clients pointed at it.
type environment struct {
	sim      *sim.Simulator
	endpoint string
	stop     func() error
	counter  *bench.CallCounter
	awsCfg   aws.Config
	orgTPS   float64
}

func newEnvironment(ctx context.Context, org *orgmodel.Org, scale float64, o options, buckets ...string) (*environment, error) {
	e := &environment{orgTPS: o.orgTPS / scale}
	s, err := sim.New(sim.Options{
		Org:     org,
		IAM:     iamreports.Options{TimeScale: scale, MaxJobs: 1, JobOwner: o.jobOwner, Now: o.iamNow},
		IAMTPS:  o.iamTPS / scale,
		OrgTPS:  e.orgTPS,
		Buckets: buckets,
		Network: o.network,
	})
	if err != nil {
		return nil, err
	}
	e.sim = s
	if e.endpoint, e.stop, err = sim.Serve(ctx, "127.0.0.1:0", s); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	e.counter = &bench.CallCounter{Next: tr}
	e.awsCfg, err = awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, "")),
		awsconfig.WithBaseEndpoint(e.endpoint),
	)
	if err != nil {
		e.stop()
		return nil, err
	}
	e.awsCfg.HTTPClient = &http.Client{Transport: e.counter}
	return e, nil
}

// walkBound is the walk's calls at the Organizations rate: the answered
// ones, since a throttled answer is not work a faster walk could skip
// having done.
func (e *environment) walkBound() time.Duration {
	calls := e.counter.Organizations() - int64(e.sim.Faults().Throttled["organizations"])
	return time.Duration(float64(calls) / e.orgTPS * float64(time.Second))
}

const benchBucket = "orgaudit-bench"

func pipelineRun(ctx context.Context, org *orgmodel.Org, scale float64, o options, accounts, withChildren bool) (runResult, error) {
	env, err := newEnvironment(ctx, org, scale, o)
	if err != nil {
		return runResult{}, err
	}
	defer env.stop()
	dir, err := os.MkdirTemp("", "orgaudit-bench-")
	if err != nil {
		return runResult{}, err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Bucket = benchBucket
	orgs, iamClient, _ := config.NewClients(ctx, env.awsCfg, cfg)
	counting := &bench.CountingIAM{API: iamClient, Record: o.timeline != ""}
	p := pipeline.New(cfg, pipeline.Deps{Orgs: orgs, IAM: counting, Store: objstore.NewDir(dir, cfg.Prefix)})
	steps := bench.Steps{P: p}
	if withChildren {
		steps.Child = childRunner(env.endpoint, dir, o.rssMemoryMB)
		steps.InChild = func(fn string, iter int, s pipeline.State) bool {
			switch fn {
			case "Start":
				return true
			case "Check":
				return iter == 1 || s.Queued == 0
			default: // Store: the first, and the last (nothing left to run)
				return iter == 1 || (s.Queued == 0 && s.Running == 0)
			}
		}
	}
	input := json.RawMessage(fmt.Sprintf(`{"includeAccounts": %v}`, accounts))
	runID := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	tr, err := bench.Drive(ctx, steps, runID, input, scale)
	if err != nil {
		return runResult{}, err
	}
	st := env.sim.IAM().Stats()
	r := runResult{
		Kind: "pipeline", Accounts: accounts, Entities: tr.Final.Total,
		Wall: tr.Wall, JobTime: st.JobDuration, WalkBound: env.walkBound(),
		OrgCalls: env.counter.Organizations(), IAM: st, Polls: counting.Polls(), Pages: counting.Pages(),
		Trace: &tr, Throttled: tr.Final.Throttled, OrgThrottled: env.sim.Faults().Throttled["organizations"],
		RTT: o.network.RoundTrip, IAMThrottled: env.sim.Faults().Throttled["iam"],
	}
	r.Ratio = float64(r.Wall) / float64(r.bound())
	if o.timeline != "" {
		if err := writeTimeline(o.timeline, counting.Events()); err != nil {
			return r, err
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(cfg.Prefix+reportdoc.ManifestKey(runID)))); err == nil {
		r.ManifestBytes = fi.Size()
	}
	if tr.Final.Failed > 0 || tr.Final.Completed != tr.Final.Total {
		return r, fmt.Errorf("run %s: %d of %d completed, %d failed", runID, tr.Final.Completed, tr.Final.Total, tr.Final.Failed)
	}
	return r, nil
}

func naiveRun(ctx context.Context, org *orgmodel.Org, scale float64, o options, accounts bool) (runResult, error) {
	env, err := newEnvironment(ctx, org, scale, o)
	if err != nil {
		return runResult{}, err
	}
	defer env.stop()
	dir, err := os.MkdirTemp("", "orgaudit-bench-naive-")
	if err != nil {
		return runResult{}, err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	orgs, _, _ := config.NewClients(ctx, env.awsCfg, cfg)
	global := env.awsCfg.Copy()
	global.Region = config.GlobalRegion
	// The script keeps the SDK's own retries, as a script would.
	iamClient := iam.NewFromConfig(global)
	poll := time.Duration(float64(o.naivePoll) * scale)
	n, err := bench.Naive(ctx, orgs, iamClient, accounts, poll, dir)
	if err != nil {
		return runResult{}, err
	}
	st := env.sim.IAM().Stats()
	r := runResult{
		Kind: "naive", Accounts: accounts, Entities: n.Entities,
		Wall: n.Wall, JobTime: st.JobDuration, WalkBound: env.walkBound(),
		OrgCalls: env.counter.Organizations(), IAM: st, Polls: int64(n.Polls),
		RTT: o.network.RoundTrip, IAMThrottled: env.sim.Faults().Throttled["iam"],
	}
	r.Ratio = float64(r.Wall) / float64(r.bound())
	return r, nil
}

// childRunner runs a step as "orgaudit-bench step" with the environment a
// Lambda function would have.
func childRunner(endpoint, dir string, memoryMB int) func(ctx context.Context, fn string, event []byte) (pipeline.State, int64, error) {
	return func(ctx context.Context, fn string, event []byte) (pipeline.State, int64, error) {
		self, err := os.Executable()
		if err != nil {
			return pipeline.State{}, 0, err
		}
		cmd := exec.CommandContext(ctx, self, "step", "-fn", fn, "-dir", dir)
		mem := bench.Functions[fn].MemoryMB
		if memoryMB > 0 {
			mem = memoryMB
		}
		cmd.Env = append(os.Environ(),
			"AWS_ENDPOINT_URL="+endpoint,
			"AWS_ACCESS_KEY_ID="+sim.DefaultAccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+sim.DefaultSecretAccessKey,
			"AWS_REGION=us-east-1",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(mem),
			config.EnvBucket+"="+benchBucket,
		)
		cmd.Stdin = bytes.NewReader(event)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return pipeline.State{}, 0, fmt.Errorf("step %s: %w: %s", fn, err, errOut.String())
		}
		var res stepResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			return pipeline.State{}, 0, fmt.Errorf("step %s: %w", fn, err)
		}
		if res.Error != "" {
			return res.State, res.PeakRSSKiB, errors.New(res.Error)
		}
		return res.State, res.PeakRSSKiB, nil
	}
}

type stepResult struct {
	State      pipeline.State `json:"state"`
	Error      string         `json:"error,omitempty"`
	PeakRSSKiB int64          `json:"peakRssKiB"`
}

// stepMain is the child: one step, built as the function's main builds it
// (memory limit, configuration from the environment, SDK clients), on a
// directory store, under the function's deadline.
func stepMain(args []string) int {
	fs := flag.NewFlagSet("step", flag.ContinueOnError)
	fn := fs.String("fn", "", "Start, Check or Store")
	dir := fs.String("dir", "", "store directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if limit, ok := config.LambdaMemoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	res := stepResult{}
	err := func() error {
		f, ok := bench.Functions[*fn]
		if !ok {
			return fmt.Errorf("unknown step %q", *fn)
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.Timeout)
		defer cancel()
		cfg, err := config.FromEnv(os.Getenv)
		if err != nil {
			return err
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		orgs, iamClient, _ := config.NewClients(ctx, awsCfg, cfg)
		p := pipeline.New(cfg, pipeline.Deps{Orgs: orgs, IAM: iamClient, Store: objstore.NewDir(*dir, cfg.Prefix), Logger: slog.New(slog.DiscardHandler)})
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		if *fn == "Start" {
			var ev pipeline.StartEvent
			if err := json.Unmarshal(in, &ev); err != nil {
				return err
			}
			res.State, err = p.Start(ctx, ev)
			return err
		}
		var s pipeline.State
		if err := json.Unmarshal(in, &s); err != nil {
			return err
		}
		if *fn == "Check" {
			res.State, err = p.Check(ctx, s)
		} else {
			res.State, err = p.Store(ctx, s)
		}
		return err
	}()
	if err != nil {
		res.Error = err.Error()
	}
	res.PeakRSSKiB = peakRSSKiB()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// peakRSSKiB reads VmHWM, the process's peak resident set, from
// /proc/self/status.
func peakRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// freePort returns a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func writeTimeline(path string, evs []bench.Event) error {
	var b bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&b, "%.1f\t%s\t%s\t%s\n", float64(e.At.Sub(evs[0].At).Microseconds())/1000, e.Op, e.JobID, e.Status)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
