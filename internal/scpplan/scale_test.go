package scpplan

import (
	"fmt"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// nodesOf audits a generated organization in-process: every entity's
// access report from the organization model (the simulator's), used
// meaning accessed within 90 days of the model's as-of instant, and the
// model's attachments.
func nodesOf(t testing.TB, org *orgmodel.Org) []Node {
	t.Helper()
	asOf := orgmodel.DefaultAsOf
	var out []Node
	for _, e := range org.Entities() {
		r, err := org.AccessReport(e.Path, "")
		if err != nil {
			t.Fatal(err)
		}
		n := Node{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path, Reported: true, Management: e.ID == org.ManagementAccountID,
			Attached: append([]string{}, org.PoliciesFor(e.ID)...)}
		for _, s := range r.Services {
			n.Listed = append(n.Listed, s.Namespace)
			if !s.LastAuthenticated.IsZero() && asOf.Sub(s.LastAuthenticated) <= 90*24*time.Hour {
				n.Used = append(n.Used, s.Namespace)
			}
		}
		out = append(out, n)
	}
	return out
}

// checkQuotas checks a plan against every SCP quota with the planned and
// the already attached policies counted together.
func checkQuotas(t *testing.T, p *Plan, nodes []Node, existing int) {
	t.Helper()
	perTarget := map[string]int{}
	for _, n := range nodes {
		perTarget[n.ID] = len(n.Attached)
	}
	names := map[string]bool{}
	for _, pol := range p.Policies {
		if len(pol.Content) > MaxPolicySize {
			t.Errorf("Got(len(%s)) = %d; want <= %d", pol.Name, len(pol.Content), MaxPolicySize)
		}
		if names[pol.Name] {
			t.Errorf("Got(name %s) twice; want unique names", pol.Name)
		}
		names[pol.Name] = true
		for _, tg := range pol.Targets {
			perTarget[tg]++
			for _, r := range pol.Replaces {
				for _, n := range nodes {
					if n.ID == tg {
						for _, a := range n.Attached {
							if a == r {
								perTarget[tg]--
							}
						}
					}
				}
			}
		}
	}
	for id, c := range perTarget {
		if c > MaxPoliciesPerTarget {
			t.Errorf("Got(%d SCPs at %s); want <= %d", c, id, MaxPoliciesPerTarget)
		}
	}
	if total := existing + len(p.Policies); total > MaxPoliciesPerOrganization {
		t.Errorf("Got(%d SCPs in the organization); want <= %d", total, MaxPoliciesPerOrganization)
	}
	if err := Verify(p, nodes); err != nil {
		t.Error(err)
	}
}

func TestPlansStayWithinQuotas(t *testing.T) {
	sizes := []orgmodel.GenerateOptions{
		{OUs: 40, Accounts: 300, Depth: 4, Seed: 1}, // the demo organization
		{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 7},
	}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, opts := range sizes {
		org, err := orgmodel.Generate(opts)
		if err != nil {
			t.Fatal(err)
		}
		nodes := nodesOf(t, org)
		for _, c := range []struct {
			s       Strategy
			ousOnly bool
		}{{Deny, false}, {Allow, false}, {Deny, true}, {Allow, true}} {
			s := c.s
			t.Run(fmt.Sprintf("%d OUs %d accounts %s ous-only=%v", opts.OUs, opts.Accounts, s, c.ousOnly), func(t *testing.T) {
				start := time.Now()
				p, err := Make(Input{Nodes: nodes, Strategy: s, AttachmentsKnown: true, OrganizationPolicies: len(org.Policies), OUsOnly: c.ousOnly})
				if err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				checkQuotas(t, p, nodes, len(org.Policies))
				attached := 0
				for _, pol := range p.Policies {
					attached += len(pol.Targets)
				}
				t.Logf("%d policies, %d attachments, %d stops, planned in %v", len(p.Policies), attached, len(p.Stopped), took.Round(time.Millisecond))
				if len(p.Policies) == 0 {
					t.Error("Got(empty plan); want policies")
				}
			})
		}
	}
}
