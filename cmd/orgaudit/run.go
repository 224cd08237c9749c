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
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/cliflags"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/entityref"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/progress"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

func init() {
	register(command{name: "run", summary: "audit an organization: generate, wait for and store every access report", run: runCommand})
}

// runFlags is the command line of `orgaudit run`. Every flag falls back to
// the environment variable of the same meaning (docs/deploy.md lists them).
type runFlags struct {
	profile, region, roleARN, roleSession string
	entityPaths                           stringList
	includeAccounts, includePolicies      bool
	unusedDays, maxConcurrentJobs         int
	maxRunMinutes                         float64
	accountRefreshDays                    int
	out, bucket, prefix                   string
	runID, resume                         string
	progress                              string
	asJSON                                bool
	logLevel                              string
	stepBudget                            time.Duration
	demo                                  demoFlags
	set                                   map[string]bool // the flags given on the command line
	values                                map[string]string
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, err := config.FromEnvOptionalBucket(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit run:", err)
		return exitUsage
	}
	var in runFlags
	fs := flag.NewFlagSet("orgaudit run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: orgaudit run [flags]

Audits an AWS Organization: asks IAM for an Organizations access report for the
root, every OU (and, with flags, every account and attached SCP), waits for the
jobs and writes the reports, summary, findings and report.html in the same
layout as the deployed pipeline: to a local directory (--out) or to S3 (--bucket).

Credentials come from the default chain (or --profile); run it with the
management account's credentials, or --role-arn to assume a role there.
--demo audits a realistic simulated organization instead, with no AWS account.

Flags:`)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), `
Examples:
  orgaudit run --demo
  orgaudit run --profile mgmt --include-accounts --out ./audit
  orgaudit run --role-arn arn:aws:iam::111122223333:role/orgaudit-report --bucket my-audit-bucket
  orgaudit run --resume 20261125T030000Z

Exit codes: 0 every entity has a report, 1 some failed (PARTIAL) or the run
could not finish, 2 usage error, 130 interrupted (Ctrl-C) after saving the
run's progress: --resume goes on from there.`)
	}
	fs.StringVar(&in.profile, "profile", os.Getenv("AWS_PROFILE"), "AWS shared-config profile (AWS_PROFILE)")
	fs.StringVar(&in.region, "region", "", "AWS region for the clients (default: from the profile, else us-east-1)")
	fs.StringVar(&in.roleARN, "role-arn", env.ReportRoleARN, "report role to assume for every IAM and Organizations call (ORGAUDIT_REPORT_ROLE_ARN)")
	fs.StringVar(&in.roleSession, "role-session", env.ReportRoleSession, "session name for --role-arn (ORGAUDIT_REPORT_ROLE_SESSION)")
	fs.Var(&in.entityPaths, "entity-path", "restrict the run to this entity: an entity path o-…/r-…[/ou-…][/account], an id (r-…, ou-…, an account id) or a unique OU or account name (repeatable)")
	fs.BoolVar(&in.includeAccounts, "include-accounts", env.IncludeAccounts, "also one report per account (ORGAUDIT_INCLUDE_ACCOUNTS)")
	fs.BoolVar(&in.includePolicies, "include-policies", env.IncludePolicies, "also one report per (entity, attached SCP) (ORGAUDIT_INCLUDE_POLICIES)")
	fs.IntVar(&in.unusedDays, "unused-days", env.UnusedDays, "a service not accessed for this many days is unused (ORGAUDIT_UNUSED_DAYS)")
	fs.IntVar(&in.maxConcurrentJobs, "max-concurrent-jobs", env.MaxConcurrentJobs, "report jobs running at once; IAM allows about one per account (ORGAUDIT_MAX_CONCURRENT_JOBS)")
	fs.Float64Var(&in.maxRunMinutes, "max-run-minutes", env.MaxRunMinutes, "time budget of the run in minutes: jobs that do not fit end with BudgetExhausted (ORGAUDIT_MAX_RUN_MINUTES)")
	fs.IntVar(&in.accountRefreshDays, "account-refresh-days", env.AccountRefreshDays, "age in days at which a carried account report is refreshed first (ORGAUDIT_ACCOUNT_REFRESH_DAYS)")
	fs.StringVar(&in.out, "out", "orgaudit-out", "local directory to write to, when --bucket is not set")
	fs.StringVar(&in.bucket, "bucket", env.Bucket, "S3 bucket to write to instead of --out (ORGAUDIT_BUCKET)")
	fs.StringVar(&in.prefix, "prefix", env.Prefix, "key prefix inside --out or --bucket (ORGAUDIT_PREFIX)")
	fs.StringVar(&in.runID, "run-id", "", "run id (default: the UTC start time, e.g. 20261125T030000Z)")
	fs.StringVar(&in.resume, "resume", "", "resume the stopped run with this id")
	fs.StringVar(&in.progress, "progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), bar, log, none")
	fs.BoolVar(&in.asJSON, "json", false, "print the run's summary.json on stdout instead of the summary table (progress stays on stderr)")
	fs.StringVar(&in.logLevel, "log-level", "warn", "level of the JSON logs on stderr: debug, info, warn, error")
	fs.DurationVar(&in.stepBudget, "step-budget", 2*time.Second, "how long one step works before the progress is saved and shown")
	in.demo.register(fs)
	if stop, code := cliflags.Parse(ctx, fs, args, stdout, stderr); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "orgaudit run: unexpected argument %q (flags only; see orgaudit run --help)\n", fs.Arg(0))
		return exitUsage
	}
	in.set, in.values = map[string]bool{}, map[string]string{}
	fs.Visit(func(f *flag.Flag) { in.set[f.Name], in.values[f.Name] = true, f.Value.String() })
	if err := in.validate(); err != nil {
		fmt.Fprintln(stderr, "orgaudit run:", err)
		return exitUsage
	}
	if in.resume == "" {
		// The Start step's own parser, before any call or simulator: what
		// it would refuse is refused now, in the flags' words.
		// Ids and names are looked up once the organization can be asked;
		// the paths are checked now.
		early := in
		early.entityPaths = nil
		for _, ref := range in.entityPaths {
			if entityref.IsPath(ref) {
				early.entityPaths = append(early.entityPaths, ref)
			}
		}
		id := time.Now().UTC().Format("20060102T150405Z")
		if _, err := runinput.Parse(early.runInput(id), id, config.Default()); err != nil {
			fmt.Fprintln(stderr, "orgaudit run:", explain(err, in))
			return exitUsage
		}
	}
	code, err := run(ctx, in, stdout, stderr)
	if ctx.Err() != nil && code != exitOK {
		if code != exitInterrupted {
			// Stopped before the run's manifest was written.
			fmt.Fprintln(stderr, "orgaudit run: interrupted before the run started; nothing was written")
		}
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit run:", explain(err, in))
	}
	return code
}

