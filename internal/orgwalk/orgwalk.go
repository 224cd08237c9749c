// Package orgwalk reads the structure of an AWS Organization through the
// Organizations API: the organization, its root, the tree of OUs (at most
// five levels under the root), the accounts, where service control policies
// are attached and what they say.
//
// A walk is resumable: its Progress (what is known, and the listings still
// to do with the page each has reached) is plain JSON, so a walk that runs
// out of time in one Lambda invocation goes on in the next from the last
// page it read. Throttling (TooManyRequestsException) slows the walk down
// instead of failing it; only a walk that meets nothing but throttling for
// longer than Walker.ThrottleLimit fails.
package orgwalk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// API is the part of *organizations.Client the walk uses, with the SDK's
// exact signatures so its paginators accept it.
type API interface {
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
	DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, optFns ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	DescribePolicy(ctx context.Context, in *organizations.DescribePolicyInput, optFns ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error)
	organizations.ListRootsAPIClient
	organizations.ListParentsAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListPoliciesForTargetAPIClient
	organizations.ListPoliciesAPIClient
	organizations.ListTargetsForPolicyAPIClient
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
	ID       string `json:"id"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	ParentID string `json:"parentId,omitempty"` // empty for the root
	Path     string `json:"path"`               // o-…/r-…[/ou-…]…[/<account id>], IAM's entity path
	// Depth is the number of levels under the root (0 for the root).
	Depth int `json:"depth,omitempty"`
}

// Under reports whether e is ancestor or lies in its subtree.
func Under(e, ancestor Entity) bool {
	return e.Path == ancestor.Path || strings.HasPrefix(e.Path, ancestor.Path+"/")
}

// Walker reads an organization.
type Walker struct {
	API    API
	Logger *slog.Logger
	// Workers bounds the list calls in flight (default 4): enough to hide
	// latency, few enough not to provoke throttling.
	Workers int
	// Backoff and Attempts govern retries of calls that failed for a
	// reason other than throttling (a 5xx answer, a dropped connection):
	// defaults backoff.Default and 10 attempts.
	Backoff  backoff.Policy
	Attempts int
	// ThrottleLimit is how long a walk may meet nothing but throttling
	// before it fails (default DefaultThrottleLimit). It spans
	// invocations: the time is kept in the Progress.
	ThrottleLimit time.Duration
	// ByTargetMax is the number of attachment targets up to which the walk
	// asks per target (ListPoliciesForTarget) rather than per policy
	// (ListPolicies, ListTargetsForPolicy); 0 means 50, negative means
	// always per policy.
	ByTargetMax int
	// Now is the clock of the throttling limit; nil: time.Now.
	Now func() time.Time
}

// DefaultThrottleLimit is how long a walk may meet only throttling before
// it gives up: long enough for any burst of other callers to pass, short
// enough that a run whose caller is throttled for good says so the same
// night.
const DefaultThrottleLimit = 15 * time.Minute

// defaultByTargetMax is the number of targets above which the walk asks
// per policy rather than per target: an organization has far fewer SCPs
// than entities, so for a whole-organization run that is far fewer calls.
const defaultByTargetMax = 50

func (w *Walker) workers() int {
	if w.Workers > 0 {
		return w.Workers
	}
	return 4
}

func (w *Walker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Walker) throttleLimit() time.Duration {
	if w.ThrottleLimit > 0 {
		return w.ThrottleLimit
	}
	return DefaultThrottleLimit
}

func (w *Walker) byTargetMax() int {
	if w.ByTargetMax == 0 {
		return defaultByTargetMax
	}
	return w.ByTargetMax
}

// ThrottledTooLong is the error of a walk that met only throttling for
// longer than its limit.
type ThrottledTooLong struct {
	For       time.Duration
	Throttled int // throttled answers in that time
	Last      error
}

func (e *ThrottledTooLong) Error() string {
	return fmt.Sprintf("organizations answered only throttling (%d TooManyRequestsException) for %s; the walk gives up: lower the Organizations traffic of other callers, or run again later: %v",
		e.Throttled, e.For.Round(time.Second), e.Last)
}

func (e *ThrottledTooLong) Unwrap() error { return e.Last }

// errStop says the walk reached its deadline: not a failure.
var errStop = errors.New("walk paused at its deadline")
