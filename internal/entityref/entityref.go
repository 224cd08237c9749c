// Package entityref turns what a user types for an entity of an AWS
// Organization — an entity path, the id of the root, an OU or an account,
// or the unique name of an OU or account — into the entity path IAM's
// Organizations access reports take (o-…/r-…[/ou-…]…[/<account id>]),
// by asking Organizations.
package entityref

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// API is the part of *organizations.Client the lookup uses, with the SDK's
// exact signatures so its paginators accept it.
type API interface {
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	organizations.ListRootsAPIClient
	organizations.ListParentsAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	organizations.ListAccountsAPIClient
}

var _ API = (*organizations.Client)(nil)

var (
	rootIDRE    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	ouIDRE      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	accountIDRE = regexp.MustCompile(`^\d{12}$`)
)

// IsPath reports whether ref is written as an entity path, which needs no
// lookup.
func IsPath(ref string) bool { return strings.HasPrefix(ref, "o-") && strings.Contains(ref, "/") }

// NotFound is a reference that names no entity of the organization.
type NotFound struct{ Ref, OrganizationID string }

func (e *NotFound) Error() string {
	return fmt.Sprintf("%q is not the id or the name of the root, an OU or an account of %s", e.Ref, e.OrganizationID)
}

// Ambiguous is a name that several entities bear.
type Ambiguous struct {
	Ref     string
	Matches []Match
}

// Match is one entity a name stands for.
type Match struct{ ID, Type, Path string }

func (e *Ambiguous) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q names %d entities; give one's id or entity path:", e.Ref, len(e.Matches))
	for i, m := range e.Matches {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %s (%s)", m.Type, m.ID, m.Path)
	}
	return b.String()
}

// Resolver looks references up in one organization, reading each part of
// it at most once.
type Resolver struct {
	api      API
	orgID    string
	rootID   string
	parents  map[string]string // child id → parent id
	ous      []orgtypes.OrganizationalUnit
	ouParent map[string]string
	accounts []orgtypes.Account
	listed   bool
}

// New returns a Resolver over api.
func New(api API) *Resolver {
	return &Resolver{api: api, parents: map[string]string{}, ouParent: map[string]string{}}
}

// retry retries what a throttled or failing Organizations answers, as the
// pipeline's own callers do.
func retry(ctx context.Context, fn func() error) error {
	return backoff.Retry(ctx, backoff.Default, 8, fn)
}

func (r *Resolver) init(ctx context.Context) error {
	if r.orgID != "" {
		return nil
	}
	var org *organizations.DescribeOrganizationOutput
	if err := retry(ctx, func() (err error) {
		org, err = r.api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		return err
	}); err != nil {
		return fmt.Errorf("describe the organization: %w", err)
	}
	var roots *organizations.ListRootsOutput
	if err := retry(ctx, func() (err error) {
		roots, err = r.api.ListRoots(ctx, &organizations.ListRootsInput{})
		return err
	}); err != nil {
		return fmt.Errorf("list roots: %w", err)
	}
	if len(roots.Roots) == 0 {
		return errors.New("the organization has no root")
	}
	r.orgID, r.rootID = aws.ToString(org.Organization.Id), aws.ToString(roots.Roots[0].Id)
	return nil
}

// Path resolves ref to an entity path. A path is returned as it is (the
// run input's checks apply to it); an id is looked up; anything else is a
// name, which must be unique among the OUs and accounts (errors
// *NotFound, *Ambiguous).
func (r *Resolver) Path(ctx context.Context, ref string) (string, error) {
	if IsPath(ref) {
		return ref, nil
	}
	if err := r.init(ctx); err != nil {
		return "", err
	}
	switch {
	case ref == r.rootID:
		return r.orgID + "/" + r.rootID, nil
	case rootIDRE.MatchString(ref):
		return "", &NotFound{Ref: ref, OrganizationID: r.orgID}
	case ouIDRE.MatchString(ref) || accountIDRE.MatchString(ref):
		return r.pathOf(ctx, ref)
	}
	return r.byName(ctx, ref)
}

// pathOf builds the path of an OU or account from its parents.
func (r *Resolver) pathOf(ctx context.Context, id string) (string, error) {
	chain := []string{id}
	for cur := id; cur != r.rootID; {
		parent, ok := r.parents[cur]
		if !ok {
			var out *organizations.ListParentsOutput
			err := retry(ctx, func() (err error) {
				out, err = r.api.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(cur)})
				return err
			})
			var notFound *orgtypes.ChildNotFoundException
			if errors.As(err, &notFound) || (err == nil && len(out.Parents) == 0) {
				return "", &NotFound{Ref: id, OrganizationID: r.orgID}
			}
			if err != nil {
				return "", fmt.Errorf("list parents of %s: %w", cur, err)
			}
			parent = aws.ToString(out.Parents[0].Id)
			r.parents[cur] = parent
		}
		if len(chain) > 7 {
			return "", fmt.Errorf("the parents of %s do not reach the root", id)
		}
		chain = append(chain, parent)
		cur = parent
	}
	parts := []string{r.orgID}
	for i := len(chain) - 1; i >= 0; i-- {
		parts = append(parts, chain[i])
	}
	return strings.Join(parts, "/"), nil
}

// list reads every OU (walking down from the root) and every account once.
func (r *Resolver) list(ctx context.Context) error {
	if r.listed {
		return nil
	}
	queue := []string{r.rootID}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		pages := organizations.NewListOrganizationalUnitsForParentPaginator(r.api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
		for pages.HasMorePages() {
			var page *organizations.ListOrganizationalUnitsForParentOutput
			if err := retry(ctx, func() (err error) { page, err = pages.NextPage(ctx); return err }); err != nil {
				return fmt.Errorf("list the OUs of %s: %w", parent, err)
			}
			for _, ou := range page.OrganizationalUnits {
				r.ous = append(r.ous, ou)
				r.ouParent[aws.ToString(ou.Id)] = parent
				r.parents[aws.ToString(ou.Id)] = parent
				queue = append(queue, aws.ToString(ou.Id))
			}
		}
	}
	pages := organizations.NewListAccountsPaginator(r.api, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		var page *organizations.ListAccountsOutput
		if err := retry(ctx, func() (err error) { page, err = pages.NextPage(ctx); return err }); err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		r.accounts = append(r.accounts, page.Accounts...)
	}
	r.listed = true
	return nil
}

func (r *Resolver) byName(ctx context.Context, name string) (string, error) {
	if err := r.list(ctx); err != nil {
		return "", err
	}
	var ids []Match
	for _, ou := range r.ous {
		if aws.ToString(ou.Name) == name {
			ids = append(ids, Match{ID: aws.ToString(ou.Id), Type: "OU"})
		}
	}
	for _, a := range r.accounts {
		if aws.ToString(a.Name) == name {
			ids = append(ids, Match{ID: aws.ToString(a.Id), Type: "account"})
		}
	}
	for i := range ids {
		p, err := r.pathOf(ctx, ids[i].ID)
		if err != nil {
			return "", err
		}
		ids[i].Path = p
	}
	switch len(ids) {
	case 0:
		return "", &NotFound{Ref: name, OrganizationID: r.orgID}
	case 1:
		return ids[0].Path, nil
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Path < ids[j].Path })
	return "", &Ambiguous{Ref: name, Matches: ids}
}
