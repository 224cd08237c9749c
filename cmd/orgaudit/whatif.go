package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/whatif"
)

func init() {
	register(command{name: "whatif", summary: "tell which accounts attaching an SCP would break, from a stored run", run: whatifCommand})
}

// exitBreaks is whatif's exit code when the change would deny a service in
// use.
const exitBreaks = 3

const whatifUsage = `Usage: orgaudit whatif --policy FILE|-|p-ID --target ENTITY [--detach p-ID]... [flags]

Judges, from a stored run and without calling AWS, what attaching an SCP to
ENTITY (an id, a name or an entity path: the root, an OU or an account) would
deny, and whether any account under it used one of those services within the
window. --policy is a policy document (a file, or - for standard input) or
the id of an SCP the run recorded (runs/<runId>/policies.json). --detach
removes a policy attached to ENTITY, e.g. --detach p-FullAWSAccess when an
allow-list replaces it. The management account is never affected.

A service is denied "whole" when none of its actions remains allowed (it
leaves the access reports), "partial" when some actions, some resources or
some requests (a Condition) are denied. Either, for a service used within
the window, is a break.

Exit codes: 0 SAFE (nothing used within the window is newly denied),
3 BREAKS, 1 could not evaluate, 2 usage or bad input.
`

// whatifStdin is where --policy - reads from.
var whatifStdin io.Reader = os.Stdin

var policyIDRE = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)

type whatifInput struct {
	policy, target, runID string
	detach                stringList
	days                  int
	asJSON, asMarkdown    bool
	requireAccounts       bool
}

func whatifCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "orgaudit whatif"
	env, ok := envConfig(stderr, name)
	if !ok {
		return exitUsage
	}
	var st storeFlags
	var in whatifInput
	fs := newFlagSet(name, whatifUsage, stderr)
	st.register(fs, env)
	fs.StringVar(&in.policy, "policy", "", "the SCP to attach: a JSON file, - for standard input, or the id (p-…) of a policy the run recorded")
	fs.StringVar(&in.target, "target", "", "the entity to attach it to: an id, a name or an entity path")
	fs.Var(&in.detach, "detach", "a policy id attached to the target to detach (repeatable)")
	fs.StringVar(&in.runID, "run", "", "run to read: an id, latest (the newest finished run, latest.json) or previous (the run it was compared with) (default: latest)")
	fs.IntVar(&in.days, "days", 0, "a service accessed within this many days is in use (default: --unused-days, else the run's threshold)")
	fs.BoolVar(&in.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&in.asMarkdown, "markdown", false, "print the result as a Markdown table (for a pull-request comment)")
	fs.BoolVar(&in.requireAccounts, "require-accounts", false, "refuse a run without account reports instead of judging from OU reports")
	if _, code := parseArgs(ctx, fs, args, 0, stdout, stderr); code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, name+": "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case in.policy == "":
		return usageErr("--policy is required (a policy file, - for standard input, or a policy id p-…)")
	case in.target == "":
		return usageErr("--target is required (an id, a name or an entity path)")
	case in.asJSON && in.asMarkdown:
		return usageErr("--json and --markdown exclude each other")
	case in.days != 0 && (in.days < config.MinUnusedDays || in.days > config.MaxUnusedDays):
		return usageErr("--days %d: want a number of days in %d..%d", in.days, config.MinUnusedDays, config.MaxUnusedDays)
	}
	for _, id := range in.detach {
		if !policyIDRE.MatchString(id) {
			return usageErr("--detach %q is not a policy id (p-…)", id)
		}
	}
	if in.days == 0 {
		in.days = st.unusedDays
	}
	// The candidate document is read before the store: a bad document is a
	// usage error whatever the run.
	var doc []byte
	byID := policyIDRE.MatchString(in.policy)
	if byID {
		if _, err := os.Stat(in.policy); err == nil {
			byID = false // a file of that name
		}
	}
	if !byID {
		var err error
		if in.policy == "-" {
			doc, err = io.ReadAll(whatifStdin)
		} else {
			doc, err = os.ReadFile(in.policy)
		}
		if err != nil {
			return usageErr("--policy %s: %v", in.policy, err)
		}
	}
	var candidate *scpeval.Policy
	if doc != nil {
		p, err := scpeval.Parse(doc)
		if err != nil {
			return usageErr("--policy %s: not a valid SCP: %v", in.policy, err)
		}
		candidate = p
	}

	store, err := st.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return exitFailure
	}
	res, code := whatifRun(ctx, store, in, candidate, env, stderr)
	if res == nil {
		return code
	}
	switch {
	case in.asJSON:
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "%s\n", out)
	case in.asMarkdown:
		printWhatifMarkdown(stdout, in, res)
	default:
		printWhatif(stdout, in, res)
	}
	if res.Verdict == whatif.Breaks {
		return exitBreaks
	}
	return exitOK
}

