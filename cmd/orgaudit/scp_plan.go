package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/scpplan"
	"github.com/orgaudit/orgaudit/internal/whatif"
)

// planFlags are the flags of `orgaudit scp --plan`.
type planFlags struct {
	plan       bool
	strategy   string
	exempt     multiFlag
	exceptions string
	format     string
	outDir     string
	existing   int
	ousOnly    bool
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// planSources says where a plan's attachments came from, for the reader.
const (
	attachmentsFromPolicies = "the run's policies.json"
	attachmentsFromReports  = "the run's per-policy reports (includePolicies)"
	attachmentsAssumed      = "not recorded by the run: every target is assumed to have FullAWSAccess only"
)

// scpPlan runs `orgaudit scp --plan [ENTITY]`.
func scpPlan(ctx context.Context, store objstore.Store, runID string, run *storedRun, target string, keep []string, pf planFlags, now time.Time, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "orgaudit scp --plan:", err)
		return exitFailure
	}
	strategy, err := scpplan.ParseStrategy(pf.strategy)
	if err != nil {
		fmt.Fprintf(stderr, "orgaudit scp: --strategy %q: want deny or allow\n", pf.strategy)
		return exitUsage
	}
	var exceptions []scpplan.Exception
	if pf.exceptions != "" {
		b, err := os.ReadFile(pf.exceptions)
		if err != nil {
			fmt.Fprintf(stderr, "orgaudit scp: --exceptions: %v\n", err)
			return exitUsage
		}
		if exceptions, err = scpplan.ParseExceptions(pf.exceptions, b, now); err != nil {
			fmt.Fprintf(stderr, "orgaudit scp: --exceptions %v\n", err)
			return exitUsage
		}
	}
	nodes, source, pols, err := planNodes(ctx, store, runID, run)
	if err != nil {
		return fail(err)
	}
	in := scpplan.Input{Nodes: nodes, Target: target, Strategy: strategy, Keep: keep, ExemptPrincipals: pf.exempt,
		Exceptions: exceptions, AttachmentsKnown: source != attachmentsAssumed, OrganizationPolicies: pf.existing, OUsOnly: pf.ousOnly}
	plan, err := scpplan.Make(in)
	if err != nil {
		if strings.Contains(err.Error(), "--exempt-principal") {
			fmt.Fprintln(stderr, "orgaudit scp:", err)
			return exitUsage
		}
		return fail(err)
	}
	if err := scpplan.Verify(plan, nodes); err != nil {
		return fail(fmt.Errorf("the plan failed its own check, so nothing is written (please report this): %w", err))
	}
	if err := whatifCheck(plan, run, pols); err != nil {
		return fail(fmt.Errorf("the plan failed the what-if check, so nothing is written (please report this): %w", err))
	}
	for _, e := range plan.Expired {
		fmt.Fprintf(stderr, "orgaudit scp: exception expired %s, not applied: %s keeps %s (%s)\n", e.Expires, e.EntityID, e.Service, e.Reason)
	}
	if pf.outDir != "" {
		files, err := scpplan.Files(plan, pf.format)
		if err != nil {
			return fail(err)
		}
		if err := os.MkdirAll(pf.outDir, 0o755); err != nil {
			return fail(err)
		}
		for _, f := range files {
			mode := os.FileMode(0o644)
			if strings.HasSuffix(f.Name, ".sh") {
				mode = 0o755
			}
			if err := os.WriteFile(filepath.Join(pf.outDir, f.Name), f.Data, mode); err != nil {
				return fail(err)
			}
		}
		printPlan(stdout, runID, run, plan, source)
		fmt.Fprintf(stdout, "\nWrote %d files to %s (plan.json is the index).\n", len(files), pf.outDir)
		return exitOK
	}
	if pf.format == "" {
		printPlan(stdout, runID, run, plan, source)
		return exitOK
	}
	b, err := scpplan.Write(plan, pf.format)
	if err != nil {
		return fail(err)
	}
	stdout.Write(b)
	return exitOK
}

