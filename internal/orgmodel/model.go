// Package orgmodel holds a simulated AWS Organization: its tree of root, OUs
// and accounts, its service control policies and where they are attached,
// and the service activity of every account. It answers the questions the
// simulator's Organizations and IAM sides ask (tree queries, entity paths,
// the allowed services under SCPs, the content of an access report) and it
// is the independent source of expected answers for tests.
//
// An Org is built by Generate (deterministic from a seed) or read from a
// JSON file by Load (see testdata/org-small.json); either way it is indexed
// and validated before use. Afterwards only its SCPs and their attachments
// change, through AddPolicy, AttachPolicy and DetachPolicy, which are safe
// beside concurrent readers; the rest is read-only.
package orgmodel

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// AllServices is the Allow entry of a policy that allows every service
// (the AWS-managed FullAWSAccess policy).
const AllServices = "*"

// FullAWSAccessID is the id AWS gives the managed FullAWSAccess policy.
const FullAWSAccessID = "p-FullAWSAccess"

// MaxOUDepth is how many OU levels AWS allows under the root.
const MaxOUDepth = 5

// Org is a simulated organization. The exported fields are its JSON file
// format; the unexported ones are indexes built by index().
type Org struct {
	ID                  string `json:"id"`                  // o-…
	ManagementAccountID string `json:"managementAccountId"` // 12 digits
	// SCPDisabled models an organization whose root does not have the
	// SERVICE_CONTROL_POLICY type enabled.
	SCPDisabled bool      `json:"scpDisabled,omitempty"`
	Root        Root      `json:"root"`
	OUs         []OU      `json:"ous"`
	Accounts    []Account `json:"accounts"`
	Policies    []Policy  `json:"policies"`
	// Attachments maps a target id (root, OU or account) to the ids of the
	// SCPs attached to it.
	Attachments map[string][]string `json:"attachments"`
	// Activity maps an account id to the last access of each service
	// namespace by any principal of that account.
	Activity map[string]map[string]Access `json:"activity"`
	// AsOf is the instant the activity data describes; last-access times
	// lie in the ~400 days before it.
	AsOf time.Time `json:"asOf"`
	// Daily, when set, moves the activity on from AsOf with the clock
	// (AdvanceTo); without it the activity stands still at AsOf.
	Daily *Daily `json:"daily,omitempty"`

	nodes map[string]*node

	// mu guards Policies, Attachments and their indexes, which AddPolicy,
	// AttachPolicy and DetachPolicy replace (never change in place).
	mu       sync.RWMutex
	policies map[string]*Policy
	targets  map[string][]string // policy id -> target ids
	daily    *dailyState         // what AdvanceTo has done, guarded by mu
}

// Root is the organization root.
type Root struct {
	ID   string `json:"id"` // r-…
	Name string `json:"name"`
}

// OU is an organizational unit.
type OU struct {
	ID       string `json:"id"` // ou-<root suffix>-<8..32>
	Name     string `json:"name"`
	ParentID string `json:"parentId"`
}

// Account is a member (or the management) account.
type Account struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	ParentID string    `json:"parentId"`
	Status   string    `json:"status,omitempty"` // ACTIVE (default) | SUSPENDED
	Joined   time.Time `json:"joined"`
}

// Policy is a service control policy. Its document is Content, or, in
// the shorthand Allow, a list of namespaces the policy allows whole (["*"]
// for every service): exactly one of the two is given.
type Policy struct {
	ID          string `json:"id"` // p-…
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	AWSManaged  bool   `json:"awsManaged,omitempty"`
	// Content is the SCP document, served byte for byte by DescribePolicy.
	Content Document `json:"content,omitempty"`
	// Allow stands for one Allow statement of "<namespace>:*" actions on
	// every resource (FullAWSAccess's document for ["*"]).
	Allow []string `json:"allow,omitempty"`

	text   string        // Content, or the document Allow stands for
	doc    *scpDoc       // text parsed
	effect *policyEffect // doc summarised per service
}

// Text returns the policy's document as Organizations stores and returns
// it: Content, or the document Allow stands for.
func (p *Policy) Text() string {
	if p.text == "" {
		return policyText(p)
	}
	return p.text
}

func policyText(p *Policy) string {
	if p.Content != "" {
		return string(p.Content)
	}
	return allowListDocument(p.Allow)
}

