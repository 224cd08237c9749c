package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/cliflags"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

func init() {
	register(command{name: "report", summary: "re-render a stored run's report.html from its JSON documents", run: reportCommand})
}

// storeFlags select where stored runs are read from: a local directory
// (--out, as `orgaudit run` writes it) or S3 (--bucket). Shared by report,
// diff and scp.
type storeFlags struct {
	out, bucket, prefix string
	profile, region     string
	unusedDays          int
}

func (s *storeFlags) register(fs *flag.FlagSet, env config.Config) {
	fs.StringVar(&s.out, "out", "orgaudit-out", "local directory holding the runs, when --bucket is not set")
	fs.StringVar(&s.bucket, "bucket", env.Bucket, "S3 bucket holding the runs instead of --out (ORGAUDIT_BUCKET)")
	fs.StringVar(&s.prefix, "prefix", env.Prefix, "key prefix inside --out or --bucket (ORGAUDIT_PREFIX)")
	fs.StringVar(&s.profile, "profile", os.Getenv("AWS_PROFILE"), "AWS shared-config profile for --bucket (AWS_PROFILE)")
	fs.StringVar(&s.region, "region", "", "AWS region of --bucket (default: from the profile, else us-east-1)")
	fs.Var((*daysValue)(&s.unusedDays), "unused-days", "a service not accessed for this many days is unused (default: the run's own threshold, else ORGAUDIT_UNUSED_DAYS)")
}

// daysValue is a number of days within the range a run's threshold may
// take; 0 leaves the choice to the run.
type daysValue int

func (d *daysValue) String() string { return strconv.Itoa(int(*d)) }

func (d *daysValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > config.MaxUnusedDays || (n > 0 && n < config.MinUnusedDays) {
		return fmt.Errorf("want a number of days in %d..%d", config.MinUnusedDays, config.MaxUnusedDays)
	}
	*d = daysValue(n)
	return nil
}

func (s *storeFlags) open(ctx context.Context) (objstore.Store, error) {
	if s.bucket == "" {
		return objstore.NewDir(s.out, s.prefix), nil
	}
	cfg, err := loadAWSConfig(ctx, s.profile, s.region)
	if err != nil {
		return nil, err
	}
	cfg.Logger = logging.Nop{}
	client := s3.NewFromConfig(cfg)
	// One line for a missing bucket or missing credentials, before the
	// first read names the SDK's operation.
	if err := checkBucket(ctx, client, s.bucket, ""); err != nil {
		return nil, err
	}
	return objstore.NewS3(client, s.bucket, s.prefix), nil
}

