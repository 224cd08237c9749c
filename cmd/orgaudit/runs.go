package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sfnrun"
)

func init() {
	register(command{name: "runs", summary: "list recent runs of the deployed pipeline with their results", run: runsCommand})
}

const runsUsage = `Usage: orgaudit runs [flags] (--stack NAME | --state-machine ARN)

Lists the newest executions of the deployed state machine with what their runs
stored: run id, status, entities, failed entities, start time and duration.
STATUS is the execution's status, or PARTIAL when it succeeded with failed
entities. Entity counts come from the run's summary (or, while it runs, its
manifest) in the bucket; "-" when there is none.

Examples:
  orgaudit runs --stack orgaudit
  orgaudit runs --stack orgaudit --limit 5 --json
`

// runRow is one line of `orgaudit runs`, and its --json object.
type runRow struct {
	RunID           string     `json:"runId"`
	ExecutionArn    string     `json:"executionArn"`
	ExecutionStatus string     `json:"executionStatus"`
	RunStatus       *string    `json:"runStatus"` // the summary's status; null without one
	Entities        *int       `json:"entities"`
	Failed          *int       `json:"failed"`
	StartedAt       time.Time  `json:"startedAt"`
	StoppedAt       *time.Time `json:"stoppedAt"`
	DurationSeconds int64      `json:"durationSeconds"`
}

func runsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit runs")
	if !ok {
		return exitUsage
	}
	var d deployedFlags
	var limit int
	var asJSON bool
	fs := newFlagSet("orgaudit runs", runsUsage, stderr)
	d.register(fs, env.Bucket, env.Prefix)
	fs.IntVar(&limit, "limit", 20, "how many executions to list, newest first (1..1000)")
	fs.BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	if _, code := parseArgs(ctx, fs, args, 0, stdout, stderr); code >= 0 {
		return code
	}
	d.preferFlags(fs)
	if err := d.validate(); err != nil {
		fmt.Fprintln(stderr, "orgaudit runs:", err)
		return exitUsage
	}
	if limit < 1 || limit > 1000 {
		fmt.Fprintf(stderr, "orgaudit runs: --limit %d: want 1..1000\n", limit)
		return exitUsage
	}
	dep, err := d.resolve(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit runs:", explainSFN(err, d.stateMachine))
		return exitFailure
	}
	execs, err := sfnrun.List(ctx, dep.sfn, dep.stateMachine, "", limit)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit runs:", explainSFN(err, dep.stateMachine))
		return exitFailure
	}
	now := time.Now()
	rows := make([]runRow, 0, len(execs))
	for _, ex := range execs {
		row, err := joinRun(ctx, dep.store, ex, now)
		if err != nil {
			fmt.Fprintln(stderr, "orgaudit runs:", err)
			return exitFailure
		}
		rows = append(rows, row)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return exitFailure
		}
		return exitOK
	}
	if len(rows) == 0 {
		fmt.Fprintf(stdout, "No executions of %s yet.\n", dep.stateMachine)
		return exitOK
	}
	printRuns(stdout, rows)
	if dep.store == nil {
		fmt.Fprintln(stderr, "(no bucket known: pass --bucket, or --stack, for the entity counts)")
	}
	return exitOK
}

// joinRun joins an execution with what its run stored: the summary when
// there is one, else the manifest's counts.
func joinRun(ctx context.Context, store objstore.Store, ex sfnrun.Execution, now time.Time) (runRow, error) {
	row := runRow{
		RunID: ex.RunID, ExecutionArn: ex.ARN, ExecutionStatus: string(ex.Status),
		StartedAt: ex.Started.UTC(), DurationSeconds: int64(ex.Duration(now).Seconds()),
	}
	if !ex.Stopped.IsZero() {
		t := ex.Stopped.UTC()
		row.StoppedAt = &t
	}
	if store == nil {
		return row, nil
	}
	sum, err := loadSummary(ctx, store, ex.RunID)
	switch {
	case err == nil:
		row.RunStatus = &sum.Status
		row.Entities, row.Failed = &sum.Entities.Total, &sum.Entities.Failed
		return row, nil
	case !errors.Is(err, objstore.ErrNotFound):
		return row, err
	}
	m, err := manifest.Load(ctx, store, ex.RunID)
	switch {
	case err == nil:
		c := m.Counts()
		row.Entities, row.Failed = &c.Total, &c.Failed
	case !manifest.IsNotFound(err):
		return row, err
	}
	return row, nil
}

func printRuns(w io.Writer, rows []runRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tSTATUS\tENTITIES\tFAILED\tSTARTED\tDURATION")
	for _, r := range rows {
		status := r.ExecutionStatus
		if r.ExecutionStatus == "SUCCEEDED" && r.RunStatus != nil && *r.RunStatus != reportdoc.RunSucceeded {
			status = *r.RunStatus
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, status, orDash(r.Entities), orDash(r.Failed),
			r.StartedAt.Format("2006-01-02 15:04:05Z"), (time.Duration(r.DurationSeconds) * time.Second).String())
	}
	tw.Flush()
}

func orDash(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}