// prepare checks the policy's document and parses it.
func (p *Policy) prepare() error {
	if !ValidPolicyID(p.ID) {
		return fmt.Errorf("policy id %q: want p- and 8 to 128 letters, digits or underscores", p.ID)
	}
	switch {
	case p.Content != "" && len(p.Allow) > 0:
		return fmt.Errorf("policy %s (%s): give content or allow, not both", p.ID, p.Name)
	case p.Content == "" && len(p.Allow) == 0:
		return fmt.Errorf("policy %s (%s): content (or allow) is required", p.ID, p.Name)
	}
	text := policyText(p)
	doc, err := parseDocument(text)
	if err != nil {
		return fmt.Errorf("policy %s (%s): content: %w", p.ID, p.Name, err)
	}
	p.text, p.doc, p.effect = text, doc, newPolicyEffect(doc)
	return nil
}

// Access is the last access of one service by one account.
type Access struct {
	Time   time.Time `json:"time"`
	Region string    `json:"region"`
}

// Node types.
const (
	TypeRoot    = "ROOT"
	TypeOU      = "ORGANIZATIONAL_UNIT"
	TypeAccount = "ACCOUNT"
)

// Node is one entity of the tree as the index sees it.
type Node struct {
	ID       string
	Type     string
	Name     string
	ParentID string // empty for the root
	Path     string // o-…/r-…[/ou-…]*[/<account>]
	Depth    int    // root 0, its children 1, …
}

type node struct {
	Node
	childOUs      []string
	childAccounts []string
}

// Node returns the entity with the given id.
func (o *Org) Node(id string) (Node, bool) {
	n, ok := o.nodes[id]
	if !ok {
		return Node{}, false
	}
	return n.Node, true
}

// ChildOUs returns the ids of the OUs directly under parentID, sorted.
func (o *Org) ChildOUs(parentID string) []string {
	if n, ok := o.nodes[parentID]; ok {
		return n.childOUs
	}
	return nil
}

// ChildAccounts returns the ids of the accounts directly under parentID,
// sorted.
func (o *Org) ChildAccounts(parentID string) []string {
	if n, ok := o.nodes[parentID]; ok {
		return n.childAccounts
	}
	return nil
}

// Ancestors returns the ids from the root down to, but excluding, id.
func (o *Org) Ancestors(id string) []string {
	var up []string
	for n := o.nodes[id]; n != nil && n.ParentID != ""; n = o.nodes[n.ParentID] {
		up = append(up, n.ParentID)
	}
	for i, j := 0, len(up)-1; i < j; i, j = i+1, j-1 {
		up[i], up[j] = up[j], up[i]
	}
	return up
}

// AccountsUnder returns the ids of every account in the subtree of id (id
// itself when it is an account), sorted.
func (o *Org) AccountsUnder(id string) []string {
	n, ok := o.nodes[id]
	if !ok {
		return nil
	}
	if n.Type == TypeAccount {
		return []string{id}
	}
	var out []string
	var walk func(*node)
	walk = func(n *node) {
		out = append(out, n.childAccounts...)
		for _, c := range n.childOUs {
			walk(o.nodes[c])
		}
	}
	walk(n)
	sort.Strings(out)
	return out
}

// CountAccountsUnder returns len(AccountsUnder(id)) without building the
// list.
func (o *Org) CountAccountsUnder(id string) int {
	n, ok := o.nodes[id]
	if !ok {
		return 0
	}
	if n.Type == TypeAccount {
		return 1
	}
	count := len(n.childAccounts)
	for _, c := range n.childOUs {
		count += o.CountAccountsUnder(c)
	}
	return count
}

// Policy returns the SCP with the given id.
func (o *Org) Policy(id string) (*Policy, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	p, ok := o.policies[id]
	return p, ok
}

// PoliciesFor returns the ids of the SCPs attached directly to targetID.
func (o *Org) PoliciesFor(targetID string) []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.Attachments[targetID]
}

// TargetsFor returns the ids of the targets policyID is attached to, sorted.
func (o *Org) TargetsFor(policyID string) []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.targets[policyID]
}

