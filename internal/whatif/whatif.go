// Package whatif answers, from a stored run, which accounts a change of
// service control policies would break: a candidate SCP attached at a
// target entity, optionally with policies detached there. It is pure:
// the run's policies document and reports in, a verdict out.
//
// For every account under the target (from the account reports when the
// run has them; otherwise from the root and OU reports, whose last access
// names the account that made it), every service the change newly denies —
// as package scpeval judges it, whole or partial — that was accessed within
// the window is a break. The management account is never affected: SCPs do
// not apply to it.
package whatif

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
)

// Verdicts.
const (
	Safe   = "SAFE"
	Breaks = "BREAKS"
)

// MaxAttached is how many SCPs AWS lets one target have.
const MaxAttached = 5

// Access is one listed service of a report that has a recorded access.
type Access struct {
	Namespace string
	Last      time.Time
	// Region and EntityPath belong to the latest access: EntityPath is the
	// path of the account that made it.
	Region, EntityPath string
	// Accounts is how many accounts of the report used the service
	// (IAM's TotalAuthenticatedEntities).
	Accounts int
}

// Report is what the what-if needs of one entity report: the services it
// lists and the accessed ones.
type Report struct {
	Entity   reportdoc.Entity
	AsOf     time.Time
	Listed   []string // namespaces, sorted
	Accessed []Access // sorted by namespace
}

// FromEntityReport converts a stored report.
func FromEntityReport(r *reportdoc.EntityReport) Report {
	out := Report{Entity: r.Entity, AsOf: r.AsOf(), Listed: make([]string, 0, len(r.Services))}
	for _, s := range r.Services {
		out.Listed = append(out.Listed, s.Namespace)
		if s.LastAuthenticated == nil {
			continue
		}
		a := Access{Namespace: s.Namespace, Last: s.LastAuthenticated.Time, Accounts: s.TotalAuthenticatedEntities}
		if s.Region != nil {
			a.Region = *s.Region
		}
		if s.EntityPath != nil {
			a.EntityPath = *s.EntityPath
		}
		out.Accessed = append(out.Accessed, a)
	}
	sort.Strings(out.Listed)
	sort.Slice(out.Accessed, func(i, j int) bool { return out.Accessed[i].Namespace < out.Accessed[j].Namespace })
	return out
}

// Input is one what-if question.
type Input struct {
	// Policies is the run's policies document: the SCPs attached in scope
	// and their targets, the state before the change.
	Policies *policyset.Document
	// Candidate is the SCP to attach at the target. Its ID is set when it
	// is one of the run's policies (then it must not be attached there
	// already), empty for a new document.
	Candidate *scpeval.Policy
	// Target is the entity the candidate is attached to: the id of one of
	// Reports.
	Target string
	// Detach are the ids of policies attached at the target to remove.
	Detach []string
	// Days is the window: a service accessed within this many days of its
	// report's as-of instant is in use.
	Days int
	// Reports are the run's completed reports of the target and every
	// entity under it (root, OU and account reports, without a policy id).
	Reports []Report
	// Failed are the ids of the entities at or under the target whose
	// reports failed.
	Failed []string
	// ManagementAccountID is the account SCPs do not apply to ("" when
	// unknown).
	ManagementAccountID string
	// Evaluator resolves patterns; nil means one over the IAM action list
	// and the namespaces of Reports.
	Evaluator *scpeval.Evaluator
}

// Result is the answer; its JSON is `orgaudit whatif --json`.
type Result struct {
	Verdict     string           `json:"verdict"`
	Target      reportdoc.Entity `json:"target"`
	Days        int              `json:"days"`
	Breaks      []Break          `json:"breaks"`
	NewlyDenied NewlyDenied      `json:"newlyDenied"`
	Caveats     []string         `json:"caveats"`

	// Basis is "accounts" when account reports were judged, "ous" when
	// the root and OU reports stood in for them.
	Basis string `json:"-"`
	// Entities are the judged entities, each with what the change newly
	// denies it among the services its report lists.
	Entities []EntityResult `json:"-"`
	// Detached and Attached describe the change at the target.
	Detached []string `json:"-"`
}

// Break is a service in use that the change newly denies.
type Break struct {
	EntityID string `json:"entityId"`
	// EntityPath is the path of the account that made the last access.
	EntityPath        string          `json:"entityPath"`
	Namespace         string          `json:"namespace"`
	Denial            scpeval.Denial  `json:"denial"`
	LastAuthenticated *reportdoc.Time `json:"lastAuthenticated"`
	DaysAgo           int             `json:"daysAgo"`
	// Accounts is how many accounts of the entity's report used the
	// service.
	Accounts int `json:"accounts"`

	Entity reportdoc.Entity `json:"-"`
	Region string           `json:"-"`
}

