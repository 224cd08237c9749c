// Package scpsuggest writes Service Control Policy documents that deny the
// services an entity did not use, minus services that must stay reachable
// however rarely they are used. The documents are minified and split to fit
// the SCP size quota.
package scpsuggest

import (
	"bytes"
	"encoding/json"
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
	keep := make(map[string]bool)
	for _, ns := range NeverDeny(opts) {
		keep[ns] = true
	}
	set := make(map[string]bool, len(unused))
	for _, ns := range unused {
		set[ns] = true
	}
	s := Suggestion{Denied: []string{}, Kept: []string{}, Policies: []string{}}
	for ns := range set {
		switch {
		case !namespacePattern.MatchString(ns):
			return Suggestion{}, fmt.Errorf("scpsuggest: invalid service namespace %q", ns)
		case keep[ns]:
			s.Kept = append(s.Kept, ns)
		default:
			s.Denied = append(s.Denied, ns)
		}
	}
	sort.Strings(s.Denied)
	sort.Strings(s.Kept)
	s.Policies = split(s.Denied)
	return s, nil
}

const (
	docHead = `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Deny","Action":[`
	docTail = `],"Resource":"*"}]}`
)

// Envelope returns the text every document starts and ends with; the
// actions, comma-separated JSON strings, go between. The HTML report uses it
// to build the same documents in the browser.
func Envelope() (head, tail string) { return docHead, docTail }

// split packs the actions into as few documents as the greedy order allows.
func split(namespaces []string) []string {
	var docs []string
	var b bytes.Buffer
	n := 0
	flush := func() {
		if n > 0 {
			b.WriteString(docTail)
			docs = append(docs, b.String())
		}
		b.Reset()
		n = 0
	}
	for _, ns := range namespaces {
		action, _ := json.Marshal(ns + ":*")
		extra := len(action)
		if n > 0 {
			extra++ // the comma
		}
		if n > 0 && b.Len()+extra+len(docTail) > MaxPolicySize {
			flush()
			extra = len(action)
		}
		if n == 0 {
			b.WriteString(docHead)
		} else {
			b.WriteByte(',')
		}
		b.Write(action)
		n++
	}
	flush()
	return docs
}
