// Package orgwalk reads the structure of an AWS Organization through the
// Organizations API: the organization, its root, the tree of OUs (at most
// five levels under the root), the accounts, and where service control
// policies are attached. Every list call goes through the SDK's paginators,
// and throttling (TooManyRequestsException) is retried with backoff.
package orgwalk

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// API is the part of *organizations.Client the walk uses, with the SDK's
// exact signatures so its paginators accept it.
type API interface {
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	organizations.ListRootsAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListPoliciesForTargetAPIClient
	organizations.ListPoliciesAPIClient
	organizations.ListTargetsForPolicyAPIClient
	DescribePolicy(ctx context.Context, in *organizations.DescribePolicyInput, optFns ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error)
}

var _ API = (*organizations.Client)(nil)

// Entity types, as Organizations names them.
const (
	TypeRoot    = "ROOT"
	TypeOU      = "ORGANIZATIONAL_UNIT"
	TypeAccount = "ACCOUNT"
)

// maxDepth is how deep AWS nests OUs under the root.
const maxDepth = 5

// Entity is the root, an OU or an account.
type Entity struct {
	ID       string
	Type     string
	Name     string
	ParentID string // empty for the root
	Path     string // o-…/r-…[/ou-…]…[/<account id>], IAM's entity path
}

// Org is a walked organization. Entities holds the root, then the OUs, then
// the accounts listed so far, each group in path order.
type Org struct {
	ID                  string
	ManagementAccountID string
	Entities            []Entity

	byPath map[string]int
}

// Root returns the organization root.
func (o *Org) Root() Entity { return o.Entities[0] }

// ByPath returns the entity with the given entity path.
func (o *Org) ByPath(path string) (Entity, bool) {
	i, ok := o.byPath[path]
	if !ok {
		return Entity{}, false
	}
	return o.Entities[i], true
}

// Under reports whether e is ancestor or lies in its subtree.
func Under(e, ancestor Entity) bool {
	return e.Path == ancestor.Path || strings.HasPrefix(e.Path, ancestor.Path+"/")
}

func (o *Org) add(es []Entity) {
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	for _, e := range es {
		if _, dup := o.byPath[e.Path]; dup {
			continue
		}
		o.byPath[e.Path] = len(o.Entities)
		o.Entities = append(o.Entities, e)
	}
}

// Walker reads an organization.
type Walker struct {
	API    API
	Logger *slog.Logger
	// Workers bounds the list calls in flight (default 4): enough to hide
	// latency, few enough not to provoke throttling.
	Workers int
	// Backoff and Attempts govern retries of throttled and failed calls
	// (defaults backoff.Default, 10).
	Backoff  backoff.Policy
	Attempts int
	// OnRetry, when set, is called for every throttled or failed call
	// that is retried (progress counters).
	OnRetry func(err error)
	// ByTargetMax is the number of targets up to which Attachments asks
	// per target (ListPoliciesForTarget) rather than per policy; 0 means
	// 50, negative means always per policy.
	ByTargetMax int
}

func (w *Walker) workers() int {
	if w.Workers > 0 {
		return w.Workers
	}
	return 4
}