// whatifRun loads what the question needs from the store and answers it.
// A nil result comes with the exit code to stop with, the reason printed.
func whatifRun(ctx context.Context, store objstore.Store, in whatifInput, candidate *scpeval.Policy, env config.Config, stderr io.Writer) (*whatif.Result, int) {
	const name = "orgaudit whatif"
	fail := func(code int, format string, a ...any) (*whatif.Result, int) {
		fmt.Fprintf(stderr, name+": "+format+"\n", a...)
		return nil, code
	}
	runID := in.runID
	if runID == "" {
		runID = aliasLatest
	}
	runID, err := resolveRun(ctx, store, runID)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	run, err := loadRunHead(ctx, store, runID, in.days, env.UnusedDays)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	pols, err := policyset.Load(ctx, store, runID)
	if err != nil {
		if errors.Is(err, policyset.ErrNoPolicies) {
			return fail(exitFailure, "could not evaluate: run %s does not record its SCPs (%v); audit again with this version of orgaudit", runID, err)
		}
		return fail(exitFailure, "could not evaluate: %v", err)
	}
	if candidate == nil {
		p, ok := pols.Policy(in.policy)
		if !ok {
			return fail(exitUsage, "--policy %s: run %s recorded no such SCP (it records the SCPs attached in its scope); pass the document as a file", in.policy, runID)
		}
		c, err := scpeval.Parse([]byte(p.Content))
		if err != nil {
			return fail(exitFailure, "could not evaluate: policy %s of run %s: %v", p.ID, runID, err)
		}
		c.ID, c.Name = p.ID, p.Name
		candidate = c
	}
	sum := run.summary
	hasAccounts := false
	for _, l := range sum.Reports {
		if l.PolicyID == nil && reportdoc.EntityTypeOf(l.EntityID) == reportdoc.TypeAccount && l.Status == reportdoc.StatusCompleted {
			hasAccounts = true
			break
		}
	}
	if in.requireAccounts && !hasAccounts {
		return fail(exitUsage, "run %s has no account reports (--require-accounts); audit with --include-accounts", runID)
	}
	target, msg, err := resolveTarget(ctx, store, runID, sum, pols, in.target)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	if msg != "" {
		return fail(exitUsage, "%s", msg)
	}
	q := whatif.Input{Policies: pols, Candidate: candidate, Target: target.EntityID, Detach: in.detach,
		Days: run.unusedDays, ManagementAccountID: run.managementAccountID}
	for _, l := range sum.Reports {
		if l.PolicyID != nil || !(l.Path == target.Path || strings.HasPrefix(l.Path, target.Path+"/")) {
			continue
		}
		if l.Status != reportdoc.StatusCompleted {
			if l.EntityID == target.EntityID {
				return fail(exitFailure, "could not evaluate: the report of %s failed in run %s", target.Path, runID)
			}
			q.Failed = append(q.Failed, l.EntityID)
			continue
		}
		key := l.Key
		if key == "" {
			key = reportdoc.ReportKey(runID, l.EntityID, "")
		}
		var r reportdoc.EntityReport
		if err := getJSON(ctx, store, key, &r); err != nil {
			return fail(exitFailure, "could not evaluate: run %s: report of %s: %v", runID, l.Path, err)
		}
		q.Reports = append(q.Reports, whatif.FromEntityReport(&r))
	}
	res, err := whatif.Evaluate(q)
	var ie *whatif.InputError
	switch {
	case errors.As(err, &ie):
		return fail(exitUsage, "%s", ie.Msg)
	case err != nil:
		return fail(exitFailure, "could not evaluate: %v", err)
	}
	return res, exitOK
}