func (in *runFlags) validate() error {
	switch in.progress {
	case "auto", "bar", "log", "none":
	default:
		return fmt.Errorf("--progress %q: want auto, bar, log or none", in.progress)
	}
	if in.resume != "" {
		// What the manifest records is the run: a resume that asked for
		// another would audit something else under the same id. Only the
		// pacing of this execution may change (see resumeFlags).
		for _, f := range []string{"run-id", "entity-path", "include-accounts", "include-policies", "unused-days", "account-refresh-days"} {
			if in.set[f] {
				msg := fmt.Sprintf("--resume continues a run with the settings it was started with: it takes no --%s", f)
				switch f {
				case "unused-days":
					msg += fmt.Sprintf(" (to judge the stored run by another threshold: orgaudit report %s --unused-days N)", in.resume)
				case "run-id", "entity-path", "include-accounts", "include-policies":
					msg += " (start a new run for other settings)"
				}
				return errors.New(msg)
			}
		}
	}
	if in.roleARN != "" {
		if err := validRoleARN(in.roleARN); err != nil {
			name := "--role-arn"
			if !in.set["role-arn"] {
				name = config.EnvReportRoleARN
			}
			return fmt.Errorf("%s %q is not an IAM role ARN: %v", name, in.roleARN, err)
		}
	}
	if in.demo.enabled && (in.profile != "" || in.roleARN != "") {
		return errors.New("--demo runs against the embedded simulator: drop --profile and --role-arn")
	}
	if !config.ValidRunMinutes(in.maxRunMinutes) {
		return fmt.Errorf("--max-run-minutes %v: want more than 0 and at most %v minutes", in.maxRunMinutes, config.MaxRunMinutes)
	}
	if in.accountRefreshDays < config.MinAccountRefreshDays || in.accountRefreshDays > config.MaxAccountRefreshDays {
		return fmt.Errorf("--account-refresh-days %d: want %d..%d", in.accountRefreshDays, config.MinAccountRefreshDays, config.MaxAccountRefreshDays)
	}
	if in.stepBudget < 100*time.Millisecond {
		return errors.New("--step-budget must be at least 100ms")
	}
	return nil
}

