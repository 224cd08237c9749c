// Package scpplan proposes the fewest Service Control Policies for a subtree
// of an organization from one run's access reports: a service nobody under a
// node used is denied once, at the highest such node, instead of once per
// account or OU; or, as an allow-list, each node that uses fewer services
// than its parent allows gets an Allow of what it uses in place of
// FullAWSAccess. It keeps within AWS's SCP quotas and says which quota
// stopped it where it had to stop.
//
// The plan is data (Plan); the writers in this package render it as JSON,
// Terraform, CloudFormation or AWS CLI commands.
package scpplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// AWS Organizations quotas for service control policies.
const (
	// MaxPoliciesPerTarget counts every SCP attached directly to a root,
	// OU or account, FullAWSAccess included.
	MaxPoliciesPerTarget = 5
	// MaxPolicySize is the largest SCP document, in characters.
	MaxPolicySize = scpsuggest.MaxPolicySize
	// MaxPoliciesPerOrganization counts the SCPs an organization holds,
	// FullAWSAccess included.
	MaxPoliciesPerOrganization = 1000
)

// FullAWSAccess is the id of the AWS managed SCP attached everywhere by
// default.
const FullAWSAccess = "p-FullAWSAccess"

// Quota names, as Stop.Quota gives them.
const (
	QuotaPerTarget       = "policies-per-target"
	QuotaPerOrganization = "policies-per-organization"
	QuotaPolicySize      = "policy-size"
)

// Strategy is how a plan restricts services.
type Strategy string

// Strategies.
const (
	// Deny adds Deny policies of the unused services next to FullAWSAccess.
	Deny Strategy = "deny"
	// Allow replaces FullAWSAccess with an Allow of the used services and
	// the never-deny list.
	Allow Strategy = "allow"
)

// ParseStrategy reads a --strategy value.
func ParseStrategy(s string) (Strategy, error) {
	switch Strategy(s) {
	case Deny, Allow:
		return Strategy(s), nil
	}
	return "", fmt.Errorf("strategy %q: want deny or allow", s)
}

// Statement ids of the planned documents.
const (
	SidDeny        = "DenyUnusedServices"
	SidAllow       = "AllowUsedServices"
	SidAllowExempt = "AllowExemptPrincipals"
)

// Node is one entity of the organization as the run saw it.
type Node struct {
	ID, Type, Name, Path string
	// Reported says the entity has a completed report; Used and Listed are
	// then its services accessed within the threshold and the services
	// its report lists (those the SCPs above allow).
	Reported     bool
	Used, Listed []string
	// Management marks the management account, which SCPs do not
	// restrict: never a target, and its use does not count.
	Management bool
	// Attached are the SCPs attached to the entity directly, when the run
	// recorded them (Input.AttachmentsKnown).
	Attached []string
}

// Input is what a plan is made from.
type Input struct {
	Nodes []Node
	// Target is the id or entity path of the node whose subtree is
	// planned; empty means the root.
	Target   string
	Strategy Strategy
	// Keep adds namespaces to the never-deny list.
	Keep []string
	// ExemptPrincipals are aws:PrincipalArn patterns (wildcards allowed)
	// that the plan's Deny statements do not apply to, and that the allow
	// strategy lets do everything.
	ExemptPrincipals []string
	// Exceptions keep services at entities; resolved with Resolve.
	Exceptions []Exception
	// AttachmentsKnown says Node.Attached is the truth. Otherwise every
	// target is assumed to have FullAWSAccess only.
	AttachmentsKnown bool
	// OrganizationPolicies is the number of SCPs the organization already
	// holds (0: count the distinct Node.Attached, at least FullAWSAccess).
	OrganizationPolicies int
	// OUsOnly keeps accounts from being targets: policies go to the root
	// and OUs only (accounts' use still counts).
	OUsOnly bool
}

