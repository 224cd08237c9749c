package orgmodel

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// Report is the content of an Organizations access report as IAM computes
// it for one entity, optionally for one SCP.
type Report struct {
	Entity Node
	// Services are the services the report lists, sorted by namespace.
	Services []ServiceAccess
	// Accessible counts the services the applicable SCPs allow, which are
	// the services listed; NotAccessed counts those of them with no
	// recorded access. IAM's names for them are NumberOfServicesAccessible
	// and NumberOfServicesNotAccessed.
	Accessible, NotAccessed int
}

// ServiceAccess is one service of a Report.
type ServiceAccess struct {
	Namespace, Name string
	// LastAuthenticated is the latest access among the report's data
	// accounts; zero when none of them accessed the service.
	LastAuthenticated time.Time
	// Region and EntityPath belong to that latest access (EntityPath is
	// the accessing account's path); empty when there is none, except that
	// IAM gives an unused iam row the Region us-east-1 (UnusedIAMRegion).
	Region, EntityPath string
	// TotalAuthenticatedEntities is how many data accounts accessed the
	// service.
	TotalAuthenticatedEntities int
}

// Input patterns and bounds of IAM's GenerateOrganizationsAccessReport.
var (
	entityPathRE = regexp.MustCompile(`^o-[0-9a-z]{10,32}/r-[0-9a-z]{4,32}[0-9a-z-/]*$`)
	policyIDRE   = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)
)

const (
	minEntityPathLen = 19
	maxEntityPathLen = 427
)

// ValidEntityPath reports whether path is well formed (pattern and length),
// whether or not it names an entity.
func ValidEntityPath(path string) bool {
	return len(path) >= minEntityPathLen && len(path) <= maxEntityPathLen && entityPathRE.MatchString(path)
}

// ValidPolicyID reports whether id is a well-formed SCP id.
func ValidPolicyID(id string) bool { return policyIDRE.MatchString(id) }

