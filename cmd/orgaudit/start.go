package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/entityref"
	"github.com/orgaudit/orgaudit/internal/runinput"
	"github.com/orgaudit/orgaudit/internal/sfnrun"
)

func init() {
	register(command{name: "start", summary: "start a run of the deployed pipeline (Step Functions) and, with --wait, follow it", run: startCommand})
}

// startFlags is the command line of `orgaudit start`.
type startFlags struct {
	deployedFlags
	entityPaths                      stringList
	includeAccounts, includePolicies bool
	unusedDays, maxConcurrentJobs    int
	maxRunMinutes                    float64
	accountRefreshDays               int
	runID, resume                    string
	wait                             bool
	poll                             time.Duration
	progress                         string
	set                              map[string]bool // the run flags given on the command line
}

const startUsage = `Usage: orgaudit start [flags] (--stack NAME | --state-machine ARN)

Starts an execution of the deployed state machine (after ` + "`sam deploy`" + `): the same
audit as ` + "`orgaudit run`" + `, run by the Start, Check and Store functions. The
execution's name is the run id, so the run's folder is runs/<run id>/ in the
stack's bucket. Prints the execution ARN and its console page; --wait follows
the execution to its end and prints the same summary as ` + "`orgaudit run`" + `.
--resume RUN_ID continues a run whose execution failed, was stopped or timed out:
a new execution (RUN_ID-resume-<time>) with the same input goes on from the run's
manifest, keeping the stored reports and trying the failed ones again.

Run flags that are not given are left to the functions' configuration (the
stack's parameters). One run at a time: if another execution is running, start
says so and starts nothing (the Start function checks again).

Examples:
  orgaudit start --stack orgaudit --wait
  orgaudit start --stack orgaudit --include-accounts --run-id adhoc-1
  orgaudit start --state-machine arn:aws:states:eu-west-1:111122223333:stateMachine:orgaudit-auditor
  orgaudit start --stack orgaudit --resume 20261125T030000Z --wait

Exit codes: 0 started (with --wait: every entity has a report), 1 not started
(another run is running, the run id exists) or, with --wait, the run failed
or is PARTIAL, 2 usage error, 130 interrupted while following (the execution
goes on).
`

func startCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit start")
	if !ok {
		return exitUsage
	}
	var in startFlags
	fs := newFlagSet("orgaudit start", startUsage, stderr)
	in.deployedFlags.register(fs, env.Bucket, env.Prefix)
	fs.Var(&in.entityPaths, "entity-path", "restrict the run to this entity: an entity path o-…/r-…[/ou-…][/account], or an id or unique name looked up in the organization (repeatable)")
	fs.BoolVar(&in.includeAccounts, "include-accounts", false, "also one report per account (default: the stack's IncludeAccounts)")
	fs.BoolVar(&in.includePolicies, "include-policies", false, "also one report per (entity, attached SCP) (default: the stack's IncludePolicies)")
	fs.IntVar(&in.unusedDays, "unused-days", 0, "a service not accessed for this many days is unused (default: the stack's UnusedDays)")
	fs.IntVar(&in.maxConcurrentJobs, "max-concurrent-jobs", 0, "report jobs running at once (default: the stack's MaxConcurrentJobs)")
	fs.Float64Var(&in.maxRunMinutes, "max-run-minutes", 0, "time budget of the run in minutes (default: the stack's MaxRunMinutes)")
	fs.IntVar(&in.accountRefreshDays, "account-refresh-days", 0, "age in days at which a carried account report is refreshed first (default: the stack's AccountRefreshDays)")
	fs.StringVar(&in.runID, "run-id", "", "run id and execution name (default: the UTC start time, e.g. 20261125T030000Z)")
	fs.StringVar(&in.resume, "resume", "", "continue the run with this id, whose execution failed, stopped or timed out: a new execution with its input")
	fs.BoolVar(&in.wait, "wait", false, "follow the execution to its end and print the run's summary")
	fs.DurationVar(&in.poll, "poll", 5*time.Second, "with --wait: how often to ask Step Functions and read the manifest")
	fs.StringVar(&in.progress, "progress", "auto", "with --wait: auto (a bar on a terminal, lines otherwise), bar, log, none")
	if _, code := parseArgs(ctx, fs, args, 0, stdout, stderr); code >= 0 {
		return code
	}
	in.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { in.set[f.Name] = true })
	in.preferFlags(fs)
	if err := in.validate(); err != nil {
		fmt.Fprintln(stderr, "orgaudit start:", err)
		return exitUsage
	}
	if in.resume != "" {
		return resumeRun(ctx, in, stdout, stderr)
	}
	runID := in.runID
	if runID == "" {
		runID = time.Now().UTC().Format("20060102T150405Z")
	}
	if code := in.resolveEntities(ctx, stderr); code >= 0 {
		return code
	}
	input := in.input(runID)
	// The Start function's own parser: what it would refuse is refused
	// here, before any call.
	if _, err := runinput.Parse(input, runID, config.Default()); err != nil {
		var bad *runinput.InvalidInput
		if errors.As(err, &bad) {
			fmt.Fprintln(stderr, "orgaudit start:", inputError(bad))
			return exitUsage
		}
		fmt.Fprintln(stderr, "orgaudit start:", err)
		return exitUsage
	}
	return startRun(ctx, in, runID, input, stdout, stderr)
}