// Index validates o and builds its indexes. Generate and Load call it; call
// it again after changing the exported fields.
func (o *Org) Index() error {
	o.nodes = map[string]*node{}
	o.policies = map[string]*Policy{}
	o.targets = map[string][]string{}
	o.daily = nil
	if o.Daily != nil {
		if err := o.Daily.validate(); err != nil {
			return err
		}
		if o.AsOf.IsZero() {
			return fmt.Errorf("daily: the activity model needs asOf, the instant it starts from")
		}
	}
	if !strings.HasPrefix(o.ID, "o-") {
		return fmt.Errorf("org id %q: want o-…", o.ID)
	}
	if !strings.HasPrefix(o.Root.ID, "r-") {
		return fmt.Errorf("root id %q: want r-…", o.Root.ID)
	}
	root := &node{Node: Node{ID: o.Root.ID, Type: TypeRoot, Name: o.Root.Name, Path: o.ID + "/" + o.Root.ID}}
	o.nodes[root.ID] = root
	for _, ou := range o.OUs {
		if _, dup := o.nodes[ou.ID]; dup {
			return fmt.Errorf("duplicate id %s", ou.ID)
		}
		o.nodes[ou.ID] = &node{Node: Node{ID: ou.ID, Type: TypeOU, Name: ou.Name, ParentID: ou.ParentID}}
	}
	for _, a := range o.Accounts {
		if _, dup := o.nodes[a.ID]; dup {
			return fmt.Errorf("duplicate id %s", a.ID)
		}
		o.nodes[a.ID] = &node{Node: Node{ID: a.ID, Type: TypeAccount, Name: a.Name, ParentID: a.ParentID}}
	}
	if _, ok := o.nodes[o.ManagementAccountID]; !ok || o.nodes[o.ManagementAccountID].Type != TypeAccount {
		return fmt.Errorf("management account %q is not an account of the organization", o.ManagementAccountID)
	}
	for _, n := range o.nodes {
		if n.Type == TypeRoot {
			continue
		}
		p, ok := o.nodes[n.ParentID]
		if !ok || p.Type == TypeAccount {
			return fmt.Errorf("%s: parent %q is not the root or an OU", n.ID, n.ParentID)
		}
		if n.Type == TypeOU {
			p.childOUs = append(p.childOUs, n.ID)
		} else {
			p.childAccounts = append(p.childAccounts, n.ID)
		}
	}
	// Paths and depths, top down; a cycle leaves nodes unreached.
	reached := 0
	var walk func(n *node) error
	walk = func(n *node) error {
		reached++
		sort.Strings(n.childOUs)
		sort.Strings(n.childAccounts)
		for _, id := range append(append([]string{}, n.childOUs...), n.childAccounts...) {
			c := o.nodes[id]
			c.Path, c.Depth = n.Path+"/"+c.ID, n.Depth+1
			if c.Type == TypeOU && c.Depth > MaxOUDepth {
				return fmt.Errorf("%s: OUs nest at most %d levels under the root", c.ID, MaxOUDepth)
			}
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	if reached != len(o.nodes) {
		return fmt.Errorf("%d entities are not reachable from the root (a parent cycle)", len(o.nodes)-reached)
	}
	for acct := range o.Activity {
		if n, ok := o.nodes[acct]; !ok || n.Type != TypeAccount {
			return fmt.Errorf("activity for %q, which is not an account of the organization", acct)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.indexPolicies()
}

// indexPolicies checks and parses the policies and indexes them and their
// attachments.
func (o *Org) indexPolicies() error {
	o.policies = map[string]*Policy{}
	o.targets = map[string][]string{}
	for i := range o.Policies {
		p := &o.Policies[i]
		if err := p.prepare(); err != nil {
			return err
		}
		if _, dup := o.policies[p.ID]; dup {
			return fmt.Errorf("duplicate policy id %s", p.ID)
		}
		o.policies[p.ID] = p
	}
	for target, ids := range o.Attachments {
		if _, ok := o.nodes[target]; !ok {
			return fmt.Errorf("attachment target %q is not in the organization", target)
		}
		if len(ids) > 5 {
			return fmt.Errorf("%s: at most 5 SCPs may be attached to one target, got %d", target, len(ids))
		}
		for i, id := range ids {
			if _, ok := o.policies[id]; !ok {
				return fmt.Errorf("%s: attached policy %q is not defined", target, id)
			}
			if slices.Contains(ids[:i], id) {
				return fmt.Errorf("%s: policy %s is attached twice", target, id)
			}
			o.targets[id] = append(o.targets[id], target)
		}
	}
	for _, ts := range o.targets {
		sort.Strings(ts)
	}
	return nil
}

// Entities returns every entity of the organization depth first from the
// root, each parent before its children (child OUs, then accounts, each
// sorted by id).
func (o *Org) Entities() []Node {
	out := make([]Node, 0, len(o.nodes))
	var walk func(*node)
	walk = func(n *node) {
		out = append(out, n.Node)
		for _, c := range n.childOUs {
			walk(o.nodes[c])
		}
		for _, c := range n.childAccounts {
			out = append(out, o.nodes[c].Node)
		}
	}
	if r, ok := o.nodes[o.Root.ID]; ok {
		walk(r)
	}
	return out
}

// EntityCount returns how many OUs and accounts the organization has.
func (o *Org) EntityCount() (ous, accounts int) { return len(o.OUs), len(o.Accounts) }
