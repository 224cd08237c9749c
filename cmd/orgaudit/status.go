package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/runinput"
	"github.com/orgaudit/orgaudit/internal/sfnrun"
)

func init() {
	register(command{name: "status", summary: "follow a run of the deployed pipeline to its end and print its summary", run: statusCommand})
}

const statusUsage = `Usage: orgaudit status [flags] [RUN_ID] (--stack NAME | --state-machine ARN)

Follows the newest execution of RUN_ID (default: the newest execution) of the deployed
state machine: its status from Step Functions, its counts from the run's
manifest in the bucket, shown as ` + "`orgaudit run`" + ` shows them, and at the end the
same summary. A failed execution's error and cause are printed in one line.
--once prints where the run is now and returns.

Examples:
  orgaudit status --stack orgaudit
  orgaudit status 20261125T030000Z --stack orgaudit --once

Exit codes: 0 the execution succeeded and every entity has a report (with
--once: also while it runs), 1 it failed, was stopped, or some entities
failed (PARTIAL), 2 usage error, 130 interrupted (the execution goes on).
`

func statusCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit status")
	if !ok {
		return exitUsage
	}
	var d deployedFlags
	var once bool
	var poll time.Duration
	var mode string
	fs := newFlagSet("orgaudit status", statusUsage, stderr)
	d.register(fs, env.Bucket, env.Prefix)
	fs.BoolVar(&once, "once", false, "print the run's state now and return instead of following it")
	fs.DurationVar(&poll, "poll", 5*time.Second, "how often to ask Step Functions and read the manifest")
	fs.StringVar(&mode, "progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), bar, log, none")
	pos, code := parseArgs(ctx, fs, args, -1, stdout, stderr)
	if code >= 0 {
		return code
	}
	d.preferFlags(fs)
	if err := d.validate(); err != nil {
		fmt.Fprintln(stderr, "orgaudit status:", err)
		return exitUsage
	}
	switch {
	case len(pos) > 1:
		fmt.Fprintf(stderr, "orgaudit status: want at most one RUN_ID, got %d (see --help)\n", len(pos))
		return exitUsage
	case mode != "auto" && mode != "bar" && mode != "log" && mode != "none":
		fmt.Fprintf(stderr, "orgaudit status: --progress %q: want auto, bar, log or none\n", mode)
		return exitUsage
	case poll < time.Second:
		fmt.Fprintln(stderr, "orgaudit status: --poll must be at least 1s")
		return exitUsage
	}
	var runID string
	if len(pos) == 1 {
		runID = pos[0]
		if err := runinput.ValidRunID(runID); err != nil {
			fmt.Fprintf(stderr, "orgaudit status: RUN_ID %v\n", err)
			return exitUsage
		}
	}

	dep, err := d.resolve(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit status:", explainSFN(err, d.stateMachine))
		return exitFailure
	}
	var execARN string
	if runID == "" {
		recent, err := sfnrun.List(ctx, dep.sfn, dep.stateMachine, "", 1)
		if err != nil {
			fmt.Fprintln(stderr, "orgaudit status:", explainSFN(err, dep.stateMachine))
			return exitFailure
		}
		if len(recent) == 0 {
			fmt.Fprintf(stderr, "orgaudit status: state machine %s has no executions yet; start one with `orgaudit start %s`\n", dep.stateMachine, d.target())
			return exitFailure
		}
		execARN, runID = recent[0].ARN, recent[0].Name
	}
	var ex *sfnrun.Execution
	if execARN != "" {
		ex, err = sfnrun.Describe(ctx, dep.sfn, execARN)
	} else {
		// The run's newest execution: the one that started it, or one
		// resuming it.
		ex, err = sfnrun.Latest(ctx, dep.sfn, dep.stateMachine, runID)
	}
	if err != nil {
		if sfnrun.IsCode(err, "ExecutionDoesNotExist") {
			fmt.Fprintf(stderr, "orgaudit status: no execution %s of %s (list them with `orgaudit runs %s`)\n", runID, dep.stateMachine, d.target())
			return exitFailure
		}
		fmt.Fprintln(stderr, "orgaudit status:", explainSFN(err, dep.stateMachine))
		return exitFailure
	}
	fmt.Fprintf(stderr, "Run %s: execution %s, started %s\n  console: %s\n", ex.RunID, ex.Status, ex.Started.UTC().Format(time.RFC3339), sfnrun.ConsoleURL(ex.ARN))
	if once {
		return statusOnce(ctx, dep, ex, stdout, stderr)
	}
	hint := fmt.Sprintf("orgaudit status %s %s", ex.RunID, d.target())
	return follow(ctx, dep, ex.ARN, poll, newReporter(mode, stderr), stdout, stderr, hint)
}

// statusOnce prints where the run is: its counts while it runs, its
// summary once it has ended.
func statusOnce(ctx context.Context, dep *deployed, ex *sfnrun.Execution, stdout, stderr io.Writer) int {
	if !ex.Running() {
		days := 0
		if dep.store != nil {
			if m, err := manifest.Load(ctx, dep.store, ex.RunID); err == nil {
				days = m.Settings.UnusedDays
			}
		}
		return finished(ctx, dep, ex, days, stdout, stderr)
	}
	if dep.store == nil {
		fmt.Fprintf(stdout, "Run %s: RUNNING for %s (pass --bucket or --stack for its counts)\n", ex.RunID, ex.Duration(time.Now()).Round(time.Second))
		return exitOK
	}
	m, err := manifest.Load(ctx, dep.store, ex.RunID)
	if err != nil {
		if manifest.IsNotFound(err) {
			fmt.Fprintf(stdout, "Run %s: RUNNING for %s, walking the organization (no manifest yet)\n", ex.RunID, ex.Duration(time.Now()).Round(time.Second))
			return exitOK
		}
		fmt.Fprintln(stderr, "orgaudit status:", err)
		return exitFailure
	}
	c := manifestCounts(m)
	fmt.Fprintf(stdout, "Run %s: RUNNING for %s: %d of %s done (%d failed), %d running, %d queued\n",
		ex.RunID, ex.Duration(time.Now()).Round(time.Second), c.Done(), count(c.Total, "entity", "entities"), c.Failed, c.Running, c.Queued)
	return exitOK
}