// resolveEntities looks up the --entity-path ids and names in the
// organization, with the caller's credentials (they need Organizations'
// read access, as the management account's have). It returns the exit code
// to stop with, or -1.
func (in *startFlags) resolveEntities(ctx context.Context, stderr io.Writer) int {
	lookup := false
	for _, ref := range in.entityPaths {
		lookup = lookup || !entityref.IsPath(ref)
	}
	if !lookup {
		return -1
	}
	cfg, err := loadAWSConfig(ctx, in.profile, "")
	if err == nil {
		cfg.Logger = logging.Nop{}
		cfg.Region = config.GlobalRegion
		err = resolveEntityPaths(ctx, organizations.NewFromConfig(cfg), in.entityPaths, stderr)
	}
	if err != nil {
		var ue *userError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "orgaudit start:", ue.msg)
			return exitUsage
		}
		fmt.Fprintln(stderr, "orgaudit start: look up --entity-path in the organization:", explainCredentials(err))
		return exitFailure
	}
	return -1
}

func (in *startFlags) validate() error {
	if err := in.deployedFlags.validate(); err != nil {
		return err
	}
	switch in.progress {
	case "auto", "bar", "log", "none":
	default:
		return fmt.Errorf("--progress %q: want auto, bar, log or none", in.progress)
	}
	if in.poll < time.Second {
		return errors.New("--poll must be at least 1s")
	}
	if in.resume != "" {
		for _, f := range []string{"run-id", "entity-path", "include-accounts", "include-policies", "unused-days", "max-concurrent-jobs", "max-run-minutes", "account-refresh-days"} {
			if in.set[f] {
				return fmt.Errorf("--resume continues a run with the input it was started with: it takes no --%s", f)
			}
		}
		if err := runinput.ValidRunID(in.resume); err != nil {
			return fmt.Errorf("--resume %v", err)
		}
	}
	return nil
}

