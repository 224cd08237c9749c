package scpplan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/orgaudit/orgaudit/internal/scpeval"
)

// Verify checks a plan with package scpeval, an evaluator that knows
// nothing of how the plan was made: every document must parse as an SCP
// within the size quota, and for every reported entity of nodes (the
// plan's input), attaching the plan — each policy at its targets, each
// replaced policy detached there — must newly deny, wholly or partly, none
// of the services the entity used: the what-if verdict SAFE. Levels are
// FullAWSAccess before the change; other attached policies' documents are
// not known here and are left as they are.
func Verify(plan *Plan, nodes []Node) error {
	full := scpeval.MustParse(scpeval.FullAWSAccess)
	at := map[string][]*scpeval.Policy{}
	replaced := map[string]bool{}
	var extra []string
	for _, pol := range plan.Policies {
		p, err := scpeval.Parse([]byte(pol.Content))
		if err != nil {
			return fmt.Errorf("plan: policy %s is not a valid SCP: %w", pol.Name, err)
		}
		p.Name = pol.Name
		for _, t := range pol.Targets {
			at[t] = append(at[t], p)
			if slices.Contains(pol.Replaces, FullAWSAccess) {
				replaced[t] = true
			}
		}
		extra = append(extra, pol.Services...)
	}
	for _, n := range nodes {
		extra = append(extra, n.Used...)
	}
	ev := scpeval.New(extra...)
	t, err := newTree(slices.Clone(nodes))
	if err != nil {
		return err
	}
	var breaks []string
	var walk func(n *Node, c *scpeval.Change)
	walk = func(n *Node, c *scpeval.Change) {
		after := []*scpeval.Policy{full}
		if replaced[n.ID] {
			after = nil
		}
		after = append(after, at[n.ID]...)
		c = c.Level([]*scpeval.Policy{full}, after)
		if n.Reported && !n.Management {
			for _, ns := range n.Used {
				if d := c.Denial(ns); d != scpeval.NotDenied {
					breaks = append(breaks, fmt.Sprintf("%s %s (%s)", n.ID, ns, d))
				}
			}
		}
		for _, ch := range t.children[n] {
			walk(ch, c)
		}
	}
	for _, n := range t.nodes {
		if _, ok := t.parent[n]; !ok {
			walk(n, ev.NewChange())
		}
	}
	if len(breaks) > 0 {
		if len(breaks) > 10 {
			breaks = append(breaks[:10], fmt.Sprintf("and %d more", len(breaks)-10))
		}
		return fmt.Errorf("plan: would deny services in use: %s", strings.Join(breaks, ", "))
	}
	return nil
}
