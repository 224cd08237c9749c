package findings

import (
	"fmt"
	"slices"
	"strings"

	"github.com/orgaudit/orgaudit/internal/htmlreport"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpplan"
)

// Plan is the SCP plan report.html offers: the deny plan of the whole
// scope, as `orgaudit scp --plan` makes it with its defaults.
type Plan struct {
	Plan *scpplan.Plan
	// Error says why there is no plan (nil Plan).
	Error string
	// OUsOnly says the plan has no account targets (PlanOUsOnly);
	// Reports is the number of entity reports that decided it.
	OUsOnly bool
	Reports int
}

// maxPlanReports bounds the runs whose plan in report.html has account
// targets. Planning every account of a quota-size run (11,001 reports)
// holds every report's services at once and took the Store step several
// times its memory; above this many reports the page plans for the root
// and OUs, with each account's use folded into its OU, which is a tenth
// of the nodes. `orgaudit scp --plan` plans any run in full.
const maxPlanReports = 2000

// PlanOUsOnly is what report.html says of a plan that maxPlanReports
// restricted.
const PlanOUsOnly = "this run has more than 2,000 reports, so the plan here targets the root and OUs only (the accounts' use still counts); run `orgaudit scp --plan` for the full plan with account targets"

// PlanNodes turns a run's entries into the planner's nodes: each entity
// report's services listed and used within days, and, when the run has
// per-policy reports, the SCPs attached to each entity (known is then
// true, and every node's Attached is set).
func PlanNodes(entries []Entry, days int) (nodes []scpplan.Node, known bool, err error) {
	ns, err := planNodes(entries, days, false)
	if err != nil {
		return nil, false, err
	}
	return ns.nodes, ns.known, nil
}

// nodeSet is the planner's input made from a run.
type nodeSet struct {
	nodes []scpplan.Node
	known bool // attachments known from per-policy reports
	// policies is the organization's SCP count as the run saw it:
	// FullAWSAccess and every distinct policy attached anywhere.
	policies int
	// folded counts the account reports folded into their OU.
	folded int
}

// planNodes builds the nodes. With fold, an account whose parent OU (or
// root) has a completed report is not a node of its own: the services it
// used are added to the parent's, which is all a plan without account
// targets needs of it (the management account's use never counts, as in
// the planner).
func planNodes(entries []Entry, days int, fold bool) (nodeSet, error) {
	var ns nodeSet
	attached := map[string][]string{}
	parents := map[string]bool{}
	if fold {
		for _, e := range entries {
			if e.PolicyID == "" && e.Digest != nil && e.Entity.Type != reportdoc.TypeAccount {
				parents[e.Entity.Path] = true
			}
		}
	}
	usedUnder := map[string]map[string]bool{} // parent path → folded accounts' use
	var buf []ServiceAge
	for _, e := range entries {
		if e.PolicyID != "" {
			attached[e.Entity.ID] = append(attached[e.Entity.ID], e.PolicyID)
			continue
		}
		if parent, ok := parentPath(e.Entity.Path); fold && ok && e.Entity.Type == reportdoc.TypeAccount && parents[parent] {
			ns.folded++
			if e.Management || e.Digest == nil {
				continue
			}
			svcs, err := e.Digest.Services(buf)
			if err != nil {
				return ns, fmt.Errorf("%s: %w", e.Entity.Path, err)
			}
			buf = svcs
			u := usedUnder[parent]
			if u == nil {
				u = map[string]bool{}
				usedUnder[parent] = u
			}
			for _, s := range svcs {
				if !s.UnusedFor(days) {
					u[s.Namespace] = true
				}
			}
			continue
		}
		n := scpplan.Node{ID: e.Entity.ID, Type: e.Entity.Type, Name: e.Entity.Name, Path: e.Entity.Path, Management: e.Management}
		if e.Digest != nil {
			svcs, err := e.Digest.Services(buf)
			if err != nil {
				return ns, fmt.Errorf("%s: %w", e.Entity.Path, err)
			}
			buf = svcs
			n.Reported = true
			n.Listed = make([]string, 0, len(svcs))
			for _, s := range svcs {
				n.Listed = append(n.Listed, s.Namespace)
				if !s.UnusedFor(days) {
					n.Used = append(n.Used, s.Namespace)
				}
			}
		}
		ns.nodes = append(ns.nodes, n)
	}
	for i := range ns.nodes {
		n := &ns.nodes[i]
		if u := usedUnder[n.Path]; len(u) > 0 {
			for _, x := range n.Used {
				u[x] = true
			}
			n.Used = n.Used[:0]
			for x := range u {
				n.Used = append(n.Used, x)
			}
			slices.Sort(n.Used)
		}
	}
	distinct := map[string]bool{scpplan.FullAWSAccess: true}
	if ns.known = len(attached) > 0; ns.known {
		for i := range ns.nodes {
			ns.nodes[i].Attached = append([]string{}, attached[ns.nodes[i].ID]...)
		}
		for _, ps := range attached {
			for _, p := range ps {
				distinct[p] = true
			}
		}
	}
	ns.policies = len(distinct)
	return ns, nil
}