// planNodes turns a stored run into the planner's nodes: each entity
// report's used and listed services, and the SCPs attached to each entity,
// from policies.json when the run has one, else from its per-policy
// reports.
func planNodes(ctx context.Context, store objstore.Store, runID string, run *storedRun) ([]scpplan.Node, string, *policyset.Document, error) {
	nodes, fromReports, err := findings.PlanNodes(run.entries, run.unusedDays)
	if err != nil {
		return nil, "", nil, fmt.Errorf("run %s: %w", runID, err)
	}
	source := attachmentsAssumed
	if fromReports {
		source = attachmentsFromReports
	}
	doc, err := policyset.Load(ctx, store, runID)
	switch {
	case err == nil:
		// policies.json is the truth: what it does not list has nothing
		// attached.
		source = attachmentsFromPolicies
		index := make(map[string]int, len(nodes))
		for i := range nodes {
			index[nodes[i].ID] = i
			nodes[i].Attached = []string{}
		}
		for id, ps := range doc.Attachments() {
			if i, ok := index[id]; ok {
				nodes[i].Attached = ps
			}
		}
	case !errors.Is(err, policyset.ErrNoPolicies):
		return nil, "", nil, err
	default:
		doc = nil
	}
	return nodes, source, doc, nil
}

// whatifCheck asks the what-if evaluator about the whole plan as one
// change: every policy attached at its targets, what it replaces detached
// there. The verdict must be SAFE. The state before is the run's
// policies.json; without one, FullAWSAccess on every entity (policies whose
// documents the run did not record are taken to allow everything, so that
// nothing the plan denies goes unseen).
func whatifCheck(plan *scpplan.Plan, run *storedRun, pols *policyset.Document) error {
	if len(plan.Policies) == 0 {
		return nil
	}
	q := whatif.Input{Policies: pols, Days: run.unusedDays, ManagementAccountID: run.managementAccountID}
	if q.Policies == nil {
		full := policyset.Policy{ID: scpplan.FullAWSAccess, Name: "FullAWSAccess", AWSManaged: true, Content: scpeval.FullAWSAccess}
		attachments := map[string][]string{}
		for _, e := range run.entries {
			if e.PolicyID == "" && !e.Management {
				attachments[e.Entity.ID] = []string{scpplan.FullAWSAccess}
			}
		}
		doc, err := policyset.New(run.summary.RunID, run.summary.OrganizationID, []policyset.Policy{full}, attachments)
		if err != nil {
			return err
		}
		q.Policies = doc
	}
	var buf []findings.ServiceAge
	for _, e := range run.entries {
		if e.PolicyID != "" || e.Digest == nil {
			continue
		}
		svcs, err := e.Digest.Services(buf)
		if err != nil {
			return err
		}
		buf = svcs
		asOf := time.Unix(e.Digest.AsOf, 0).UTC()
		r := whatif.Report{Entity: e.Entity, AsOf: asOf, Stale: e.Freshness == reportdoc.Stale}
		var listed []string
		for _, s := range svcs {
			listed = append(listed, s.Namespace)
			if !s.Never() {
				r.Accessed = append(r.Accessed, whatif.Access{Namespace: s.Namespace, Last: asOf.Add(-time.Duration(s.Ago) * time.Second)})
			}
		}
		r.Listed = whatif.NewSet(listed...)
		q.Reports = append(q.Reports, r)
	}
	changes := map[string]*whatif.Change{}
	var order []string
	attached := q.Policies.Attachments()
	for _, pol := range plan.Policies {
		p, err := scpeval.Parse([]byte(pol.Content))
		if err != nil {
			return fmt.Errorf("policy %s: %w", pol.Name, err)
		}
		p.Name = pol.Name
		for _, t := range pol.Targets {
			c := changes[t]
			if c == nil {
				c = &whatif.Change{Target: t}
				changes[t] = c
				order = append(order, t)
			}
			c.Attach = append(c.Attach, p)
			for _, r := range pol.Replaces {
				// A policy of several targets replaces FullAWSAccess
				// where it is attached, not where an SCP of the
				// organization's took its place already.
				if slices.Contains(attached[t], r) && !slices.Contains(c.Detach, r) {
					c.Detach = append(c.Detach, r)
				}
			}
		}
	}
	for _, t := range order {
		q.Changes = append(q.Changes, *changes[t])
	}
	res, err := whatif.Evaluate(q)
	if err != nil {
		return err
	}
	if res.Verdict != whatif.Safe {
		var names []string
		for _, b := range res.Breaks {
			names = append(names, b.EntityID+" "+b.Namespace)
		}
		return fmt.Errorf("%s: %s", res.Verdict, strings.Join(names, ", "))
	}
	return nil
}