// resolveTarget finds the entity ENTITY names among the run's reports: by
// id, by entity path, else by name. It returns a message for the user when
// ENTITY names nothing reported.
func resolveTarget(ctx context.Context, store objstore.Store, runID string, sum *reportdoc.Summary, pols *policyset.Document, target string) (reportdoc.SummaryReport, string, error) {
	path := strings.TrimSuffix(target, "/")
	for _, l := range sum.Reports {
		if l.PolicyID == nil && (l.EntityID == target || l.Path == path) {
			return l, "", nil
		}
	}
	// By name: read the reports, root and OUs first (names live there).
	var matches []reportdoc.SummaryReport
	for _, accounts := range []bool{false, true} {
		for _, l := range sum.Reports {
			if l.PolicyID != nil || l.Status != reportdoc.StatusCompleted || (reportdoc.EntityTypeOf(l.EntityID) == reportdoc.TypeAccount) != accounts {
				continue
			}
			key := l.Key
			if key == "" {
				key = reportdoc.ReportKey(runID, l.EntityID, "")
			}
			var r reportdoc.EntityReport
			if err := getJSON(ctx, store, key, &r); err != nil {
				return reportdoc.SummaryReport{}, "", fmt.Errorf("run %s: report of %s: %w", runID, l.Path, err)
			}
			if r.Entity.Name == target {
				matches = append(matches, l)
			}
		}
		if len(matches) > 0 {
			break
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], "", nil
	case 0:
	default:
		var ids []string
		for _, m := range matches {
			ids = append(ids, m.EntityID)
		}
		return reportdoc.SummaryReport{}, fmt.Sprintf("--target %q names %d entities of run %s (%s); give an id or an entity path", target, len(matches), runID, strings.Join(ids, ", ")), nil
	}
	// Known to the organization but not reported in this run?
	known := false
	for _, l := range sum.Reports {
		for _, seg := range strings.Split(l.Path, "/") {
			known = known || seg == target
		}
	}
	for t := range pols.Attachments() {
		known = known || t == target
	}
	if known || strings.HasPrefix(path, sum.OrganizationID+"/") {
		hint := ""
		if reportdoc.EntityTypeOf(path[strings.LastIndexByte(path, '/')+1:]) == reportdoc.TypeAccount {
			hint = " (for an account, audit with --include-accounts)"
		}
		return reportdoc.SummaryReport{}, fmt.Sprintf("--target %s is not in run %s: the run has no report for it%s", printable(target), runID, hint), nil
	}
	return reportdoc.SummaryReport{}, fmt.Sprintf("--target %q: no entity of run %s has this id, entity path or name (give an id such as ou-…, an entity path o-…/r-…/…, or a name)", printable(target), runID), nil
}

// candidateName names the candidate in printed output.
func candidateName(in whatifInput) string {
	if in.policy == "-" {
		return "the policy on standard input"
	}
	return in.policy
}

func entityLabel(e reportdoc.Entity) string {
	if e.Name != "" && e.Name != e.ID {
		return fmt.Sprintf("%s (%s)", printable(e.Name), e.ID)
	}
	return e.ID
}