// parentPath is the entity path of the entity's parent.
func parentPath(path string) (string, bool) {
	i := strings.LastIndexByte(strings.TrimSuffix(path, "/"), '/')
	if i < 0 {
		return "", false
	}
	return path[:i], true
}

// planOf plans the run's scope: from the root when the run has its report,
// else from each topmost entity with a report (a run restricted to some
// OUs), sharing the organization's policy quota. Runs of more than
// maxPlanReports reports are planned without account targets.
func planOf(entries []Entry, days int) Plan {
	reports := 0
	for _, e := range entries {
		if e.PolicyID == "" {
			reports++
		}
	}
	ousOnly := reports > maxPlanReports
	ns, err := planNodes(entries, days, ousOnly)
	if err != nil {
		return Plan{Error: err.Error(), Reports: reports}
	}
	if len(ns.nodes) > maxPlanReports {
		return Plan{Error: fmt.Sprintf("this run has %s root and OU reports, more than an organization holds; run `orgaudit scp --plan` for its plan", htmlreport.Thousands(len(ns.nodes))), Reports: reports}
	}
	pl := planNodeSet(ns, ousOnly)
	pl.Reports = reports
	return pl
}

// planNodeSet plans ns from its topmost entities.
func planNodeSet(ns nodeSet, ousOnly bool) Plan {
	nodes := ns.nodes
	// The topmost entities: those no other entity's path contains.
	paths := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		paths[n.Path] = true
	}
	var tops []string
	for _, n := range nodes {
		top := !n.Management
		for p := n.Path; top; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			top = !paths[p]
		}
		if top {
			tops = append(tops, n.ID)
		}
	}
	if len(tops) == 0 {
		return Plan{Error: "the run has no entity to plan for"}
	}
	out := &scpplan.Plan{Policies: []scpplan.Policy{}, Stopped: []scpplan.Stop{}, Strategy: scpplan.Deny}
	existing := ns.policies
	for _, top := range tops {
		p, err := scpplan.Make(scpplan.Input{Nodes: nodes, Target: top, AttachmentsKnown: ns.known, OrganizationPolicies: existing, OUsOnly: ousOnly})
		if err != nil {
			return Plan{Error: err.Error()}
		}
		existing += len(p.Policies)
		out.Policies = append(out.Policies, p.Policies...)
		out.Stopped = append(out.Stopped, p.Stopped...)
		if out.Root == nil {
			out.Root, out.ExistingPolicies = p.Root, p.ExistingPolicies
		}
	}
	if err := scpplan.Verify(out, nodes); err != nil {
		return Plan{Error: fmt.Sprintf("the plan failed its check and is not shown: %v", err)}
	}
	return Plan{Plan: out, OUsOnly: ousOnly}
}