// NewlyDenied are the namespaces the change newly denies to some judged
// entity: Whole those denied whole to at least one, Partial the others.
type NewlyDenied struct {
	Whole   []string `json:"whole"`
	Partial []string `json:"partial"`
}

// EntityResult is one judged entity.
type EntityResult struct {
	Entity         reportdoc.Entity
	Whole, Partial []string
}

// InputError is a question that cannot be asked of the run: an unknown or
// unreported target, a policy to detach that is not attached there, too
// many policies on the target. Its message is for the user as is.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErr(format string, args ...any) error { return &InputError{fmt.Sprintf(format, args...)} }

// Evaluate answers in.
func Evaluate(in Input) (*Result, error) {
	if in.Policies == nil || in.Candidate == nil {
		return nil, errors.New("whatif: the policies document and the candidate are required")
	}
	parsed, err := in.Policies.Parse()
	if err != nil {
		return nil, err
	}
	var target *Report
	for i := range in.Reports {
		if in.Reports[i].Entity.ID == in.Target {
			target = &in.Reports[i]
			break
		}
	}
	if target == nil {
		return nil, inputErr("target %s has no report among those given", in.Target)
	}
	attachments := in.Policies.Attachments()
	before, after, err := change(in, parsed, attachments[in.Target])
	if err != nil {
		return nil, err
	}
	res := &Result{Target: target.Entity, Days: in.Days, Breaks: []Break{}, Caveats: []string{}}
	res.NewlyDenied = NewlyDenied{Whole: []string{}, Partial: []string{}}
	res.Detached = in.Detach

	e := in.Evaluator
	if e == nil {
		e = scpeval.New(namespaces(in.Reports)...)
	}
	j := &judge{e: e, in: in, parsed: parsed, attachments: attachments, before: before, after: after,
		memo: map[string]*scpeval.Change{}, assumed: map[string]bool{}}

	judged := pick(in, target)
	res.Basis = "ous"
	if len(judged) > 0 && judged[0].Entity.Type == reportdoc.TypeAccount {
		res.Basis = "accounts"
	}
	whole, partial := map[string]bool{}, map[string]bool{}
	mismatch := map[string]bool{}
	mgmtUnder := false
	for _, r := range judged {
		if in.ManagementAccountID != "" && r.Entity.ID == in.ManagementAccountID {
			mgmtUnder = true
			continue
		}
		c, err := j.changeAt(r.Entity.Path)
		if err != nil {
			return nil, err
		}
		er := EntityResult{Entity: r.Entity}
		denial := map[string]scpeval.Denial{}
		for _, ns := range r.Listed {
			if !c.Before.Listed(ns) {
				mismatch[ns] = true
			}
			switch d := c.Denial(ns); d {
			case scpeval.Whole:
				er.Whole = append(er.Whole, ns)
				whole[ns] = true
				denial[ns] = d
			case scpeval.Partial:
				er.Partial = append(er.Partial, ns)
				partial[ns] = true
				denial[ns] = d
			}
		}
		res.Entities = append(res.Entities, er)
		window := int64(in.Days) * 24 * 60 * 60
		for _, a := range r.Accessed {
			d, ok := denial[a.Namespace]
			if !ok {
				continue
			}
			ago := int64(r.AsOf.Sub(a.Last) / time.Second)
			if ago < 0 {
				ago = 0
			}
			if ago > window {
				continue
			}
			res.Breaks = append(res.Breaks, Break{
				EntityID: r.Entity.ID, EntityPath: a.EntityPath, Namespace: a.Namespace, Denial: d,
				LastAuthenticated: reportdoc.NewTime(a.Last), DaysAgo: int(ago / (24 * 60 * 60)), Accounts: a.Accounts,
				Entity: r.Entity, Region: a.Region,
			})
		}
	}
	if res.Basis == "ous" {
		res.Breaks = deepest(res.Breaks)
	}
	sort.SliceStable(res.Breaks, func(a, b int) bool {
		x, y := res.Breaks[a], res.Breaks[b]
		if x.Entity.Path != y.Entity.Path {
			return x.Entity.Path < y.Entity.Path
		}
		return x.Namespace < y.Namespace
	})
	for ns := range whole {
		res.NewlyDenied.Whole = append(res.NewlyDenied.Whole, ns)
	}
	for ns := range partial {
		if !whole[ns] {
			res.NewlyDenied.Partial = append(res.NewlyDenied.Partial, ns)
		}
	}
	sort.Strings(res.NewlyDenied.Whole)
	sort.Strings(res.NewlyDenied.Partial)
	res.Verdict = Safe
	if len(res.Breaks) > 0 {
		res.Verdict = Breaks
	}
	res.Caveats = caveats(in, res, target, mgmtUnder, j.assumedIDs(), keys(mismatch), e)
	return res, nil
}