func printWhatif(w io.Writer, in whatifInput, res *whatif.Result) {
	fmt.Fprintf(w, "Attach %s to %s, %s\n%s\n", printable(candidateName(in)), entityLabel(res.Target), res.Target.Type, printable(res.Target.Path))
	if len(res.Detached) > 0 {
		fmt.Fprintf(w, "Detach %s\n", strings.Join(res.Detached, ", "))
	}
	basis := "account reports"
	if res.Basis == "ous" {
		basis = "root and OU reports (no account reports in the run)"
	}
	fmt.Fprintf(w, "In use: accessed within the last %d days, judged from %d %s.\n\n", res.Days, len(res.Entities), basis)
	fmt.Fprintf(w, "Newly denied, whole: %s\n", list(res.NewlyDenied.Whole))
	fmt.Fprintf(w, "Newly denied, partial: %s\n\n", list(res.NewlyDenied.Partial))
	if res.Verdict == whatif.Safe {
		fmt.Fprintf(w, "SAFE: nothing used within the last %d days is newly denied.\n", res.Days)
	} else {
		noun := "services"
		if len(res.Breaks) == 1 {
			noun = "service"
		}
		fmt.Fprintf(w, "BREAKS: %d %s in use would be denied.\n", len(res.Breaks), noun)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ENTITY\tSERVICE\tDENIAL\tLAST ACCESS\tDAYS AGO\tREGION\tLAST ACCESSOR\tACCOUNTS")
		for _, b := range res.Breaks {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n", entityLabel(b.Entity), b.Namespace, b.Denial,
				timeString(b.LastAuthenticated), b.DaysAgo, dash(b.Region), dash(printable(b.EntityPath)), b.Accounts)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nCaveats:")
	for _, c := range res.Caveats {
		fmt.Fprintln(w, "  - "+c)
	}
}

func printWhatifMarkdown(w io.Writer, in whatifInput, res *whatif.Result) {
	fmt.Fprintf(w, "### orgaudit whatif: %s\n\n", res.Verdict)
	change := fmt.Sprintf("attach `%s` to %s `%s`", md(candidateName(in)), md(entityLabel(res.Target)), res.Target.Path)
	if len(res.Detached) > 0 {
		change += ", detach `" + strings.Join(res.Detached, "`, `") + "`"
	}
	fmt.Fprintf(w, "Change: %s. In use: accessed within the last %d days.\n\n", change, res.Days)
	if res.Verdict == whatif.Safe {
		fmt.Fprintf(w, "Nothing used within the last %d days is newly denied.\n\n", res.Days)
	} else {
		fmt.Fprintln(w, "| Entity | Service | Denial | Last access | Days ago | Region | Last accessor | Accounts |")
		fmt.Fprintln(w, "|---|---|---|---|---:|---|---|---:|")
		for _, b := range res.Breaks {
			fmt.Fprintf(w, "| %s | `%s` %s | %s | %s | %d | %s | `%s` | %d |\n", md(entityLabel(b.Entity)), b.Namespace, md(serviceName(b.Namespace)),
				b.Denial, timeString(b.LastAuthenticated), b.DaysAgo, md(dash(b.Region)), md(dash(b.EntityPath)), b.Accounts)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Newly denied, whole: %s; partial: %s.\n\n", mdList(res.NewlyDenied.Whole), mdList(res.NewlyDenied.Partial))
	fmt.Fprintln(w, "<details><summary>Caveats</summary>")
	fmt.Fprintln(w)
	for _, c := range res.Caveats {
		fmt.Fprintln(w, "- "+md(c))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "</details>")
}

func timeString(t *reportdoc.Time) string {
	if t == nil {
		return "-"
	}
	b, _ := t.MarshalJSON()
	return strings.Trim(string(b), `"`)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// md makes text safe inside a Markdown table cell.
func md(s string) string {
	s = printable(s)
	return strings.NewReplacer("|", `\|`, "`", "'", "<", "&lt;", ">", "&gt;").Replace(s)
}

func mdList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return "`" + strings.Join(s, "`, `") + "`"
}
