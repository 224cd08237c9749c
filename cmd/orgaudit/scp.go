package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/cliflags"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpplan"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
	"github.com/orgaudit/orgaudit/internal/whatif"
)

func init() {
	register(command{name: "scp", summary: "print the SCP that would deny an entity's unused services", run: scpCommand})
}

const scpUsage = `Usage: orgaudit scp [flags] ENTITY
       orgaudit scp --plan [flags] [ENTITY]

Prints the services ENTITY (an OU, account or root, by id, entity path or
unique name) has not used for the unused threshold, and the Service Control
Policy documents that would deny them: minified, each within the
5,120-character SCP quota (split into several when needed). Services on the never-deny list (sign-in,
STS, IAM, Organizations, support, billing, KMS, CloudTrail, ...) are never
denied; --keep adds to it. The management account gets no policy: SCPs do not
apply to it. Review before attaching: see the caveats printed.

With --plan, proposes the fewest policies for ENTITY (default: the root) and
everything under it: a service nobody under a node used is denied once, at the
highest such node, not once per account or OU. It keeps within AWS's SCP quotas
(5 per target, FullAWSAccess and the policies already attached included; 5,120
characters per policy; 1,000 per organization) and says which one stopped it.
Attached policies come from the run's policies.json, else its per-policy
reports (--include-policies), else every target is assumed to have
FullAWSAccess only. --strategy allow proposes allow-lists of the used services
(and the never-deny list) in place of FullAWSAccess instead. Every plan is
checked before it is printed: each document a valid SCP, no used service of any
entity with a report newly denied. See docs/plan.md.

  orgaudit scp --plan                                   # the whole organization
  orgaudit scp --plan ou-ab12-workloads --strategy allow
  orgaudit scp --plan --exempt-principal 'arn:aws:iam::*:role/BreakGlass' \
      --exceptions exceptions.yaml --format terraform --out-dir scp-plan/
`

// scpResult is the --json output of `orgaudit scp`.
type scpResult struct {
	RunID      string                `json:"runId"`
	Entity     reportdoc.Entity      `json:"entity"`
	AsOf       *reportdoc.Time       `json:"asOf"`
	UnusedDays int                   `json:"unusedDays"`
	Unused     []string              `json:"unused"`
	LastAccess []findings.LastAccess `json:"lastAccessed"`
	Kept       []string              `json:"kept"`
	Policies   []string              `json:"policies"`
	Caveats    []string              `json:"caveats"`
	// ManagementAccount and Note say why the management account has no
	// policies.
	ManagementAccount bool   `json:"managementAccount,omitempty"`
	Note              string `json:"note,omitempty"`
	// Verdict, Breaks and Unchecked are the what-if check of the
	// policies (see findings.SCPFinding); absent when the run records no
	// SCPs.
	Verdict   string   `json:"verdict,omitempty"`
	Breaks    []string `json:"breaks,omitempty"`
	Unchecked string   `json:"unchecked,omitempty"`
}

func scpCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit scp")
	if !ok {
		return exitUsage
	}
	var st storeFlags
	var runID, keep string
	var asJSON bool
	var pf planFlags
	fs := newFlagSet("orgaudit scp", scpUsage, stderr)
	st.register(fs, env)
	fs.BoolVar(&pf.plan, "plan", false, "propose the fewest policies for ENTITY's subtree (default: the root) instead of one entity's suggestion")
	fs.StringVar(&pf.strategy, "strategy", "deny", "with --plan: deny (deny the unused services) or allow (allow-lists of the used ones in place of FullAWSAccess)")
	fs.Var(&pf.exempt, "exempt-principal", "with --plan: an ARN pattern of principals the plan's denials do not apply to, such as arn:aws:iam::*:role/BreakGlass (repeatable)")
	fs.StringVar(&pf.exceptions, "exceptions", "", "with --plan: YAML or JSON file of services to keep per entity, each with a reason and an optional expiry (see docs/plan.md)")
	fs.StringVar(&pf.format, "format", "", "with --plan: print the plan as json, terraform, cloudformation or cli (AWS CLI commands) instead of a summary")
	fs.BoolVar(&pf.ousOnly, "ous-only", false, "with --plan: attach policies to the root and OUs only, never to accounts (fewer policies; accounts' use still counts)")
	fs.IntVar(&pf.existing, "existing-policies", 0, "with --plan: SCPs the organization holds now, unattached ones included (default: the distinct policies attached in the run, at least FullAWSAccess)")
	fs.StringVar(&pf.outDir, "out-dir", "", "with --plan: write plan.json and one file per policy in --format (default json) to this directory")
	fs.StringVar(&runID, "run", aliasLatest, "run to read: an id, latest (the newest finished run, latest.json) or previous (the run it was compared with)")
	fs.StringVar(&keep, "keep", "", "comma-separated namespaces never to deny, added to the default list")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	pos, code := parseArgs(ctx, fs, args, -1, stdout, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case pf.plan && len(pos) > 1:
		fmt.Fprintf(stderr, "orgaudit scp: --plan takes at most 1 argument (the entity), got %d (see --help)\n", len(pos))
		return exitUsage
	case !pf.plan && len(pos) != 1:
		fmt.Fprintf(stderr, "orgaudit scp: want 1 argument, got %d (see orgaudit scp --help)\n", len(pos))
		return exitUsage
	case !pf.plan && (pf.format != "" || pf.outDir != "" || pf.exceptions != "" || len(pf.exempt) > 0 || pf.strategy != "deny" || pf.existing != 0 || pf.ousOnly):
		fmt.Fprintln(stderr, "orgaudit scp: --strategy, --exempt-principal, --exceptions, --ous-only, --existing-policies, --format and --out-dir need --plan")
		return exitUsage
	case pf.existing < 0 || pf.existing > scpplan.MaxPoliciesPerOrganization:
		fmt.Fprintf(stderr, "orgaudit scp: --existing-policies %d: want 1..%d\n", pf.existing, scpplan.MaxPoliciesPerOrganization)
		return exitUsage
	}
	if pf.format != "" && !slices.Contains(scpplan.Formats, pf.format) {
		fmt.Fprintf(stderr, "orgaudit scp: --format %q: want json, terraform, cloudformation or cli\n", pf.format)
		return exitUsage
	}
	if pf.outDir != "" && pf.format == "" {
		pf.format = scpplan.FormatJSON
	}
	opts := scpsuggest.Options{}
	for _, ns := range strings.Split(keep, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			if err := knownNamespace(ns); err != nil {
				fmt.Fprintf(stderr, "orgaudit scp: --keep %v\n", err)
				return exitUsage
			}
			opts.Keep = append(opts.Keep, ns)
		}
	}
	store, err := st.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
	}
	if runID == "" {
		runID = aliasLatest
	}
	if runID, err = resolveRun(ctx, store, runID); err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
	}
	run, err := loadRun(ctx, store, runID, st.unusedDays, env.UnusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
	}
	if pf.plan {
		target := ""
		if len(pos) == 1 {
			target = pos[0]
		}
		return scpPlan(ctx, store, runID, run, target, opts.Keep, pf, time.Now(), stdout, stderr)
	}
	var e *findings.Entry
	for i := range run.entries {
		x := &run.entries[i]
		if x.PolicyID == "" && (x.Entity.ID == pos[0] || x.Entity.Path == strings.TrimSuffix(pos[0], "/")) {
			e = x
			break
		}
	}
	if e == nil {
		// A unique name of an OU or account, as its report records it.
		var named []*findings.Entry
		for i := range run.entries {
			if x := &run.entries[i]; x.PolicyID == "" && x.Entity.Name == pos[0] {
				named = append(named, x)
			}
		}
		switch len(named) {
		case 0:
		case 1:
			e = named[0]
		default:
			var ms []string
			for _, x := range named {
				ms = append(ms, fmt.Sprintf("%s (%s)", x.Entity.ID, printable(x.Entity.Path)))
			}
			fmt.Fprintf(stderr, "orgaudit scp: %q names %d entities of run %s: %s; give one's id or entity path\n", printable(pos[0]), len(named), runID, strings.Join(ms, ", "))
			return exitUsage
		}
	}
	if e == nil {
		fmt.Fprintf(stderr, "orgaudit scp: run %s has no report for entity %q (give an id such as ou-…, an entity path o-…/r-…/…, or a name)\n", runID, printable(pos[0]))
		return exitFailure
	}
	if e.Digest == nil {
		msg := "no details"
		if e.Error != nil {
			msg = e.Error.Code + ": " + e.Error.Message
		}
		fmt.Fprintf(stderr, "orgaudit scp: the report of %s failed in run %s (%s)\n", e.Entity.Path, runID, msg)
		return exitFailure
	}
	f, _, err := findings.Analyze(*e, run.unusedDays, opts, nil)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
	}
	s := scpsuggest.Suggestion{Kept: []string{}, Policies: []string{}}
	if !e.Management {
		if s, err = scpsuggest.Suggest(f.Unused, opts); err != nil {
			fmt.Fprintln(stderr, "orgaudit scp:", err)
			return exitFailure
		}
	}
	if len(s.Policies) > 0 && f.SCP != nil {
		// Every suggestion is checked by the what-if evaluator when the run
		// recorded its SCPs.
		switch pols, err := policyset.Load(ctx, store, runID); {
		case err == nil:
			check, err := findings.NewChecker(pols, run.entries, run.managementAccountID, run.unusedDays)
			if err == nil {
				check.CheckAccounts()
				err = check.Check(&f, opts)
			}
			if err != nil {
				fmt.Fprintln(stderr, "orgaudit scp: check the suggestion:", err)
				return exitFailure
			}
		case !errors.Is(err, policyset.ErrNoPolicies):
			fmt.Fprintln(stderr, "orgaudit scp:", err)
			return exitFailure
		}
	}
	var verdict, unchecked string
	var breaks []string
	if f.SCP != nil {
		verdict, unchecked, breaks = f.SCP.Verdict, f.SCP.Unchecked, f.SCP.Breaks
	}
	if asJSON {
		out, _ := json.MarshalIndent(scpResult{
			Verdict: verdict, Unchecked: unchecked, Breaks: breaks,
			RunID: runID, Entity: e.Entity, AsOf: f.AsOf, UnusedDays: run.unusedDays,
			Unused: f.Unused, LastAccess: f.LastAccessed, Kept: s.Kept, Policies: s.Policies, Caveats: findings.Caveats,
			ManagementAccount: f.ManagementAccount, Note: f.Note,
		}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		return exitOK
	}
	printSCP(stdout, runID, run.unusedDays, f, s)
	return exitOK
}