// validRoleARN checks the shape STS's AssumeRole wants,
// arn:<partition>:iam::<12-digit account>:role/<path/>name, so that a typo
// is a usage error here rather than STS's ValidationError later.
func validRoleARN(s string) error {
	a, err := arn.Parse(s)
	switch {
	case err != nil:
		return errors.New("want arn:aws:iam::<account>:role/<name>")
	case a.Service != "iam":
		return fmt.Errorf("service %q, want iam (arn:aws:iam::<account>:role/<name>)", a.Service)
	case len(a.AccountID) != 12 || strings.Trim(a.AccountID, "0123456789") != "":
		return fmt.Errorf("account %q, want 12 digits", a.AccountID)
	case !strings.HasPrefix(a.Resource, "role/") || strings.HasSuffix(a.Resource, "/"):
		return fmt.Errorf("resource %q, want role/<name>", a.Resource)
	}
	return nil
}

// runInput is the execution input the flags stand for: exactly what the
// state machine would receive for the same audit.
func (in *runFlags) runInput(defaultRunID string) json.RawMessage {
	m := map[string]any{
		"runId":             defaultRunID,
		"includeAccounts":   in.includeAccounts,
		"includePolicies":   in.includePolicies,
		"unusedDays":        in.unusedDays,
		"maxConcurrentJobs": in.maxConcurrentJobs,

		"maxRunMinutes":      in.maxRunMinutes,
		"accountRefreshDays": in.accountRefreshDays,
	}
	if in.runID != "" {
		m["runId"] = in.runID
	}
	if len(in.entityPaths) > 0 {
		m["entityPaths"] = []string(in.entityPaths)
	}
	b, _ := json.Marshal(m)
	return b
}