// ResolvePath returns the entity an entity path names. The path must be
// well formed (else ErrInvalidInput) and its segments must be the real chain
// of parents from the organization down to the entity (else
// ErrNoSuchEntity).
func (o *Org) ResolvePath(path string) (Node, error) {
	if !ValidEntityPath(path) {
		return Node{}, invalidInput(fmt.Sprintf("Invalid entity path %q: it must match %s and be %d to %d characters long.",
			path, entityPathRE, minEntityPathLen, maxEntityPathLen))
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	// A node's path is its full chain, so comparing the whole path checks
	// the organization, the root and every parent at once.
	if n, ok := o.nodes[last]; ok && n.Path == path {
		return n.Node, nil
	}
	return Node{}, noSuchEntity(fmt.Sprintf("The entity with path %s does not exist in the organization.", path))
}

// AccessReport computes the report IAM returns for entityPath and, when
// policyID is not empty, for that SCP. The rules are those of IAM's
// GenerateOrganizationsAccessReport:
//
//   - Without a policy id, the services are those the SCPs let through to
//     the entity: a service is listed when some action of it is still
//     potentially allowed at every level from the root down to the entity
//     itself (the root, each OU, the account), that is allowed by some SCP
//     attached at that level and denied by no unconditional Deny on every
//     resource at any of the levels (see allowedBy in scp.go;
//     FullAWSAccess allows every catalog service; a level with nothing
//     attached allows nothing).
//   - With a policy id, the services are those that SCP allows on its own
//     (its Allow statements less its unconditional whole-service Denies;
//     a deny-only SCP lists nothing). The data then come only from the
//     accounts in scope the SCP is attached to within the entity's
//     subtree: attached to the entity itself, to an OU between it and the
//     account, or to the account. An SCP attached only above the entity
//     (or nowhere) gives its services with no data.
//   - A root or OU report takes data from every account of the subtree
//     except the management account; an account report from that account.
//   - A management-account report lists every catalog service with data
//     from the management account only; a policy id is checked for form and
//     otherwise ignored, since SCPs do not limit the management account.
//
// For every service the latest access among the data accounts gives
// LastAuthenticated, Region and EntityPath (ties go to the smaller account
// id), and TotalAuthenticatedEntities counts the data accounts that used it.
//
// Malformed input is ErrInvalidInput; a path or policy id naming nothing is
// ErrNoSuchEntity. An organization with SCPs disabled is ErrInvalidInput,
// as IAM requires SCPs enabled at the root.
func (o *Org) AccessReport(entityPath, policyID string) (*Report, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	n, err := o.checkReportInput(entityPath, policyID)
	if err != nil {
		return nil, err
	}
	var allowed svcSet
	var data []string
	switch {
	case n.Type == TypeAccount && n.ID == o.ManagementAccountID:
		allowed, data = fullSet(), []string{n.ID}
	case policyID != "":
		allowed = allowedBy([][]*Policy{{o.policies[policyID]}})
		for _, a := range o.AccountsUnder(n.ID) {
			if a != o.ManagementAccountID && o.attachedWithin(policyID, n.ID, a) {
				data = append(data, a)
			}
		}
	default:
		allowed = o.allowedAt(n.ID)
		for _, a := range o.AccountsUnder(n.ID) {
			if a != o.ManagementAccountID {
				data = append(data, a)
			}
		}
	}
	return o.buildReport(n, allowed, data), nil
}

// CheckReportInput validates the input of AccessReport without computing
// the report, with the same errors, and returns the entity.
func (o *Org) CheckReportInput(entityPath, policyID string) (Node, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.checkReportInput(entityPath, policyID)
}

func (o *Org) checkReportInput(entityPath, policyID string) (Node, error) {
	if policyID != "" && !ValidPolicyID(policyID) {
		return Node{}, invalidInput(fmt.Sprintf("Invalid policy id %q: it must match %s.", policyID, policyIDRE))
	}
	n, err := o.ResolvePath(entityPath)
	if err != nil {
		return Node{}, err
	}
	if o.SCPDisabled {
		return Node{}, invalidInput("Service control policies are not enabled for the organization root.")
	}
	if policyID != "" && n.ID != o.ManagementAccountID {
		if _, ok := o.policies[policyID]; !ok {
			return Node{}, noSuchEntity(fmt.Sprintf("The policy with id %s does not exist in the organization.", policyID))
		}
	}
	return n, nil
}

// AllowedServices returns the namespaces the SCPs let through to the entity
// with the given id (the intersection over its levels described at
// AccessReport), sorted.
func (o *Org) AllowedServices(id string) []string {
	if _, ok := o.nodes[id]; !ok {
		return nil
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.allowedAt(id).namespaces()
}

// PolicyServices returns the namespaces the SCP policyID makes potentially
// accessible on its own (what a report for that policy lists), sorted;
// nil for an unknown policy.
func (o *Org) PolicyServices(policyID string) []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	p, ok := o.policies[policyID]
	if !ok {
		return nil
	}
	return allowedBy([][]*Policy{{p}}).namespaces()
}

// PolicyApplies reports whether the SCP is attached to the target or to any
// of its ancestors.
func (o *Org) PolicyApplies(policyID, targetID string) bool {
	if _, ok := o.nodes[targetID]; !ok {
		return false
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.policyApplies(policyID, targetID)
}

// attachedWithin reports whether the SCP is attached to acct or to an
// entity between it and the entity id (id included): the accounts a
// report for id and the policy takes data from.
func (o *Org) attachedWithin(policyID, id, acct string) bool {
	for n := o.nodes[acct]; n != nil; n = o.nodes[n.ParentID] {
		if slices.Contains(o.Attachments[n.ID], policyID) {
			return true
		}
		if n.ID == id || n.ParentID == "" {
			break
		}
	}
	return false
}

func (o *Org) policyApplies(policyID, id string) bool {
	for n := o.nodes[id]; n != nil; n = o.nodes[n.ParentID] {
		for _, p := range o.Attachments[n.ID] {
			if p == policyID {
				return true
			}
		}
		if n.ParentID == "" {
			break
		}
	}
	return false
}

// allowedAt returns the services the SCPs from the root down to id let
// through; o.mu is held.
func (o *Org) allowedAt(id string) svcSet {
	var levels [][]*Policy
	for n := o.nodes[id]; n != nil; n = o.nodes[n.ParentID] {
		var level []*Policy
		for _, pid := range o.Attachments[n.ID] {
			if p, ok := o.policies[pid]; ok {
				level = append(level, p)
			}
		}
		levels = append(levels, level)
		if n.ParentID == "" {
			break
		}
	}
	slices.Reverse(levels)
	return allowedBy(levels)
}

func (o *Org) buildReport(n Node, allowed svcSet, data []string) *Report {
	all := catalog.All()
	idx := make([]int, len(all)) // catalog index -> position in out, or -1
	var out []ServiceAccess
	for i, s := range all {
		idx[i] = -1
		if allowed.has(i) {
			idx[i] = len(out)
			out = append(out, ServiceAccess{Namespace: s.Namespace, Name: s.Name})
		}
	}
	for _, acct := range data { // sorted, so ties keep the smaller account id
		var path string
		for ns, a := range o.Activity[acct] {
			ci, ok := catalogIndex[ns]
			if !ok || idx[ci] < 0 || a.Time.IsZero() {
				continue
			}
			s := &out[idx[ci]]
			s.TotalAuthenticatedEntities++
			if a.Time.After(s.LastAuthenticated) {
				if path == "" {
					path = o.nodes[acct].Path
				}
				s.LastAuthenticated, s.Region, s.EntityPath = a.Time, a.Region, path
			}
		}
	}
	r := &Report{Entity: n, Services: out, Accessible: len(out)}
	for i := range out {
		if out[i].TotalAuthenticatedEntities == 0 {
			r.NotAccessed++
			if out[i].Namespace == "iam" {
				out[i].Region = UnusedIAMRegion
			}
		}
	}
	return r
}

// UnusedIAMRegion is the Region IAM reports on the iam row of an access
// report when no account in scope used IAM: IAM is a global service
// homed in us-east-1, and the row carries that region with no date, path
// or count. Every other never-accessed row has no Region.
const UnusedIAMRegion = "us-east-1"

// catalogIndex maps a namespace to its index in catalog.All().
var catalogIndex = func() map[string]int {
	m := make(map[string]int, len(catalog.All()))
	for i, s := range catalog.All() {
		m[s.Namespace] = i
	}
	return m
}()

// svcSet is a set of catalog services as a bitset over catalog.All().
type svcSet []uint64

func fullSet() svcSet {
	n := len(catalog.All())
	s := make(svcSet, (n+63)/64)
	for i := range s {
		s[i] = ^uint64(0)
	}
	if r := n % 64; r != 0 {
		s[len(s)-1] = 1<<r - 1
	}
	return s
}

// setOf returns the set of an Allow list; unknown namespaces are ignored.
func setOf(allow []string) svcSet {
	s := make(svcSet, (len(catalog.All())+63)/64)
	for _, ns := range allow {
		if ns == AllServices {
			return fullSet()
		}
		if i, ok := catalogIndex[ns]; ok {
			s[i/64] |= 1 << (i % 64)
		}
	}
	return s
}

func (s svcSet) has(i int) bool { return i/64 < len(s) && s[i/64]&(1<<(i%64)) != 0 }

func (s *svcSet) or(t svcSet) {
	for len(*s) < len(t) {
		*s = append(*s, 0)
	}
	for i, w := range t {
		(*s)[i] |= w
	}
}

func (s svcSet) and(t svcSet) {
	for i := range s {
		if i < len(t) {
			s[i] &= t[i]
		} else {
			s[i] = 0
		}
	}
}

func (s svcSet) namespaces() []string {
	var out []string
	for i, svc := range catalog.All() {
		if s.has(i) {
			out = append(out, svc.Namespace)
		}
	}
	return out
}