// change returns the policies attached at the target before and after the
// change, checking it is one AWS would accept.
func change(in Input, parsed map[string]*scpeval.Policy, attached []string) (before, after []*scpeval.Policy, err error) {
	for _, id := range attached {
		before = append(before, parsed[id])
	}
	if len(attached) == 0 {
		before = []*scpeval.Policy{fullAWSAccess}
	}
	drop := map[string]bool{}
	for _, id := range in.Detach {
		if !contains(attached, id) {
			if len(attached) == 0 {
				return nil, nil, inputErr("--detach %s: the run records no SCPs attached to %s", id, in.Target)
			}
			return nil, nil, inputErr("--detach %s: it is not attached to %s (attached: %s)", id, in.Target, strings.Join(attached, ", "))
		}
		drop[id] = true
	}
	if in.Candidate.ID != "" && contains(attached, in.Candidate.ID) && !drop[in.Candidate.ID] {
		return nil, nil, inputErr("--policy %s is already attached to %s", in.Candidate.ID, in.Target)
	}
	for _, p := range before {
		if !drop[p.ID] {
			after = append(after, p)
		}
	}
	after = append(after, in.Candidate)
	if len(after) > MaxAttached {
		return nil, nil, inputErr("%s would have %d SCPs attached; AWS allows at most %d on one target (--detach one)", in.Target, len(after), MaxAttached)
	}
	return before, after, nil
}

var fullAWSAccess = func() *scpeval.Policy {
	p := scpeval.MustParse(scpeval.FullAWSAccess)
	p.ID, p.Name = "p-FullAWSAccess", "FullAWSAccess"
	return p
}()

// pick returns the reports to judge: the account reports at or under the
// target when there are any, else the root and OU reports there.
func pick(in Input, target *Report) []*Report {
	var accounts, ous []*Report
	for i := range in.Reports {
		r := &in.Reports[i]
		if !under(r.Entity.Path, target.Entity.Path) {
			continue
		}
		if r.Entity.Type == reportdoc.TypeAccount {
			accounts = append(accounts, r)
		} else {
			ous = append(ous, r)
		}
	}
	if len(accounts) > 0 {
		return accounts
	}
	return ous
}

func under(path, ancestor string) bool {
	return path == ancestor || strings.HasPrefix(path, ancestor+"/")
}

// deepest keeps, of the breaks that stand for the same access (namespace,
// last access, accessor), the one of the deepest entity: an OU's report
// repeats what its child OUs' reports say.
func deepest(breaks []Break) []Break {
	type key struct {
		ns, path string
		last     int64
	}
	best := map[key]int{}
	for i, b := range breaks {
		k := key{b.Namespace, b.EntityPath, b.LastAuthenticated.Unix()}
		if j, ok := best[k]; !ok || len(b.Entity.Path) > len(breaks[j].Entity.Path) {
			best[k] = i
		}
	}
	var out []Break
	for i, b := range breaks {
		k := key{b.Namespace, b.EntityPath, b.LastAuthenticated.Unix()}
		if best[k] == i {
			out = append(out, b)
		}
	}
	return out
}

// judge builds the before/after evaluation of entity paths, sharing the
// work of common ancestors.
type judge struct {
	e             *scpeval.Evaluator
	in            Input
	parsed        map[string]*scpeval.Policy
	attachments   map[string][]string
	before, after []*scpeval.Policy
	memo          map[string]*scpeval.Change // by path prefix, and parent+policies for accounts
	assumed       map[string]bool            // entities with no recorded SCPs
}