// resumeRun starts a new execution of a run whose execution did not
// succeed, with that execution's input: the Start function finds the run's
// manifest and goes on from it, keeping the reports stored and trying the
// failed ones again.
func resumeRun(ctx context.Context, in startFlags, stdout, stderr io.Writer) int {
	dep, err := in.resolve(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit start:", explainSFN(err, in.stateMachine))
		return exitFailure
	}
	last, err := sfnrun.Latest(ctx, dep.sfn, dep.stateMachine, in.resume)
	switch {
	case sfnrun.IsCode(err, "ExecutionDoesNotExist"):
		fmt.Fprintf(stderr, "orgaudit start: --resume %s: the state machine has no execution of that run (list them with `orgaudit runs %s`)\n", in.resume, in.target())
		return exitFailure
	case err != nil:
		fmt.Fprintln(stderr, "orgaudit start:", explainSFN(err, dep.stateMachine))
		return exitFailure
	case last.Running():
		fmt.Fprintf(stderr, "orgaudit start: --resume %s: its execution %s is still running; follow it with `orgaudit status %s %s`\n", in.resume, last.Name, in.resume, in.target())
		return exitFailure
	case last.Status == "SUCCEEDED":
		fmt.Fprintf(stderr, "orgaudit start: --resume %s: its execution %s succeeded; nothing to resume\n", in.resume, last.Name)
		return exitFailure
	}
	input, err := sfnrun.ResumeInput(last.Input, in.resume)
	if err == nil {
		var name string
		if name, err = sfnrun.ResumeName(in.resume, time.Now()); err == nil {
			fmt.Fprintf(stderr, "Resuming run %s (execution %s %s: %s)\n", in.resume, last.Name, last.Status, last.FailureLine())
			return startExecution(ctx, in, dep, in.resume, name, input, stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "orgaudit start:", err)
	return exitFailure
}

// input is the execution input: the run id and the run flags given, so
// the rest comes from the functions' environment as for the schedule.
func (in *startFlags) input(runID string) []byte {
	m := map[string]any{"runId": runID}
	if len(in.entityPaths) > 0 {
		m["entityPaths"] = []string(in.entityPaths)
	}
	if in.set["include-accounts"] {
		m["includeAccounts"] = in.includeAccounts
	}
	if in.set["include-policies"] {
		m["includePolicies"] = in.includePolicies
	}
	if in.set["unused-days"] {
		m["unusedDays"] = in.unusedDays
	}
	if in.set["max-concurrent-jobs"] {
		m["maxConcurrentJobs"] = in.maxConcurrentJobs
	}
	if in.set["max-run-minutes"] {
		m["maxRunMinutes"] = in.maxRunMinutes
	}
	if in.set["account-refresh-days"] {
		m["accountRefreshDays"] = in.accountRefreshDays
	}
	b, _ := json.Marshal(m)
	return b
}

func startRun(ctx context.Context, in startFlags, runID string, input []byte, stdout, stderr io.Writer) int {
	dep, err := in.resolve(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit start:", explainSFN(err, in.stateMachine))
		return exitFailure
	}
	return startExecution(ctx, in, dep, runID, runID, input, stdout, stderr)
}

// startExecution starts the execution called name of runID and, with
// --wait, follows it.
func startExecution(ctx context.Context, in startFlags, dep *deployed, runID, name string, input []byte, stdout, stderr io.Writer) int {
	hint := fmt.Sprintf("orgaudit status %s %s", runID, in.target())
	ex, err := sfnrun.Start(ctx, dep.sfn, dep.stateMachine, name, input)
	var exists *sfnrun.ExecutionExists
	var running *sfnrun.AlreadyRunning
	switch {
	case errors.As(err, &exists):
		x := exists.Execution
		fmt.Fprintf(stderr, "orgaudit start: run %s already has an execution, %s since %s; nothing started.\n  execution: %s\n  console:   %s\n",
			runID, x.Status, x.Started.UTC().Format(time.RFC3339), x.ARN, sfnrun.ConsoleURL(x.ARN))
		if x.Running() && in.wait {
			return follow(ctx, dep, x.ARN, in.poll, newReporter(in.progress, stderr), stdout, stderr, hint)
		}
		if x.Running() {
			fmt.Fprintf(stderr, "Follow it with `%s`, or pass another --run-id.\n", hint)
		} else {
			fmt.Fprintf(stderr, "Pass another --run-id, or continue the run with `orgaudit start --resume %s %s`.\n", runID, in.target())
		}
		return exitFailure
	case errors.As(err, &running):
		fmt.Fprintf(stderr, "orgaudit start: %s; nothing started.\n  console: %s\n", running.Error(), sfnrun.ConsoleURL(running.ExecutionARN))
		return exitFailure
	case err != nil:
		fmt.Fprintln(stderr, "orgaudit start:", explainSFN(err, dep.stateMachine))
		return exitFailure
	}
	fmt.Fprintf(stdout, "Started run %s\n  execution: %s\n  console:   %s\n", runID, ex.ARN, sfnrun.ConsoleURL(ex.ARN))
	if !in.wait {
		fmt.Fprintf(stdout, "Follow it with: %s\n", hint)
		return exitOK
	}
	return follow(ctx, dep, ex.ARN, in.poll, newReporter(in.progress, stderr), stdout, stderr, hint)
}