func printSCP(w io.Writer, runID string, days int, f findings.EntityFindings, s scpsuggest.Suggestion) {
	name := f.Entity.Name
	if name == "" {
		name = f.Entity.ID
	}
	kind := f.Entity.Type
	if f.ManagementAccount {
		kind = "management account"
	}
	fmt.Fprintf(w, "%s (%s, %s)\n%s\n", printable(name), printable(f.Entity.ID), kind, printable(f.Entity.Path))
	asOf := ""
	if f.AsOf != nil {
		b, _ := f.AsOf.MarshalJSON()
		asOf = strings.Trim(string(b), `"`)
	}
	fmt.Fprintf(w, "Run %s, report as of %s\n\n", runID, asOf)
	fmt.Fprintf(w, "%d of %s not accessed for %s (%d never accessed):\n", len(f.Unused), count(f.Listed, "listed service", "listed services"), count(days, "day", "days"), f.NeverAccessed)
	ages := map[string]int{}
	for _, l := range f.LastAccessed {
		ages[l.Namespace] = l.Days
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAMESPACE\tSERVICE\tLAST ACCESS")
	for _, ns := range f.Unused {
		last := "never"
		if d, ok := ages[ns]; ok {
			last = fmt.Sprintf("%d days ago", d)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", ns, serviceName(ns), last)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(s.Kept) > 0 {
		fmt.Fprintf(w, "Never denied (kept): %s\n\n", strings.Join(s.Kept, ", "))
	}
	switch {
	case f.ManagementAccount:
		fmt.Fprintln(w, "No SCP suggested.", f.Note)
	case len(s.Policies) == 0:
		fmt.Fprintln(w, "Nothing to deny.")
	default:
		if len(s.Policies) == 1 {
			fmt.Fprintf(w, "Suggested SCP: 1 document, at most %d characters.\n", scpsuggest.MaxPolicySize)
		} else {
			fmt.Fprintf(w, "Suggested SCP: %d documents, each at most %d characters; attach all of them.\n", len(s.Policies), scpsuggest.MaxPolicySize)
		}
		for i, p := range s.Policies {
			fmt.Fprintf(w, "--- policy %d of %d (%d characters) ---\n%s\n", i+1, len(s.Policies), len(p), p)
		}
		printSuggestionVerdict(w, days, f.SCP)
	}
	printCaveats(w)
}

// printSuggestionVerdict prints the what-if check of a suggestion.
func printSuggestionVerdict(w io.Writer, days int, scp *findings.SCPFinding) {
	switch {
	case scp == nil || (scp.Verdict == "" && scp.Unchecked == ""):
		fmt.Fprintln(w, "What-if: not checked (the run does not record its SCPs).")
	case scp.Unchecked != "":
		fmt.Fprintf(w, "What-if: not checked (%s).\n", printable(scp.Unchecked))
	case scp.Verdict == whatif.Safe:
		fmt.Fprintf(w, "What-if: SAFE, nothing used within %d days under this entity is denied (orgaudit whatif judges it the same way).\n", days)
	default:
		fmt.Fprintf(w, "What-if: BREAKS, it would deny services in use: %s.\n", strings.Join(scp.Breaks, ", "))
	}
}

// knownNamespace checks that ns is a service namespace the catalog knows,
// so that a typo in --keep does not silently keep nothing.
func knownNamespace(ns string) error {
	if _, ok := catalog.Lookup(ns); ok {
		return nil
	}
	all := catalog.All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Namespace
	}
	msg := fmt.Sprintf("%q is not a service namespace orgaudit knows", printable(ns))
	if c := cliflags.Closest(ns, names); c != "" {
		msg += fmt.Sprintf("; did you mean %s?", c)
	} else {
		msg += " (namespaces are the prefixes of IAM actions: s3, ec2, sso …)"
	}
	return errors.New(msg)
}

func serviceName(ns string) string { return printable(findings.ServiceName(ns)) }

// printable replaces control characters, so that names from reports cannot
// move the cursor or recolour the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
