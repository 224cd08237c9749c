// Package scpsuggest writes Service Control Policy documents that deny the
// services an entity did not use, minus services that must stay reachable
// however rarely they are used. The documents are minified and split to fit
// the SCP size quota.
package scpsuggest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MaxPolicySize is the SCP document size quota, in characters.
const MaxPolicySize = 5120

// Sid is the statement id of every suggested policy.
const Sid = "DenyUnusedServices"

// defaultNeverDeny maps each namespace that is never denied by default to
// the reason. These services are used rarely but are needed in exactly the
// moments an audit window does not see: sign-in, break-glass, incidents,
// billing, encrypted data.
var defaultNeverDeny = map[string]string{
	"account":             "account settings, alternate contacts and Region opt-in",
	"aws-portal":          "billing console access (legacy billing actions)",
	"billing":             "billing console and payment settings",
	"budgets":             "budget alerts are read by automation, not people",
	"ce":                  "Cost Explorer, used at month end or in cost incidents",
	"cloudtrail":          "audit trail lookups during security investigations",
	"consolidatedbilling": "consolidated billing views",
	"cur":                 "cost and usage report definitions",
	"freetier":            "free tier usage alerts",
	"health":              "AWS Health events during outages",
	"iam":                 "identity management; denying it locks out administrators and break-glass roles",
	"invoicing":           "invoices",
	"kms":                 "decrypting existing data; AWS services call it on a principal's behalf, so disuse is unreliable",
	"organizations":       "organization membership and account management",
	"payments":            "payment methods",
	"pricing":             "price list queries made by tooling",
	"purchase-orders":     "purchase orders",
	"signin":              "console sign-in",
	"sso":                 "IAM Identity Center sign-in and permission sets",
	"sts":                 "role assumption and session credentials, which everything else depends on",
	"support":             "opening support cases in an incident",
	"tax":                 "tax settings",
}

// DefaultNeverDeny returns the default never-deny namespaces with the
// reason for each, sorted by namespace.
func DefaultNeverDeny() [][2]string {
	out := make([][2]string, 0, len(defaultNeverDeny))
	for ns, why := range defaultNeverDeny {
		out = append(out, [2]string{ns, why})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Options tune a suggestion.
type Options struct {
	// Keep adds namespaces to the default never-deny list.
	Keep []string
}

// defaultKeep is the never-deny set without Options.Keep, built once: a
// run asks for it once per entity.
var defaultKeep = func() map[string]bool {
	m := make(map[string]bool, len(defaultNeverDeny))
	for ns := range defaultNeverDeny {
		m[ns] = true
	}
	return m
}()

func keepSet(opts Options) map[string]bool {
	if len(opts.Keep) == 0 {
		return defaultKeep
	}
	m := make(map[string]bool)
	for _, ns := range NeverDeny(opts) {
		m[ns] = true
	}
	return m
}

// NeverDeny returns the effective never-deny list of opts, sorted.
func NeverDeny(opts Options) []string {
	set := make(map[string]bool, len(defaultNeverDeny)+len(opts.Keep))
	for ns := range defaultNeverDeny {
		set[ns] = true
	}
	for _, ns := range opts.Keep {
		if ns = strings.TrimSpace(ns); ns != "" {
			set[ns] = true
		}
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Suggestion is the SCP suggestion for one entity.
type Suggestion struct {
	// Denied are the namespaces the policies deny, sorted.
	Denied []string
	// Kept are unused namespaces left out because they are on the
	// never-deny list, sorted.
	Kept []string
	// Policies are the minified SCP documents, each at most MaxPolicySize
	// characters; empty when nothing is to be denied.
	Policies []string
}

// namespacePattern is what an IAM service prefix looks like; anything else
// would make an invalid action.
var namespacePattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// Suggest returns the SCP documents denying the unused namespaces, except
// those on the never-deny list. Namespaces are deduplicated and sorted, and
// the split is greedy in that order, so the same input gives the same
// documents.
func Suggest(unused []string, opts Options) (Suggestion, error) {
	s, err := partition(unused, opts)
	if err != nil {
		return Suggestion{}, err
	}
	s.Policies = split(s.Denied)
	return s, nil
}

// Count returns what Suggest would deny and keep and how many documents it
// would write, without writing them.
func Count(unused []string, opts Options) (denied int, kept []string, policies int, err error) {
	s, err := partition(unused, opts)
	if err != nil {
		return 0, nil, 0, err
	}
	return len(s.Denied), s.Kept, len(cuts(s.Denied)), nil
}

func partition(unused []string, opts Options) (Suggestion, error) {
	keep := keepSet(opts)
	s := Suggestion{Denied: make([]string, 0, len(unused)), Kept: []string{}, Policies: []string{}}
	sorted := sort.StringsAreSorted(unused)
	for i, ns := range unused {
		if sorted && i > 0 && unused[i-1] == ns {
			continue
		}
		switch {
		case !namespacePattern.MatchString(ns):
			return Suggestion{}, fmt.Errorf("scpsuggest: invalid service namespace %q", ns)
		case keep[ns]:
			s.Kept = append(s.Kept, ns)
		default:
			s.Denied = append(s.Denied, ns)
		}
	}
	if !sorted {
		s.Denied = dedupSorted(s.Denied)
		s.Kept = dedupSorted(s.Kept)
	}
	return s, nil
}

func dedupSorted(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, v := range in {
		if i == 0 || in[i-1] != v {
			out = append(out, v)
		}
	}
	return out
}

const (
	docHead = `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Deny","Action":[`
	docTail = `],"Resource":"*"}]}`
)

// Envelope returns the text every document starts and ends with; the
// actions, comma-separated JSON strings, go between. The HTML report uses it
// to build the same documents in the browser.
func Envelope() (head, tail string) { return docHead, docTail }

// cuts returns where each document starts in namespaces: the greedy
// packing in order, as many actions per document as fit the quota.
func cuts(namespaces []string) []int {
	var starts []int
	size := 0 // of the current document, without its tail
	for i, ns := range namespaces {
		action := len(ns) + 4 // "ns:*" quoted; namespaces need no JSON escaping
		if len(starts) > 0 && size+1+action+len(docTail) <= MaxPolicySize {
			size += 1 + action
			continue
		}
		starts = append(starts, i)
		size = len(docHead) + action
	}
	return starts
}

// split writes the documents cuts describes.
func split(namespaces []string) []string {
	starts := cuts(namespaces)
	docs := make([]string, 0, len(starts))
	for k, from := range starts {
		to := len(namespaces)
		if k+1 < len(starts) {
			to = starts[k+1]
		}
		var b strings.Builder
		b.WriteString(docHead)
		for i, ns := range namespaces[from:to] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + ns + `:*"`)
		}
		b.WriteString(docTail)
		docs = append(docs, b.String())
	}
	return docs
}