func (w *Walker) retry(ctx context.Context, what string, fn func() error) error {
	p, n := w.Backoff, w.Attempts
	if p.Base == 0 {
		p = backoff.Default
	}
	if n == 0 {
		n = 10
	}
	tries := 0
	err := backoff.Retry(ctx, p, n, func() error {
		tries++
		err := fn()
		if err != nil && backoff.IsTransient(err) {
			if w.OnRetry != nil {
				w.OnRetry(err)
			}
			if w.Logger != nil {
				w.Logger.Debug("organizations call retried", "call", what, "attempt", tries, "code", backoff.Code(err))
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Tree reads the organization, its root and every OU.
func (w *Walker) Tree(ctx context.Context) (*Org, error) {
	var desc *organizations.DescribeOrganizationOutput
	err := w.retry(ctx, "describe organization", func() (err error) {
		desc, err = w.API.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		return err
	})
	if err != nil {
		return nil, err
	}
	if desc.Organization == nil {
		return nil, fmt.Errorf("describe organization: empty answer")
	}
	o := &Org{
		ID:                  aws.ToString(desc.Organization.Id),
		ManagementAccountID: aws.ToString(desc.Organization.MasterAccountId),
		byPath:              map[string]int{},
	}
	var roots []types.Root
	err = w.retry(ctx, "list roots", func() error {
		roots = nil
		p := organizations.NewListRootsPaginator(w.API, &organizations.ListRootsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			roots = append(roots, page.Roots...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("list roots: %d roots; an organization has exactly one", len(roots))
	}
	root := Entity{ID: aws.ToString(roots[0].Id), Type: TypeRoot, Name: aws.ToString(roots[0].Name)}
	root.Path = o.ID + "/" + root.ID
	o.add([]Entity{root})

	level := []Entity{root}
	// OUs at the fifth level cannot have child OUs, so the walk stops
	// there without asking.
	for depth := 1; len(level) > 0 && depth <= maxDepth; depth++ {
		next, err := forEach(ctx, w.workers(), level, func(ctx context.Context, parent Entity) ([]Entity, error) {
			return w.childOUs(ctx, parent)
		})
		if err != nil {
			return nil, err
		}
		o.add(next)
		level = next
	}
	return o, nil
}

func (w *Walker) childOUs(ctx context.Context, parent Entity) ([]Entity, error) {
	var out []Entity
	err := w.retry(ctx, "list OUs under "+parent.ID, func() error {
		out = out[:0]
		p := organizations.NewListOrganizationalUnitsForParentPaginator(w.API, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent.ID)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, ou := range page.OrganizationalUnits {
				id := aws.ToString(ou.Id)
				out = append(out, Entity{ID: id, Type: TypeOU, Name: aws.ToString(ou.Name), ParentID: parent.ID, Path: parent.Path + "/" + id})
			}
		}
		return nil
	})
	return out, err
}

// AddAccounts lists the accounts directly under each of parentIDs (the root
// or OUs of o) and adds them to o.
func (w *Walker) AddAccounts(ctx context.Context, o *Org, parentIDs []string) error {
	var parents []Entity
	for _, id := range parentIDs {
		for _, e := range o.Entities {
			if e.ID == id && e.Type != TypeAccount {
				parents = append(parents, e)
				break
			}
		}
	}
	accounts, err := forEach(ctx, w.workers(), parents, func(ctx context.Context, parent Entity) ([]Entity, error) {
		var out []Entity
		err := w.retry(ctx, "list accounts under "+parent.ID, func() error {
			out = out[:0]
			p := organizations.NewListAccountsForParentPaginator(w.API, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent.ID)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, a := range page.Accounts {
					id := aws.ToString(a.Id)
					out = append(out, Entity{ID: id, Type: TypeAccount, Name: aws.ToString(a.Name), ParentID: parent.ID, Path: parent.Path + "/" + id})
				}
			}
			return nil
		})
		return out, err
	})
	if err != nil {
		return err
	}
	o.add(accounts)
	return nil
}

// defaultByTargetMax is the number of targets above which Attachments asks
// per policy (ListPolicies, ListTargetsForPolicy) rather than per target
// (ListPoliciesForTarget): an organization has far fewer SCPs than
// entities, so for a whole-organization run that is far fewer calls.
const defaultByTargetMax = 50

// Attachments returns, for each of targets (entity ids), the ids of the
// service control policies attached directly to it, sorted. Targets without
// a policy have no key.
func (w *Walker) Attachments(ctx context.Context, targets []string) (map[string][]string, error) {
	limit := w.ByTargetMax
	if limit == 0 {
		limit = defaultByTargetMax
	}
	if len(targets) <= limit {
		return w.attachmentsByTarget(ctx, targets)
	}
	return w.attachmentsByPolicy(ctx, targets)
}

func (w *Walker) attachmentsByTarget(ctx context.Context, targets []string) (map[string][]string, error) {
	type result struct {
		target   string
		policies []string
	}
	results, err := forEach(ctx, w.workers(), targets, func(ctx context.Context, target string) ([]result, error) {
		var ids []string
		err := w.retry(ctx, "list policies for "+target, func() error {
			ids = ids[:0]
			p := organizations.NewListPoliciesForTargetPaginator(w.API, &organizations.ListPoliciesForTargetInput{
				TargetId: aws.String(target), Filter: types.PolicyTypeServiceControlPolicy,
			})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, pol := range page.Policies {
					ids = append(ids, aws.ToString(pol.Id))
				}
			}
			return nil
		})
		return []result{{target, ids}}, err
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range results {
		if len(r.policies) > 0 {
			sort.Strings(r.policies)
			out[r.target] = r.policies
		}
	}
	return out, nil
}

func (w *Walker) attachmentsByPolicy(ctx context.Context, targets []string) (map[string][]string, error) {
	var policies []string
	err := w.retry(ctx, "list service control policies", func() error {
		policies = policies[:0]
		p := organizations.NewListPoliciesPaginator(w.API, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, pol := range page.Policies {
				policies = append(policies, aws.ToString(pol.Id))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type pair struct{ target, policy string }
	pairs, err := forEach(ctx, w.workers(), policies, func(ctx context.Context, policy string) ([]pair, error) {
		var out []pair
		err := w.retry(ctx, "list targets of "+policy, func() error {
			out = out[:0]
			p := organizations.NewListTargetsForPolicyPaginator(w.API, &organizations.ListTargetsForPolicyInput{PolicyId: aws.String(policy)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, t := range page.Targets {
					out = append(out, pair{aws.ToString(t.TargetId), policy})
				}
			}
			return nil
		})
		return out, err
	})
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	out := map[string][]string{}
	for _, p := range pairs {
		if want[p.target] {
			out[p.target] = append(out[p.target], p.policy)
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out, nil
}

// forEach runs fn for every item with at most n in flight and concatenates
// the results in item order. The first error cancels the rest.
func forEach[T, R any](ctx context.Context, n int, items []T, fn func(context.Context, T) ([]R, error)) ([]R, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([][]R, len(items))
	errs := make([]error, len(items))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	started := 0
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := fn(ctx, it)
			results[i], errs[i] = r, err
			if err != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var out []R
	for i := range items {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, results[i]...)
	}
	if started < len(items) {
		// Cancelled from outside before every item ran.
		return nil, fmt.Errorf("walk organization: %w", context.Cause(ctx))
	}
	return out, nil
}