// changeAt returns the change along the entity path o-…/r-…/…/id.
func (j *judge) changeAt(path string) (*scpeval.Change, error) {
	if c, ok := j.memo[path]; ok {
		return c, nil
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return nil, fmt.Errorf("whatif: entity path %q has no root", path)
	}
	parent, id := path[:i], path[i+1:]
	var up *scpeval.Change
	if !strings.Contains(parent, "/") {
		up = j.e.NewChange() // parent is the organization: id is the root
	} else {
		var err error
		if up, err = j.changeAt(parent); err != nil {
			return nil, err
		}
	}
	before, after := j.levels(id)
	// Accounts are many and usually carry the same policies as their
	// siblings: share their evaluation by parent and attachments.
	key := path
	if !strings.HasPrefix(id, "ou-") && !strings.HasPrefix(id, "r-") {
		key = parent + "\x00" + strings.Join(j.attachments[id], ",")
		if id == j.in.Target {
			key = path
		}
	}
	if c, ok := j.memo[key]; ok {
		return c, nil
	}
	c := up.Level(before, after)
	j.memo[key] = c
	return c, nil
}

// levels returns the policies attached at entity id before and after the
// change. An entity the policies document records nothing for is assumed
// to have FullAWSAccess, as every target has by default.
func (j *judge) levels(id string) (before, after []*scpeval.Policy) {
	if id == j.in.Target {
		return j.before, j.after
	}
	ids := j.attachments[id]
	if len(ids) == 0 {
		j.assumed[id] = true
		return []*scpeval.Policy{fullAWSAccess}, []*scpeval.Policy{fullAWSAccess}
	}
	for _, pid := range ids {
		before = append(before, j.parsed[pid])
	}
	return before, before
}

func (j *judge) assumedIDs() []string { return keys(j.assumed) }

func namespaces(reports []Report) []string {
	seen := map[string]bool{}
	for _, r := range reports {
		for _, ns := range r.Listed {
			seen[ns] = true
		}
	}
	return keys(seen)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// caveats qualify the answer.
func caveats(in Input, res *Result, target *Report, mgmtUnder bool, assumed, mismatch []string, e *scpeval.Evaluator) []string {
	var out []string
	if target.Entity.Type == reportdoc.TypeAccount && target.Entity.ID == in.ManagementAccountID {
		out = append(out, "The target is the organization's management account: SCPs do not apply to it, so attaching the policy there changes nothing for it.")
	} else if mgmtUnder {
		out = append(out, fmt.Sprintf("The management account %s is under the target and is never affected: SCPs do not apply to it.", in.ManagementAccountID))
	}
	switch {
	case res.Basis == "ous":
		out = append(out, "The run has no account reports: breaks come from the root and OU reports, which name only the last account to use each service (its entity path); other accounts may use it too. Run with account reports for an account-by-account answer.")
	default:
		out = append(out, "Breaks are judged account by account, from the account reports.")
	}
	if len(in.Failed) > 0 {
		out = append(out, fmt.Sprintf("%d entities under the target have no report in the run (their report failed): their use of services is unknown (%s).", len(in.Failed), short(in.Failed)))
	}
	out = append(out, "Service-level data: a service counts as used when any of its actions was used. A partial denial (some actions, some resources, or under a condition) is a break when the service was used within the window, though the actions, resources or requests used may not be the ones denied: review each partial break.")
	if len(assumed) > 0 {
		out = append(out, fmt.Sprintf("The run records no SCPs for %d entities on the way (%s); they are assumed to have FullAWSAccess.", len(assumed), short(assumed)))
	}
	if len(mismatch) > 0 {
		out = append(out, fmt.Sprintf("The reports list %d services the recorded SCPs already deny (%s): the policies may have changed since the run, or a resource-scoped Allow lets them through.", len(mismatch), short(mismatch)))
	}
	if um := e.UnmatchedPatterns(in.Candidate); len(um) > 0 {
		out = append(out, fmt.Sprintf("The candidate's action patterns %s match no known IAM action: a typing mistake, or an action newer than orgaudit's action list.", strings.Join(um, ", ")))
	}
	for _, st := range in.Candidate.Statements {
		if st.Effect == scpeval.Allow && st.Resource != nil && !anyAllStars(st.Resource) {
			out = append(out, "The candidate allows some actions on specific resources only: IAM's access reports do not count such an Allow, so the services it covers are judged denied whole, though those actions remain allowed on those resources.")
			break
		}
	}
	out = append(out, "Last access covers about the last 400 days, in the Regions where IAM tracks it; access attempts include denied requests.")
	return out
}

func anyAllStars(s []string) bool {
	for _, x := range s {
		if strings.Trim(x, "*") == "" {
			return true
		}
	}
	return false
}

func short(ids []string) string {
	if len(ids) <= 5 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:5], ", ") + fmt.Sprintf(" and %d more", len(ids)-5)
}
