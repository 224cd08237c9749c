package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

func init() {
	register(command{name: "scp", summary: "print the SCP that would deny an entity's unused services", run: scpCommand})
}

const scpUsage = `Usage: orgaudit scp [flags] ENTITY

Prints the services ENTITY (an OU, account or root, by id or entity path) has
not used for the unused threshold, and the Service Control Policy documents
that would deny them: minified, each within the 5,120-character SCP quota
(split into several when needed). Services on the never-deny list (sign-in,
STS, IAM, Organizations, support, billing, KMS, CloudTrail, ...) are never
denied; --keep adds to it. The management account gets no policy: SCPs do not
apply to it. Review before attaching: see the caveats printed.
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
}

func scpCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit scp")
	if !ok {
		return exitUsage
	}
	var st storeFlags
	var runID, keep string
	var asJSON bool
	fs := newFlagSet("orgaudit scp", scpUsage, stderr)
	st.register(fs, env)
	fs.StringVar(&runID, "run", "", "run to read (default: the latest finished run, latest.json)")
	fs.StringVar(&keep, "keep", "", "comma-separated namespaces never to deny, added to the default list")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	pos, code := parseArgs(fs, args, 1, stderr)
	if code >= 0 {
		return code
	}
	opts := scpsuggest.Options{}
	for _, ns := range strings.Split(keep, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.Keep = append(opts.Keep, ns)
		}
	}
	store, err := st.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
	}
	if runID == "" {
		if runID, err = latestRunID(ctx, store); err != nil {
			fmt.Fprintln(stderr, "orgaudit scp:", err)
			return exitFailure
		}
	}
	run, err := loadRun(ctx, store, runID, st.unusedDays, env.UnusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit scp:", err)
		return exitFailure
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
		fmt.Fprintf(stderr, "orgaudit scp: run %s has no report for entity %q (give an id such as ou-… or an entity path o-…/r-…/…)\n", runID, pos[0])
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
	if asJSON {
		out, _ := json.MarshalIndent(scpResult{
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
	fmt.Fprintf(w, "%d of %d listed services not accessed for %d days (%d never accessed):\n", len(f.Unused), f.Listed, days, f.NeverAccessed)
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
		fmt.Fprintf(w, "Suggested SCP: %d document(s), each at most %d characters; attach all of them.\n", len(s.Policies), scpsuggest.MaxPolicySize)
		for i, p := range s.Policies {
			fmt.Fprintf(w, "--- policy %d of %d (%d characters) ---\n%s\n", i+1, len(s.Policies), len(p), p)
		}
	}
	printCaveats(w)
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
