package findings

import (
	"fmt"
	"strings"

	"github.com/orgaudit/orgaudit/internal/scpplan"
)

// Plan is the SCP plan report.html offers: the deny plan of the whole
// scope, as `orgaudit scp --plan` makes it with its defaults.
type Plan struct {
	Plan *scpplan.Plan
	// Error says why there is no plan (nil Plan).
	Error string
}

// planOf plans the run's scope: from the root when the run has its report,
// else from each topmost entity with a report (a run restricted to some
// OUs), sharing the organization's policy quota.
func planOf(entries []Entry, days int) Plan {
	var nodes []scpplan.Node
	attached := map[string][]string{}
	var buf []ServiceAge
	for _, e := range entries {
		if e.PolicyID != "" {
			attached[e.Entity.ID] = append(attached[e.Entity.ID], e.PolicyID)
			continue
		}
		n := scpplan.Node{ID: e.Entity.ID, Type: e.Entity.Type, Name: e.Entity.Name, Path: e.Entity.Path, Management: e.Management}
		if e.Digest != nil {
			svcs, err := e.Digest.Services(buf)
			if err != nil {
				return Plan{Error: err.Error()}
			}
			buf = svcs
			n.Reported = true
			for _, s := range svcs {
				n.Listed = append(n.Listed, s.Namespace)
				if !s.UnusedFor(days) {
					n.Used = append(n.Used, s.Namespace)
				}
			}
		}
		nodes = append(nodes, n)
	}
	known := len(attached) > 0
	if known {
		for i := range nodes {
			nodes[i].Attached = append([]string{}, attached[nodes[i].ID]...)
		}
	}
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
	existing := 0
	for _, top := range tops {
		p, err := scpplan.Make(scpplan.Input{Nodes: nodes, Target: top, AttachmentsKnown: known, OrganizationPolicies: existing})
		if err != nil {
			return Plan{Error: err.Error()}
		}
		if existing == 0 {
			existing = p.ExistingPolicies
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
	return Plan{Plan: out}
}