// run audits and returns the exit code; err, when set, is printed.
func run(ctx context.Context, in runFlags, stdout, stderr io.Writer) (int, error) {
	logger := newLogger(stderr, in.logLevel)
	var awsCfg aws.Config
	var err error
	now := time.Now
	if in.demo.enabled {
		var prior objstore.Store
		if in.bucket == "" {
			prior = objstore.NewDir(in.out, in.prefix)
		}
		d, err := startDemo(ctx, in.demo, logger, prior)
		if err != nil {
			return exitFailure, err
		}
		defer d.stop()
		awsCfg, now = d.awsConfig, d.now
		fmt.Fprintf(stderr, "Simulated organization %s: %d OUs, %d accounts, %d SCPs, simulator at %s\n",
			d.org.ID, len(d.org.OUs), len(d.org.Accounts), len(d.org.Policies), d.endpoint)
		if d.timeline.after != "" {
			fmt.Fprintf(stderr, "Simulated clock %s: the organization has lived on since run %s\n",
				d.now().UTC().Format("2006-01-02 15:04Z"), d.timeline.after)
		}
	} else {
		awsCfg, err = loadAWSConfig(ctx, in.profile, in.region)
		if err != nil {
			return exitFailure, err
		}
	}

	// The SDK logs connection-reuse warnings that a retry already handles;
	// they belong in the debug log, not on the user's terminal.
	awsCfg.Logger = sdkLogger(logger)

	cfg := config.Config{
		Bucket: in.bucket, Prefix: in.prefix,
		ReportRoleARN: in.roleARN, ReportRoleSession: in.roleSession,
		UnusedDays: in.unusedDays, MaxConcurrentJobs: in.maxConcurrentJobs,
		MaxRunMinutes: in.maxRunMinutes, AccountRefreshDays: in.accountRefreshDays,
		IncludeAccounts: in.includeAccounts, IncludePolicies: in.includePolicies,
		StepBudget: in.stepBudget,
	}
	clients := newClients(ctx, awsCfg, cfg)
	if err := preflight(ctx, clients, cfg); err != nil {
		return exitFailure, err
	}
	if err := resolveEntityPaths(ctx, clients.Organizations, in.entityPaths, stderr); err != nil {
		var ue *userError
		if errors.As(err, &ue) {
			return exitUsage, err
		}
		return exitFailure, err
	}
	var store objstore.Store
	if cfg.Bucket != "" {
		store = objstore.NewS3(clients.S3, cfg.Bucket, cfg.Prefix)
	} else {
		store = objstore.NewDir(in.out, cfg.Prefix)
	}
	p := pipeline.New(cfg, pipeline.Deps{
		Orgs: clients.Organizations, IAM: clients.IAM, Store: store,
		Now: now, Logger: logger,
	})

	var state pipeline.State
	var start pipeline.StartEvent
	if in.resume != "" {
		if start, err = resumeInput(ctx, store, &in); err == nil {
			// Start finds the manifest and goes on from it, as the state
			// machine's Start does for `orgaudit start --resume`: failed
			// reports are tried again, --max-concurrent-jobs and
			// --max-run-minutes apply, and the state it returns has the
			// run's real totals from the first line on.
			state, err = p.Start(ctx, start)
		}
	} else {
		runID := time.Now().UTC().Format("20060102T150405Z")
		start = pipeline.StartEvent{ExecutionName: runID, Input: in.runInput(runID)}
		state, err = p.Start(ctx, start)
	}
	if err == nil && state.Walking {
		state, err = walk(ctx, p, start, state, in.progress, stderr)
	}
	if err != nil {
		var bad *runinput.InvalidInput
		switch {
		case errors.As(err, &bad):
			return exitUsage, err
		case ctx.Err() != nil && state.RunID != "":
			fmt.Fprintf(stderr, "\nStopped while walking the organization. Progress is saved in %s; continue with:\n  orgaudit run --resume %s%s\n",
				store.Location(state.ManifestKey), state.RunID, resumeHint(in))
			return exitInterrupted, nil
		}
		return exitFailure, err
	}
	if in.resume != "" {
		c := counts(state)
		fmt.Fprintf(stderr, "Resuming run %s: %d %s, %d done (%d failed), writing to %s\n", state.RunID, state.Total, plural(state.Total, "entity", "entities"),
			c.Done(), c.Failed, store.Location(reportdoc.RunDir(state.RunID)))
	} else {
		fmt.Fprintf(stderr, "Run %s: %d %s, writing to %s\n", state.RunID, state.Total, plural(state.Total, "entity", "entities"), store.Location(reportdoc.RunDir(state.RunID)))
	}

	bar := newReporter(in.progress, stderr)
	state, err = loop(ctx, p, state, bar)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "\nStopped. Progress is saved in %s; continue with:\n  orgaudit run --resume %s%s\n",
				store.Location(state.ManifestKey), state.RunID, resumeHint(in))
			return exitInterrupted, nil
		}
		return exitFailure, err
	}
	sum, err := loadSummary(ctx, store, state.RunID)
	if err != nil {
		return exitFailure, err
	}
	if in.asJSON {
		b, err := store.Get(ctx, reportdoc.SummaryKey(state.RunID))
		if err != nil {
			return exitFailure, fmt.Errorf("read summary: %w", err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return exitFailure, fmt.Errorf("read summary: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(out.Bytes()))
	} else {
		printSummary(stdout, sum, store, in.unusedDays)
	}
	if sum.Status != reportdoc.RunSucceeded {
		return exitFailure, nil
	}
	return exitOK, nil
}

// loop calls the steps in the state machine's order, Check then Store,
// until the run is done. It leaves out the Wait state: the deployed machine
// waits there so that no Lambda is billed while IAM works, but in-process
// Check already sleeps until the next expected completion within its
// budget, and a whole-second Wait would only slow a local run down.
func loop(ctx context.Context, p *pipeline.Pipeline, state pipeline.State, bar *progress.Reporter) (pipeline.State, error) {
	show := func(s pipeline.State) {
		if bar != nil {
			bar.Update(counts(s))
		}
	}
	show(state)
	for !state.Done {
		if err := ctx.Err(); err != nil {
			return state, err
		}
		next, err := p.Check(ctx, state)
		if err != nil {
			return state, err
		}
		state = next
		show(state)
		next, err = p.Store(ctx, state)
		if err != nil {
			return state, err
		}
		state = next
		show(state)
	}
	if bar != nil {
		bar.Finish(counts(state))
	}
	return state, nil
}

func counts(s pipeline.State) progress.Counts {
	return progress.Counts{Total: s.Total, Completed: s.Completed, Failed: s.Failed, Running: s.Running, Queued: s.Queued, Throttled: s.Throttled}
}

func newReporter(mode string, stderr io.Writer) *progress.Reporter {
	terminal, width := isTerminal(stderr)
	switch mode {
	case "none":
		return nil
	case "bar":
		terminal = true
	case "log":
		terminal = false
	}
	return progress.New(stderr, progress.Options{Terminal: terminal, Width: width})
}

func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		l.Debug(fmt.Sprintf(format, v...), "source", "aws-sdk", "classification", string(c))
	})
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// resolveEntityPaths replaces each id or name among refs by its entity
// path, looked up in the organization, and says what it found.
func resolveEntityPaths(ctx context.Context, api entityref.API, refs []string, stderr io.Writer) error {
	r := entityref.New(api)
	for i, ref := range refs {
		if entityref.IsPath(ref) {
			continue
		}
		p, err := r.Path(ctx, ref)
		if err != nil {
			var nf *entityref.NotFound
			var amb *entityref.Ambiguous
			if errors.As(err, &nf) || errors.As(err, &amb) {
				return userErrorf("--entity-path %v", err)
			}
			return fmt.Errorf("--entity-path %q: %w", ref, err)
		}
		fmt.Fprintf(stderr, "--entity-path %s: %s\n", printable(ref), p)
		refs[i] = p
	}
	return nil
}