// Policy is one planned SCP and where it goes.
type Policy struct {
	Name     string   `json:"name"`
	Strategy Strategy `json:"strategy"`
	// Targets are the ids the policy is attached to.
	Targets []string `json:"targets"`
	// Replaces are the policies to detach from every target once this one
	// is attached (the allow strategy's FullAWSAccess).
	Replaces []string `json:"replaces"`
	// Content is the minified SCP document.
	Content string `json:"content"`
	// Services are the namespaces it denies (deny) or allows (allow).
	Services []string `json:"services"`
}

// Stop is a place where a quota kept the plan from doing all it would.
type Stop struct {
	Target string `json:"target"`
	Quota  string `json:"quota"`
	Reason string `json:"reason"`
}

// Plan is the proposal. Its JSON is plan.json.
type Plan struct {
	Policies []Policy `json:"policies"`
	Stopped  []Stop   `json:"stopped"`

	// The rest is for people, not plan.json.
	Strategy Strategy `json:"-"`
	Root     *Node    `json:"-"`
	// Expired are exceptions past their expiry: reported, not applied.
	Expired []Exception `json:"-"`
	// Applied are the exceptions in force.
	Applied []Exception `json:"-"`
	// Targets describes every target of the plan, by id.
	Targets map[string]*Node `json:"-"`
	// ExistingPolicies is the organization's SCP count the plan started
	// from; AttachmentsKnown whether attachments came from the run.
	ExistingPolicies int  `json:"-"`
	AttachmentsKnown bool `json:"-"`
}

// JSON returns plan.json: {"policies":[…],"stopped":[…]}, indented.
func (p *Plan) JSON() []byte {
	b, _ := json.MarshalIndent(struct {
		Policies []Policy `json:"policies"`
		Stopped  []Stop   `json:"stopped"`
	}{p.Policies, p.Stopped}, "", "  ")
	return append(b, '\n')
}

// tree is the organization indexed by path.
type tree struct {
	nodes    []*Node
	byID     map[string]*Node
	byPath   map[string]*Node
	children map[*Node][]*Node
	parent   map[*Node]*Node
}

func newTree(nodes []Node) (*tree, error) {
	t := &tree{byID: map[string]*Node{}, byPath: map[string]*Node{}, children: map[*Node][]*Node{}, parent: map[*Node]*Node{}}
	for i := range nodes {
		n := &nodes[i]
		if n.ID == "" || n.Path == "" {
			return nil, fmt.Errorf("scpplan: entity %q without id or path", n.ID+n.Path)
		}
		if _, dup := t.byID[n.ID]; dup {
			return nil, fmt.Errorf("scpplan: entity %s given twice", n.ID)
		}
		t.nodes = append(t.nodes, n)
		t.byID[n.ID] = n
		t.byPath[strings.TrimSuffix(n.Path, "/")] = n
	}
	sort.Slice(t.nodes, func(i, j int) bool { return t.nodes[i].Path < t.nodes[j].Path })
	for _, n := range t.nodes {
		// The nearest ancestor the run has; a missing level in between
		// (an OU outside the run) is skipped over.
		p := strings.TrimSuffix(n.Path, "/")
		for {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if a, ok := t.byPath[p]; ok {
				t.parent[n] = a
				t.children[a] = append(t.children[a], n)
				break
			}
		}
	}
	return t, nil
}