// newFlagSet returns a flag set whose --help prints usage, then the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed before or after the positional arguments,
// and checks their number (want < 0: any number). It returns the exit code
// to stop with, or -1: 0 after --help (printed on stdout), 2 after a
// mistake (one line on stderr).
func parseArgs(ctx context.Context, fs *flag.FlagSet, args []string, want int, stdout, stderr io.Writer) ([]string, int) {
	var pos []string
	for {
		if stop, code := cliflags.Parse(ctx, fs, args, stdout, stderr); stop {
			return nil, code
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if want >= 0 && len(pos) != want {
		fmt.Fprintf(stderr, "%s: want %d %s, got %d (see %s --help)\n", fs.Name(), want, plural(want, "argument", "arguments"), len(pos), fs.Name())
		return nil, exitUsage
	}
	return pos, -1
}

// storedRun is a run read back from storage.
type storedRun struct {
	summary    *reportdoc.Summary
	entries    []findings.Entry
	unusedDays int
	// managementAccountID is the account SCPs do not apply to, from
	// findings.json or the run's manifest; empty when neither says.
	managementAccountID string
}

// loadRun reads a run's summary and every entity report it lists, and
// digests them. It depends only on the stored documents (summary,
// per-entity reports), not on the pipeline's manifest. days 0 takes the
// threshold the run was finalized with (findings.json), else def.
func loadRun(ctx context.Context, store objstore.Store, runID string, days, def int) (*storedRun, error) {
	run, err := loadRunHead(ctx, store, runID, days, def)
	if err != nil {
		return nil, err
	}
	sum, mgmt := run.summary, run.managementAccountID
	days = run.unusedDays
	errs := map[string]*reportdoc.Error{}
	for _, e := range sum.Errors {
		errs[e.EntityID+"\x00"+deref(e.PolicyID)] = &reportdoc.Error{Code: e.Code, Message: e.Message}
	}
	for _, line := range sum.Reports {
		e := findings.Entry{
			Entity:     reportdoc.Entity{ID: line.EntityID, Type: reportdoc.EntityTypeOf(line.EntityID), Path: line.Path},
			PolicyID:   deref(line.PolicyID),
			Status:     line.Status,
			Management: mgmt != "" && line.EntityID == mgmt,
		}
		if line.Status != reportdoc.StatusCompleted {
			e.Error = errs[line.EntityID+"\x00"+e.PolicyID]
			run.entries = append(run.entries, e)
			continue
		}
		key := line.Key
		if key == "" {
			key = reportdoc.ReportKey(runID, line.EntityID, e.PolicyID)
		}
		var r reportdoc.EntityReport
		if err := getJSON(ctx, store, key, &r); err != nil {
			return nil, fmt.Errorf("run %s: report of %s: %w", runID, line.Path, err)
		}
		d := findings.DigestOf(&r, days)
		e.Entity, e.Digest = r.Entity, &d
		if r.Carried != nil {
			e.Freshness = r.Carried.Freshness
		}
		run.entries = append(run.entries, e)
	}
	return run, nil
}

// loadRunHead reads a run's summary, its threshold and its management
// account, without the entity reports (see loadRun).
func loadRunHead(ctx context.Context, store objstore.Store, runID string, days, def int) (*storedRun, error) {
	if runID == "" || strings.ContainsAny(runID, "/\\") || runID == "." || runID == ".." {
		return nil, fmt.Errorf("invalid run id %q", runID)
	}
	var sum reportdoc.Summary
	if err := getJSON(ctx, store, reportdoc.SummaryKey(runID), &sum); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, fmt.Errorf("no run %q: %s does not exist (check --out, --bucket and --prefix)", runID, store.Location(reportdoc.SummaryKey(runID)))
		}
		return nil, err
	}
	var doc struct {
		UnusedDays          int    `json:"unusedDays"`
		ManagementAccountID string `json:"managementAccountId"`
	}
	if err := getJSON(ctx, store, reportdoc.FindingsKey(runID), &doc); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return nil, err
	}
	if days <= 0 {
		days = doc.UnusedDays
		if days <= 0 {
			days = def
		}
	}
	mgmt := doc.ManagementAccountID
	if mgmt == "" {
		// Runs finalized before findings.json named it; the manifest
		// always has.
		var m struct {
			ManagementAccountID string `json:"managementAccountId"`
		}
		if err := getJSON(ctx, store, reportdoc.ManifestKey(runID), &m); err == nil {
			mgmt = m.ManagementAccountID
		}
	}
	return &storedRun{summary: &sum, unusedDays: days, managementAccountID: mgmt}, nil
}

func getJSON(ctx context.Context, store objstore.Store, key string, v any) error {
	b, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", store.Location(key), err)
	}
	return nil
}

// latestRunID reads latest.json.
func latestRunID(ctx context.Context, store objstore.Store) (string, error) {
	var l reportdoc.Latest
	if err := getJSON(ctx, store, reportdoc.LatestKey, &l); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return "", fmt.Errorf("no finished run yet: %s does not exist (pass --run, or check --out, --bucket and --prefix)", store.Location(reportdoc.LatestKey))
		}
		return "", err
	}
	return l.RunID, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// envConfig reads the storage settings of the environment. Unlike the