// resumeFlags are the settings a resume may change: they pace this
// execution only.
var resumeFlags = []string{"max-concurrent-jobs", "max-run-minutes"}

// resumeInput is Start's input for resuming a stopped run: the run's own
// settings from its manifest, with the pacing flags given.
func resumeInput(ctx context.Context, store objstore.Store, in *runFlags) (pipeline.StartEvent, error) {
	var start pipeline.StartEvent
	runID := in.resume
	if err := runinput.ValidRunID(runID); err != nil {
		return start, userErrorf("--resume %q is not a run id: %v", runID, err)
	}
	key := reportdoc.ManifestKey(runID)
	m, err := manifest.Load(ctx, store, runID)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return start, userErrorf("no run %q to resume: %s does not exist (check --out, --bucket and --prefix)", runID, store.Location(key))
		}
		return start, err
	}
	s := m.Settings
	in.unusedDays = s.UnusedDays // the summary judges by the run's threshold
	input := map[string]any{
		"runId": runID, "includeAccounts": s.IncludeAccounts, "includePolicies": s.IncludePolicies,
		"unusedDays": s.UnusedDays, "maxConcurrentJobs": s.MaxConcurrentJobs,
	}
	if s.MaxRunMinutes > 0 {
		input["maxRunMinutes"] = s.MaxRunMinutes
	}
	if s.AccountRefreshDays > 0 {
		input["accountRefreshDays"] = s.AccountRefreshDays
	}
	if len(s.EntityPaths) > 0 {
		input["entityPaths"] = s.EntityPaths
	}
	if in.set["max-concurrent-jobs"] {
		input["maxConcurrentJobs"] = in.maxConcurrentJobs
	}
	if in.set["max-run-minutes"] {
		input["maxRunMinutes"] = in.maxRunMinutes
	}
	b, err := json.Marshal(input)
	if err != nil {
		return start, err
	}
	return pipeline.StartEvent{ExecutionName: runID, Input: b}, nil
}

