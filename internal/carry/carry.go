// Package carry decides whether an account report of an earlier run can be
// carried into this run instead of asking IAM for a new one, and how the
// accounts that must be refreshed are ordered when a run's time budget
// cannot hold them all. It is pure: the evidence comes in (the earlier
// report's facts, this run's reports of the root and OUs above the
// account, the SCPs then and now), a verdict goes out.
//
// The rule: a report of an account made at instant A is still true at this
// run when this run's report of the OU directly above the account (the
// root, for an account directly under it) shows no access later than A
// minus IAM's publication delay (about four hours) to any service the
// account's report listed. That report covers every account below the OU,
// so no access there means no access in the account. It is the strongest
// evidence of all the reports above the account: each higher one covers
// more accounts, so its last accesses can only be later (an access in
// another OU's account shows at the root and proves nothing here). IAM publishes
// activity up to the delay late, so activity just before A may be missing
// from the earlier report and only show now: comparing with A minus the
// delay catches it. Any doubt means refresh: no earlier report, a failed or
// unreadable one, the account moved, the SCPs on its path changed, the
// report of the OU directly above it missing or failed, that report listing
// a service its report in the earlier run did not (IAM began to report a
// new service) or no longer listing one the account's report lists, or the
// management account (the root's and OUs' reports
// leave it out).
package carry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// PublicationDelay is how late IAM may publish an access in its reports.
const PublicationDelay = 4 * time.Hour

// Freshness of a report in a run.
const (
	Fresh     = "fresh"     // made by this run's own job
	Unchanged = "unchanged" // carried from an earlier run, proven still true
	Stale     = "stale"     // carried from an earlier run, not proven (the budget ran out)
)

// Earlier is what is known of an account's report in an earlier run.
type Earlier struct {
	AsOf time.Time // the report's as-of instant (its job's completion)
	Path string    // the account's entity path then
	// Policies is the fingerprint of the SCPs on the account's path then
	// (Fingerprint).
	Policies string
	// Services are the namespaces the report listed: the services the
	// account's SCPs allowed, as IAM computed them.
	Services []string
	// OK says the report completed and was read back intact.
	OK bool
}

// Group is this run's report of the root or an OU above the account.
type Group struct {
	Path string
	OK   bool // the job completed and its report is stored
	// LastAccess is the last access to each service anywhere below it.
	LastAccess map[string]time.Time
	// Listed are the services the report lists, and EarlierListed those
	// its report in the earlier run listed (nil: unknown), both sorted. A service
	// listed now and not then is one IAM began to report (a new service):
	// the account's earlier report lacks it.
	Listed, EarlierListed []string
}

// Account is the evidence about one account.
type Account struct {
	Path       string
	Management bool   // the organization's management account
	Policies   string // fingerprint of the SCPs on its path now
	Earlier    *Earlier
	// Above are this run's reports of the root and every OU above the
	// account, root first (nil entries: not reported by this run); the
	// last, the OU directly above the account, is the evidence.
	Above []*Group
	// Depth is how many levels of the path must be in Above: the root and
	// every OU on the path.
	Depth int
}

// Verdict is the decision about one account.
type Verdict struct {
	Carry  bool   // the earlier report is carried as unchanged
	Reason string // why it is refreshed, or what proved it unchanged
}

// Decide applies the rule to a.
func Decide(a Account) Verdict {
	e := a.Earlier
	switch {
	case a.Management:
		return Verdict{Reason: "the management account: the root's and OUs' reports leave it out"}
	case e == nil:
		return Verdict{Reason: "no earlier report (a new account, or one not reported before)"}
	case !e.OK:
		return Verdict{Reason: "the earlier report failed or could not be read"}
	case e.Path != a.Path:
		return Verdict{Reason: fmt.Sprintf("the account moved from %s", e.Path)}
	case e.Policies != a.Policies:
		return Verdict{Reason: "the SCPs on the account's path changed"}
	case len(a.Above) != a.Depth || a.Depth == 0:
		return Verdict{Reason: "this run has no report of every OU above the account"}
	}
	since := e.AsOf.Add(-PublicationDelay)
	g := a.Above[a.Depth-1]
	if g == nil || !g.OK {
		return Verdict{Reason: "the OU directly above the account has no completed report in this run"}
	}
	if g.EarlierListed == nil {
		return Verdict{Reason: "the earlier run has no report of the OU directly above the account to compare its services with"}
	}
	for _, ns := range g.Listed {
		if _, ok := slices.BinarySearch(g.EarlierListed, ns); !ok {
			return Verdict{Reason: fmt.Sprintf("%s lists %s, which it did not list in the earlier run: the earlier report may lack it", g.Path, ns)}
		}
	}
	for _, ns := range e.Services {
		if _, ok := slices.BinarySearch(g.Listed, ns); !ok {
			return Verdict{Reason: fmt.Sprintf("%s no longer lists %s, which the earlier report lists", g.Path, ns)}
		}
	}
	for _, ns := range e.Services {
		if t, ok := g.LastAccess[ns]; ok && t.After(since) {
			return Verdict{Reason: fmt.Sprintf("%s shows access to %s at %s, after the earlier report's as-of less the publication delay (%s)",
				g.Path, ns, t.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))}
		}
	}
	return Verdict{Carry: true, Reason: fmt.Sprintf("%s shows no access to its services since %s", g.Path, since.UTC().Format(time.RFC3339))}
}

// Attached is one SCP attached to a target: its id and document.
type Attached struct {
	ID      string
	Content string
}

// Fingerprint identifies the SCPs that govern an entity: the policies
// attached to each target on its path (root, OUs, the entity), by id and
// document. attached returns a target's policies. Two fingerprints are
// equal exactly when the same documents are attached at the same levels.
func Fingerprint(path string, attached func(target string) []Attached) string {
	segs := strings.Split(path, "/")
	if len(segs) > 0 {
		segs = segs[1:] // the organization id is no target
	}
	h := sha256.New()
	for _, target := range segs {
		pols := slices.Clone(attached(target))
		sort.Slice(pols, func(i, j int) bool { return pols[i].ID < pols[j].ID })
		fmt.Fprintf(h, "%s:", target)
		for _, p := range pols {
			c := sha256.Sum256([]byte(p.Content))
			fmt.Fprintf(h, "%s=%x,", p.ID, c[:8])
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Candidate is an account to refresh, for Order.
type Candidate struct {
	Index int
	// AsOf is the as-of instant of its report that would be carried stale
	// (zero: none, it would end BudgetExhausted).
	AsOf time.Time
}

// Order sorts the accounts to refresh stalest first: those without a
// report to carry, then those whose carried report is older than
// refreshAge (oldest first), then the rest, oldest first. Ties keep their
// order.
func Order(c []Candidate, now time.Time, refreshAge time.Duration) {
	sort.SliceStable(c, func(i, j int) bool { return Compare(c[i], c[j], now, refreshAge) < 0 })
}

// Compare is Order's comparison: negative when a is refreshed before b,
// zero when neither comes first.
func Compare(a, b Candidate, now time.Time, refreshAge time.Duration) int {
	rank := func(x Candidate) int {
		switch {
		case x.AsOf.IsZero():
			return 0
		case now.Sub(x.AsOf) >= refreshAge:
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return a.AsOf.Compare(b.AsOf)
}