// functions, these commands need no bucket: without one they read --out.
func envConfig(stderr io.Writer, name string) (config.Config, bool) {
	c := config.Default()
	c.Bucket = strings.TrimSpace(os.Getenv(config.EnvBucket))
	if v, ok := os.LookupEnv(config.EnvPrefix); ok {
		c.Prefix = strings.TrimSpace(v)
	}
	if v := strings.TrimSpace(os.Getenv(config.EnvUnusedDays)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < config.MinUnusedDays || n > config.MaxUnusedDays {
			fmt.Fprintf(stderr, "%s: %s: %q is not a number of days in %d..%d\n", name, config.EnvUnusedDays, v, config.MinUnusedDays, config.MaxUnusedDays)
			return c, false
		}
		c.UnusedDays = n
	}
	return c, true
}

const reportUsage = `Usage: orgaudit report [flags] RUN_ID

Re-renders runs/RUN_ID/report.html from the run's stored JSON (summary.json and
the per-entity reports), for example after an upgrade of orgaudit or to apply
another --unused-days. The changes section compares with the run the summary
names as previous (or --previous). Writes the page back to the store, or to
--html FILE. RUN_ID (and --previous) may be "latest", the newest finished run,
or "previous", the run it was compared with.
`

func reportCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit report")
	if !ok {
		return exitUsage
	}
	var st storeFlags
	var previous, htmlPath string
	fs := newFlagSet("orgaudit report", reportUsage, stderr)
	st.register(fs, env)
	fs.StringVar(&previous, "previous", "", "run to compare with, an id, latest or previous (default: the summary's changes.previousRunId)")
	fs.StringVar(&htmlPath, "html", "", "write the page to this file instead of the store (- for stdout)")
	pos, code := parseArgs(ctx, fs, args, 1, stdout, stderr)
	if code >= 0 {
		return code
	}
	store, err := st.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit report:", err)
		return exitFailure
	}
	for _, name := range []*string{&pos[0], &previous} {
		if *name, err = resolveRun(ctx, store, *name); err != nil {
			fmt.Fprintln(stderr, "orgaudit report:", err)
			return exitFailure
		}
	}
	cur, err := loadRun(ctx, store, pos[0], st.unusedDays, env.UnusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit report:", err)
		return exitFailure
	}
	in := findings.Input{Summary: cur.summary, UnusedDays: cur.unusedDays, Entries: cur.entries, ManagementAccountID: cur.managementAccountID}
	switch pols, err := policyset.Load(ctx, store, pos[0]); {
	case err == nil:
		in.Policies = pols
	case !errors.Is(err, policyset.ErrNoPolicies):
		fmt.Fprintln(stderr, "orgaudit report:", err)
		return exitFailure
	}
	if previous == "" && cur.summary.Changes != nil {
		previous = cur.summary.Changes.PreviousRunID
	}
	if previous != "" {
		prev, err := loadRun(ctx, store, previous, cur.unusedDays, cur.unusedDays)
		if err != nil {
			fmt.Fprintln(stderr, "orgaudit report: previous run:", err)
			return exitFailure
		}
		in.Previous = &findings.Previous{RunID: previous, Entries: prev.entries}
	}
	sum := *cur.summary
	sum.Changes = nil // Finalize recomputes it
	in.Summary = &sum
	res, err := findings.Finalize(in)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit report:", err)
		return exitFailure
	}
	switch htmlPath {
	case "":
		key := reportdoc.HTMLKey(pos[0])
		if err := store.Put(ctx, key, res.HTML, "text/html; charset=utf-8"); err != nil {
			fmt.Fprintln(stderr, "orgaudit report:", err)
			return exitFailure
		}
		fmt.Fprintln(stdout, store.Location(key))
	case "-":
		if _, err := stdout.Write(res.HTML); err != nil {
			return exitFailure
		}
	default:
		if err := os.WriteFile(htmlPath, res.HTML, 0o644); err != nil {
			fmt.Fprintln(stderr, "orgaudit report:", err)
			return exitFailure
		}
		fmt.Fprintln(stdout, htmlPath)
	}
	return exitOK
}