// walk calls Start until the organization walk is done, as the state
// machine's Walk loop does, with a progress line of its own: the walk's
// total is unknown until it ends.
func walk(ctx context.Context, p *pipeline.Pipeline, start pipeline.StartEvent, st pipeline.State, mode string, stderr io.Writer) (pipeline.State, error) {
	terminal, _ := isTerminal(stderr)
	switch mode {
	case "bar":
		terminal = true
	case "log":
		terminal = false
	}
	last := time.Time{}
	show := func(s pipeline.State, final bool) {
		if mode == "none" {
			return
		}
		line := fmt.Sprintf("Walking the organization: %s OUs, %s accounts so far (%s Organizations calls, %s throttled)",
			progress.Thousands(s.WalkedOUs), progress.Thousands(s.WalkedAccounts), progress.Thousands(s.WalkCalls), progress.Thousands(s.Throttled))
		switch {
		case terminal:
			fmt.Fprintf(stderr, "\r\x1b[K%s", line)
			if final {
				fmt.Fprintln(stderr)
			}
		case final || time.Since(last) >= 10*time.Second:
			fmt.Fprintln(stderr, line)
			last = time.Now()
		}
	}
	for st.Walking {
		show(st, false)
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if st.WaitSeconds > 0 {
			// The walk was throttled: let Organizations' rate recover, as
			// the state machine's WaitWalk state does.
			if err := backoff.Sleep(ctx, time.Duration(st.WaitSeconds)*time.Second); err != nil {
				return st, err
			}
		}
		next, err := p.Start(ctx, start)
		if err != nil {
			return st, err
		}
		if !next.Walking {
			show(st, true)
		}
		st = next
	}
	return st, nil
}

// resumeHint is what `orgaudit run --resume ID` needs besides the id to
// find the run and reach the same organization: where it is stored, the
// credentials' flags, and the simulated organization's shape.
func resumeHint(in runFlags) string {
	var b strings.Builder
	if in.bucket != "" {
		fmt.Fprintf(&b, " --bucket %s", in.bucket)
	} else if in.out != "orgaudit-out" {
		fmt.Fprintf(&b, " --out %s", in.out)
	}
	for _, f := range []string{"prefix", "profile", "region", "role-arn", "role-session", "demo",
		"demo-ous", "demo-accounts", "demo-depth", "demo-seed", "demo-time-scale", "demo-iam-tps", "demo-org-tps"} {
		v, ok := in.values[f]
		switch {
		case !ok:
		case f == "demo":
			if in.demo.enabled {
				b.WriteString(" --demo")
			}
		default:
			fmt.Fprintf(&b, " --%s %s", f, shellWord(v))
		}
	}
	return b.String()
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func loadSummary(ctx context.Context, store objstore.Store, runID string) (*reportdoc.Summary, error) {
	b, err := store.Get(ctx, reportdoc.SummaryKey(runID))
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s reportdoc.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read summary %s: %w", store.Location(reportdoc.SummaryKey(runID)), err)
	}
	return &s, nil
}