// find resolves an id, entity path or (unique) name.
func (t *tree) find(ref string) (*Node, error) {
	if n, ok := t.byID[ref]; ok {
		return n, nil
	}
	if n, ok := t.byPath[strings.TrimSuffix(ref, "/")]; ok {
		return n, nil
	}
	var hits []*Node
	for _, n := range t.nodes {
		if n.Name != "" && n.Name == ref {
			hits = append(hits, n)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return nil, fmt.Errorf("no entity %q in the run (give an id, an entity path or a name)", ref)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return nil, fmt.Errorf("entity name %q is ambiguous: %s (give the id or entity path)", ref, strings.Join(ids, ", "))
}

func (t *tree) root() *Node {
	for _, n := range t.nodes {
		if _, ok := t.parent[n]; !ok && n.Type == reportdoc.TypeRoot {
			return n
		}
	}
	return nil
}

// preorder returns the subtree of n, n first, breadth first: targets nearer
// the top cover more and are planned first when a quota runs out.
func (t *tree) subtree(n *Node) []*Node {
	out := []*Node{n}
	for i := 0; i < len(out); i++ {
		out = append(out, t.children[out[i]]...)
	}
	return out
}

type set map[string]bool

func setOf(xs []string) set {
	s := make(set, len(xs))
	for _, x := range xs {
		s[x] = true
	}
	return s
}

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for x := range s {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// Make plans in.
func Make(in Input) (*Plan, error) {
	if in.Strategy == "" {
		in.Strategy = Deny
	}
	if _, err := ParseStrategy(string(in.Strategy)); err != nil {
		return nil, err
	}
	for _, p := range in.ExemptPrincipals {
		if err := checkPrincipalPattern(p); err != nil {
			return nil, err
		}
	}
	nodes := slices.Clone(in.Nodes)
	in.Exceptions = slices.Clone(in.Exceptions)
	t, err := newTree(nodes)
	if err != nil {
		return nil, err
	}
	top := t.root()
	if in.Target != "" {
		if top, err = t.find(in.Target); err != nil {
			return nil, err
		}
	}
	if top == nil {
		return nil, errors.New("the run has no root report (give ENTITY)")
	}
	if top.Management {
		return nil, fmt.Errorf("%s is the management account: SCPs do not apply to it", top.ID)
	}
	keptAt, err := applyExceptions(t, in.Exceptions)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Strategy: in.Strategy, Root: top, Targets: map[string]*Node{}, Policies: []Policy{}, Stopped: []Stop{},
		AttachmentsKnown: in.AttachmentsKnown}
	for _, e := range in.Exceptions {
		if e.expired {
			plan.Expired = append(plan.Expired, e)
		} else {
			plan.Applied = append(plan.Applied, e)
		}
	}
	never := setOf(scpsuggest.NeverDeny(scpsuggest.Options{Keep: in.Keep}))
	sub := t.subtree(top)

	// usedBelow: every service some reported entity at or under a node
	// used; the management account's use does not count, since SCPs do
	// not apply to it.
	usedBelow := map[*Node]set{}
	for i := len(sub) - 1; i >= 0; i-- {
		n := sub[i]
		u := set{}
		if !n.Management {
			for _, ns := range n.Used {
				u[ns] = true
			}
		}
		for _, c := range t.children[n] {
			for ns := range usedBelow[c] {
				u[ns] = true
			}
		}
		usedBelow[n] = u
	}
	// kept: services an exception keeps reachable at a node — one on the
	// node, an ancestor, or a descendant (denying at the node would reach
	// the descendant).
	kept := map[*Node]set{}
	for i := len(sub) - 1; i >= 0; i-- {
		n := sub[i]
		k := set{}
		for ns := range keptAt[n] {
			k[ns] = true
		}
		for _, c := range t.children[n] {
			for ns := range kept[c] {
				k[ns] = true
			}
		}
		kept[n] = k
	}
	for _, n := range sub {
		for a := t.parent[n]; a != nil; a = t.parent[a] {
			for ns := range keptAt[a] {
				kept[n][ns] = true
			}
		}
	}

	existing := in.OrganizationPolicies
	if existing <= 0 {
		distinct := set{FullAWSAccess: true}
		for _, n := range t.nodes {
			for _, p := range n.Attached {
				distinct[p] = true
			}
		}
		existing = len(distinct)
	}
	plan.ExistingPolicies = existing
	b := &builder{plan: plan, in: in, existing: existing, budget: MaxPoliciesPerOrganization - existing, byContent: map[string]*doc{}}
	targets := sub
	if in.OUsOnly {
		targets = slices.DeleteFunc(slices.Clone(sub), func(n *Node) bool { return n.Type == reportdoc.TypeAccount && n != top })
	}
	switch in.Strategy {
	case Deny:
		placeDeny(b, t, targets, usedBelow, kept, never)
	case Allow:
		placeAllow(b, t, targets, usedBelow, kept, never)
	}
	b.finish()
	return plan, nil
}

// placeDeny puts each service nobody under a node used at the highest such
// node of the subtree: a service is deniable at a node when the node has a
// report that lists it, no reported entity at or under it used it, and no
// exception keeps it; it is placed where it is deniable and no ancestor in
// the subtree already denies it.
func placeDeny(b *builder, t *tree, sub []*Node, usedBelow, kept map[*Node]set, never set) {
	covered := map[*Node]set{} // denied at an ancestor in the plan
	for _, n := range sub {    // breadth first: parents before children
		above := set{}
		if p := t.parent[n]; p != nil && n != sub[0] {
			above = covered[p]
		}
		covered[n] = above
		if !n.Reported || n.Management {
			continue
		}
		var deny []string
		for _, ns := range n.Listed {
			if !above[ns] && !never[ns] && !kept[n][ns] && !usedBelow[n][ns] {
				deny = append(deny, ns)
			}
		}
		if len(deny) == 0 {
			continue
		}
		sort.Strings(deny)
		// What a quota keeps from being denied here is left to the
		// entities below, each with its own attachment slots.
		deny = b.add(n, slices.Compact(deny))
		c := make(set, len(above)+len(deny))
		for ns := range above {
			c[ns] = true
		}
		for _, ns := range deny {
			c[ns] = true
		}
		covered[n] = c
	}
}

// placeAllow gives a node an allow-list of the services used at or under
// it, the never-deny list and the services exceptions keep, when that is
// narrower than what its nearest allow-listed ancestor in the plan allows.
func placeAllow(b *builder, t *tree, sub []*Node, usedBelow, kept map[*Node]set, never set) {
	effective := map[*Node]set{} // nil: everything (FullAWSAccess)
	for _, n := range sub {
		parent := t.parent[n]
		eff := effective[parent]
		if n == sub[0] {
			eff = nil
		}
		effective[n] = eff
		if !n.Reported || n.Management {
			continue
		}
		allow := set{}
		for ns := range usedBelow[n] {
			allow[ns] = true
		}
		for ns := range never {
			allow[ns] = true
		}
		for ns := range kept[n] {
			allow[ns] = true
		}
		if eff != nil {
			narrower := len(allow) < len(eff)
			for ns := range allow {
				if !eff[ns] {
					// An ancestor's list lacks a service used here: the
					// data disagree (reports taken at different
					// instants); allow it here, the ancestor still
					// decides.
					narrower = true
					break
				}
			}
			if !narrower {
				continue
			}
		}
		if len(b.add(n, allow.sorted())) > 0 {
			effective[n] = allow
		}
	}
}

// builder turns what placement wants at each target into policies within
// the quotas: documents split at the size quota, at most the free
// attachment slots of each target, the organization's policy count kept at
// or under its quota, and identical documents shared by their targets.
type builder struct {
	plan      *Plan
	in        Input
	existing  int
	budget    int // policies the organization can still take
	docs      []*doc
	byContent map[string]*doc
	order     []string // targets in the order planned
}

type doc struct {
	content  string
	services []string
	targets  []string
}

// add plans services at n and returns those it placed: for deny, the ones
// that fit (the rest are reported in Plan.Stopped); for allow, all or none,
// since part of an allow-list would deny what the rest allows.
func (b *builder) add(n *Node, services []string) []string {
	in, plan := b.in, b.plan
	attached := n.Attached
	if !in.AttachmentsKnown || attached == nil {
		attached = []string{FullAWSAccess}
	}
	free := MaxPoliciesPerTarget - len(attached)
	if in.Strategy == Allow && slices.Contains(attached, FullAWSAccess) {
		free++ // the allow-list takes FullAWSAccess's place
	}
	parts := split(in.Strategy, services, in.ExemptPrincipals)
	if len(parts) == 0 {
		plan.Stopped = append(plan.Stopped, Stop{Target: n.ID, Quota: QuotaPolicySize,
			Reason: fmt.Sprintf("the exemption condition leaves no room for an action within %d characters", MaxPolicySize)})
		return nil
	}
	var left []string
	if len(parts) > free {
		if in.Strategy == Allow {
			plan.Stopped = append(plan.Stopped, Stop{Target: n.ID, Quota: QuotaPerTarget,
				Reason: fmt.Sprintf("the allow-list of %d services needs %d policies, and %s has %d SCPs attached (%s), so %d fit in place of %s: no allow-list here",
					len(services), len(parts), n.ID, len(attached), strings.Join(attached, ", "), max(free, 0), FullAWSAccess)})
			return nil
		}
		for _, p := range parts[max(free, 0):] {
			left = append(left, p.services...)
		}
		plan.Stopped = append(plan.Stopped, Stop{Target: n.ID, Quota: QuotaPerTarget,
			Reason: fmt.Sprintf("%s has %d of %d SCPs attached (%s) and the denials need %d policies: %d services not denied here, left to the entities below: %s",
				n.ID, len(attached), MaxPoliciesPerTarget, strings.Join(attached, ", "), len(parts), len(left), strings.Join(left, ", "))})
		parts = parts[:max(free, 0)]
	}
	// New documents count against the organization; shared ones do not.
	fresh := 0
	for _, p := range parts {
		if b.byContent[p.content] == nil {
			fresh++
		}
	}
	if fresh > b.budget {
		plan.Stopped = append(plan.Stopped, Stop{Target: n.ID, Quota: QuotaPerOrganization,
			Reason: fmt.Sprintf("the organization holds %d SCPs and the plan already adds %d: %d more would pass %d; %d services not %s here",
				b.existing, len(b.docs), fresh, MaxPoliciesPerOrganization, len(services)-len(left), verb(in.Strategy))})
		return nil
	}
	if len(parts) == 0 {
		return nil
	}
	b.budget -= fresh
	plan.Targets[n.ID] = n
	b.order = append(b.order, n.ID)
	var placed []string
	for _, p := range parts {
		d := b.byContent[p.content]
		if d == nil {
			d = &doc{content: p.content, services: p.services}
			b.byContent[p.content] = d
			b.docs = append(b.docs, d)
		}
		d.targets = append(d.targets, n.ID)
		placed = append(placed, p.services...)
	}
	return placed
}

// finish names the documents and puts them in the plan. A name is the
// strategy, the first target, how many more share it and the part number:
// unique, because each (target, part) is planned once.
func (b *builder) finish() {
	in, plan := b.in, b.plan
	parts := map[string][]*doc{}
	for _, d := range b.docs {
		parts[d.targets[0]] = append(parts[d.targets[0]], d)
	}
	prefix := "orgaudit-deny-unused-"
	if in.Strategy == Allow {
		prefix = "orgaudit-allow-used-"
	}
	for _, d := range b.docs {
		name := prefix + d.targets[0]
		if len(d.targets) > 1 {
			name += fmt.Sprintf("-and-%d-more", len(d.targets)-1)
		}
		if mine := parts[d.targets[0]]; len(mine) > 1 {
			name += fmt.Sprintf("-part%d", slices.Index(mine, d)+1)
		}
		p := Policy{Name: name, Strategy: in.Strategy, Targets: d.targets, Replaces: []string{}, Content: d.content, Services: d.services}
		if in.Strategy == Allow {
			p.Replaces = replacedAt(d.targets, plan.Targets, in.AttachmentsKnown)
		}
		plan.Policies = append(plan.Policies, p)
	}
}

// replacedAt is what an allow-list replaces: FullAWSAccess, where it is
// attached (assumed where the run did not record attachments).
func replacedAt(targets []string, nodes map[string]*Node, known bool) []string {
	for _, id := range targets {
		n := nodes[id]
		if !known || n.Attached == nil || slices.Contains(n.Attached, FullAWSAccess) {
			return []string{FullAWSAccess}
		}
	}
	return []string{}
}

func verb(s Strategy) string {
	if s == Allow {
		return "allow-listed"
	}
	return "denied"
}