// printPlan prints the plan for a person: each policy, its targets, what
// it denies or allows and its size; where a quota stopped it; the
// exceptions.
func printPlan(w io.Writer, runID string, run *storedRun, p *scpplan.Plan, source string) {
	root := p.Root
	name := root.Name
	if name == "" {
		name = root.ID
	}
	fmt.Fprintf(w, "SCP plan for %s (%s, %s) and everything under it\n%s\n", printable(name), printable(root.ID), root.Type, printable(root.Path))
	fmt.Fprintf(w, "Run %s, unused means not accessed for %d days; strategy %s.\n", runID, run.unusedDays, p.Strategy)
	fmt.Fprintf(w, "Attachments: %s. The organization holds %s before the plan.\n", source, count(p.ExistingPolicies, "SCP", "SCPs"))
	if run.managementAccountID != "" {
		fmt.Fprintf(w, "The management account %s is never a target: SCPs do not apply to it.\n", run.managementAccountID)
	}
	fmt.Fprintln(w)
	if len(p.Policies) == 0 {
		fmt.Fprintln(w, "Nothing to plan: no service is unused everywhere under any entity with a report.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tTARGETS\tSERVICES\tSIZE")
		for _, pol := range p.Policies {
			targets := strings.Join(pol.Targets, ", ")
			if len(pol.Targets) > 3 {
				targets = strings.Join(pol.Targets[:3], ", ") + fmt.Sprintf(" and %d more", len(pol.Targets)-3)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", pol.Name, targets, len(pol.Services), len(pol.Content))
		}
		tw.Flush()
		fmt.Fprintf(w, "\n%s, %s.\n", count(len(p.Policies), "policy", "policies"), count(attachments(p), "attachment", "attachments"))
		for _, pol := range p.Policies {
			verb := "denies"
			if pol.Strategy == scpplan.Allow {
				verb = "allows (with the never-deny list)"
			}
			fmt.Fprintf(w, "\n%s %s: %s\n", pol.Name, verb, strings.Join(pol.Services, ", "))
			if len(pol.Replaces) > 0 {
				fmt.Fprintf(w, "  replaces %s at each target: detach it once every allow-list there is attached\n", strings.Join(pol.Replaces, ", "))
			}
		}
	}
	if len(p.Stopped) > 0 {
		fmt.Fprintf(w, "\nStopped by a quota at %s:\n", count(len(p.Stopped), "place", "places"))
		for _, s := range p.Stopped {
			fmt.Fprintf(w, "  %s (%s): %s\n", s.Target, s.Quota, s.Reason)
		}
	}
	if len(p.Applied) > 0 {
		fmt.Fprintln(w, "\nExceptions applied:")
		for _, e := range p.Applied {
			until := ""
			if e.Expires != "" {
				until = ", until " + e.Expires
			}
			fmt.Fprintf(w, "  %s keeps %s (%s%s)\n", e.EntityID, e.Service, e.Reason, until)
		}
	}
	if len(p.Expired) > 0 {
		fmt.Fprintln(w, "\nExceptions expired, not applied:")
		for _, e := range p.Expired {
			fmt.Fprintf(w, "  %s kept %s until %s (%s)\n", e.EntityID, e.Service, e.Expires, e.Reason)
		}
	}
	fmt.Fprintln(w, "\nWrite it with --format json|terraform|cloudformation|cli, or --out-dir DIR for one file per policy.")
	printCaveats(w)
}

func attachments(p *scpplan.Plan) int {
	n := 0
	for _, pol := range p.Policies {
		n += len(pol.Targets)
	}
	return n
}
