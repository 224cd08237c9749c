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
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
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
	Listed   Set
	Accessed []Access // sorted by namespace
	// Stale marks a report carried from an earlier run without proof
	// that nothing changed since (the run's time budget ended first): its
	// evidence is as of AsOf, its own date.
	Stale bool
}

// FromEntityReport converts a stored report.
func FromEntityReport(r *reportdoc.EntityReport) Report {
	out := Report{Entity: r.Entity, AsOf: r.AsOf(), Listed: NewSet(), Stale: r.Carried != nil && r.Carried.Freshness == reportdoc.Stale}
	for _, s := range r.Services {
		out.Listed.add(s.Namespace)
		if s.LastAuthenticated == nil {
			continue
		}
		a := Access{Namespace: intern(s.Namespace), Last: s.LastAuthenticated.Time, Accounts: s.TotalAuthenticatedEntities}
		if s.Region != nil {
			a.Region = intern(*s.Region)
		}
		if s.EntityPath != nil {
			a.EntityPath = *s.EntityPath
			if a.EntityPath == r.Entity.Path {
				a.EntityPath = out.Entity.Path // share the string
			}
		}
		out.Accessed = append(out.Accessed, a)
	}
	sort.Strings(out.Listed.extra)
	sort.Slice(out.Accessed, func(i, j int) bool { return out.Accessed[i].Namespace < out.Accessed[j].Namespace })
	return out
}

// interned holds the strings reports repeat (namespaces, Regions), so that
// 10,000 reports hold one copy of each.
var interned sync.Map

func intern(s string) string {
	if i, ok := catalogIndex[s]; ok {
		return catalog.All()[i].Namespace
	}
	v, _ := interned.LoadOrStore(s, s)
	return v.(string)
}

// Input is one what-if question.
type Input struct {
	// Policies is the run's policies document: the SCPs attached in scope
	// and their targets, the state before the change.
	Policies *policyset.Document
	// Candidate is the SCP to attach at Target, with Detach the ids of
	// policies attached there to remove. Its ID is set when it is one of
	// the run's policies (then it must not be attached there already),
	// empty for a new document. Candidate may be nil when Changes says
	// everything.
	Candidate *scpeval.Policy
	Target    string
	Detach    []string
	// Changes are further changes made at the same time (a plan, or a
	// suggestion of several documents): each attaches and detaches at its
	// own target. Result.Target is Target, or the first change's.
	Changes []Change
	// Days is the window: a service accessed within this many days of its
	// report's as-of instant is in use.
	Days int
	// Reports are the run's completed reports of the targets and every
	// entity under them (root, OU and account reports, without a policy
	// id).
	Reports []Report
	// Failed are the ids of the entities at or under the targets whose
	// reports failed.
	Failed []string
	// ManagementAccountID is the account SCPs do not apply to ("" when
	// unknown).
	ManagementAccountID string
	// Evaluator resolves patterns; nil means one over the IAM action list
	// and the namespaces of Reports. Share one across questions about the
	// same run: it compiles each policy once.
	Evaluator *scpeval.Evaluator
}

// Change attaches policies at a target and detaches others there.
type Change struct {
	Target string
	Attach []*scpeval.Policy
	Detach []string
}

// changes returns every change of in, the single candidate first.
func (in Input) changes() []Change {
	var out []Change
	if in.Candidate != nil {
		out = append(out, Change{Target: in.Target, Attach: []*scpeval.Policy{in.Candidate}, Detach: in.Detach})
	}
	return append(out, in.Changes...)
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
	run, err := NewRun(in)
	if err != nil {
		return nil, err
	}
	return run.Evaluate(in.changes(), in.Days)
}

// Run is a run's policies and reports prepared once for many questions:
// every document of a plan, every suggestion of a run.
type Run struct {
	in          Input // Policies, Reports, Failed, ManagementAccountID
	parsed      map[string]*scpeval.Policy
	attachments map[string][]string
	sorted      []*Report // by entity path
	paths       []string
	byID        map[string]int // into sorted
	universe    []string
	e           *scpeval.Evaluator
}

// NewRun prepares the Policies, Reports, Failed, ManagementAccountID and
// Evaluator of in; the rest of in is ignored.
func NewRun(in Input) (*Run, error) {
	if in.Policies == nil {
		return nil, errors.New("whatif: the policies document is required")
	}
	parsed, err := in.Policies.Parse()
	if err != nil {
		return nil, err
	}
	r := &Run{in: in, parsed: parsed, attachments: in.Policies.Attachments(), byID: map[string]int{}}
	for i := range in.Reports {
		r.sorted = append(r.sorted, &in.Reports[i])
	}
	sort.SliceStable(r.sorted, func(a, b int) bool { return r.sorted[a].Entity.Path < r.sorted[b].Entity.Path })
	for i, rep := range r.sorted {
		r.paths = append(r.paths, rep.Entity.Path)
		r.byID[rep.Entity.ID] = i
	}
	r.universe = namespaces(in.Reports)
	r.e = in.Evaluator
	if r.e == nil {
		r.e = scpeval.New(r.universe...)
	}
	return r, nil
}

// subtree returns the reports of the entity at sorted index i and of every
// entity under it: in path order they follow it, their paths starting with
// its path and a slash.
func (r *Run) subtree(i int) []*Report {
	p := r.paths[i]
	lo := sort.SearchStrings(r.paths, p+"/")
	hi := sort.SearchStrings(r.paths, p+"0") // '0' follows '/'
	out := []*Report{r.sorted[i]}
	return append(out, r.sorted[lo:hi]...)
}

// Evaluate answers what the changes, made together, would break, judging
// services in use within days.
func (r *Run) Evaluate(changes []Change, days int) (*Result, error) {
	return r.evaluate(changes, days, true)
}

// Verdict is Evaluate without Result.Entities, the per-entity lists of
// what the change denies: a change at the root of 10,000 accounts judges
// each of them, and a caller that wants the verdict and the breaks need
// not hold them all.
func (r *Run) Verdict(changes []Change, days int) (*Result, error) {
	return r.evaluate(changes, days, false)
}

func (r *Run) evaluate(changes []Change, days int, entities bool) (*Result, error) {
	in := r.in
	in.Days = days
	if len(changes) == 0 {
		return nil, errors.New("whatif: no change to judge")
	}
	parsed, attachments := r.parsed, r.attachments
	levels := map[string][2][]*scpeval.Policy{}
	var targets []int
	for _, c := range changes {
		t, ok := r.byID[c.Target]
		if !ok {
			return nil, inputErr("target %s has no report among those given", c.Target)
		}
		if _, dup := levels[c.Target]; dup {
			return nil, inputErr("target %s is changed twice", c.Target)
		}
		before, after, err := change(c, parsed, attachments[c.Target])
		if err != nil {
			return nil, err
		}
		levels[c.Target] = [2][]*scpeval.Policy{before, after}
		targets = append(targets, t)
	}
	target := r.sorted[targets[0]]
	res := &Result{Target: target.Entity, Days: days, Breaks: []Break{}, Caveats: []string{}}
	res.NewlyDenied = NewlyDenied{Whole: []string{}, Partial: []string{}}
	res.Detached = changes[0].Detach

	e := r.e
	j := &judge{e: e, parsed: parsed, attachments: attachments, changed: levels,
		memo: map[string]*scpeval.Change{}, assumed: map[string]bool{}, verdicts: map[*scpeval.Change]*verdict{},
		universe: r.universe}

	judged := r.pick(targets)
	res.Basis = "ous"
	if len(judged) > 0 && judged[0].Entity.Type == reportdoc.TypeAccount {
		res.Basis = "accounts"
	}
	whole, partial := map[string]bool{}, map[string]bool{}
	mismatch := map[string]bool{}
	mgmtUnder := false
	var stale staleReports
	for _, r := range judged {
		stale.add(r)
		if in.ManagementAccountID != "" && r.Entity.ID == in.ManagementAccountID {
			mgmtUnder = true
			continue
		}
		c, err := j.changeAt(r.Entity.Path)
		if err != nil {
			return nil, err
		}
		v := j.verdictOf(c)
		er := EntityResult{Entity: r.Entity}
		r.Listed.each(func(i int, ns string) {
			if !v.isListed(i, ns) {
				mismatch[ns] = true
			}
			switch v.denialOf(i, ns) {
			case scpeval.Whole:
				if entities {
					er.Whole = append(er.Whole, ns)
				}
				whole[ns] = true
			case scpeval.Partial:
				if entities {
					er.Partial = append(er.Partial, ns)
				}
				partial[ns] = true
			}
		})
		if entities {
			res.Entities = append(res.Entities, er)
		}
		window := int64(in.Days) * 24 * 60 * 60
		for _, a := range r.Accessed {
			d := v.denialOf(-2, a.Namespace)
			if d == scpeval.NotDenied {
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
	var attached []*scpeval.Policy
	for _, c := range changes {
		attached = append(attached, c.Attach...)
	}
	res.Caveats = caveats(in, res, target, attached, mgmtUnder, j.assumedIDs(), keys(mismatch), e, stale)
	return res, nil
}

// change returns the policies attached at the target before and after the
// change, checking it is one AWS would accept.
func change(in Change, parsed map[string]*scpeval.Policy, attached []string) (before, after []*scpeval.Policy, err error) {
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
	for _, p := range in.Attach {
		if p.ID != "" && contains(attached, p.ID) && !drop[p.ID] {
			return nil, nil, inputErr("--policy %s is already attached to %s", p.ID, in.Target)
		}
	}
	for _, p := range before {
		if !drop[p.ID] {
			after = append(after, p)
		}
	}
	after = append(after, in.Attach...)
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
// targets when there are any, else the root and OU reports there.
func (r *Run) pick(targets []int) []*Report {
	var accounts, ous []*Report
	seen := map[*Report]bool{}
	for _, t := range targets {
		for _, rep := range r.subtree(t) {
			if len(targets) > 1 {
				if seen[rep] {
					continue
				}
				seen[rep] = true
			}
			if rep.Entity.Type == reportdoc.TypeAccount {
				accounts = append(accounts, rep)
			} else {
				ous = append(ous, rep)
			}
		}
	}
	if len(accounts) > 0 {
		return accounts
	}
	return ous
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
	e           *scpeval.Evaluator
	in          Input
	parsed      map[string]*scpeval.Policy
	attachments map[string][]string
	changed     map[string][2][]*scpeval.Policy // target -> before, after
	memo        map[string]*scpeval.Change      // by path prefix, and parent+policies for accounts
	assumed     map[string]bool                 // entities with no recorded SCPs
	verdicts    map[*scpeval.Change]*verdict
	universe    []string // every namespace of the reports
}

// verdict is a change judged for every namespace of the reports, once per
// distinct change: entities with the same policies on the way share it.
type verdict struct {
	// By catalog index, and by name for namespaces the catalog does not
	// know: listed before the change by the recorded SCPs, and what the
	// change newly denies.
	listedAt []bool
	denialAt []scpeval.Denial
	listed   map[string]bool
	denial   map[string]scpeval.Denial
}

// isListed and denialOf take the catalog index of ns, -1 when the catalog
// does not know it, or -2 to look it up.
func (v *verdict) isListed(i int, ns string) bool {
	if i == -2 {
		i = indexOf(ns)
	}
	if i >= 0 {
		return v.listedAt[i]
	}
	return v.listed[ns]
}

func (v *verdict) denialOf(i int, ns string) scpeval.Denial {
	if i == -2 {
		i = indexOf(ns)
	}
	if i >= 0 {
		return v.denialAt[i]
	}
	return v.denial[ns]
}

func indexOf(ns string) int {
	if i, ok := catalogIndex[ns]; ok {
		return i
	}
	return -1
}

func (j *judge) verdictOf(c *scpeval.Change) *verdict {
	if v, ok := j.verdicts[c]; ok {
		return v
	}
	n := len(catalog.All())
	v := &verdict{listedAt: make([]bool, n), denialAt: make([]scpeval.Denial, n), listed: map[string]bool{}, denial: map[string]scpeval.Denial{}}
	for _, ns := range j.universe {
		listed, d := c.Before.Listed(ns), c.Denial(ns)
		if i := indexOf(ns); i >= 0 {
			v.listedAt[i], v.denialAt[i] = listed, d
		} else {
			v.listed[ns], v.denial[ns] = listed, d
		}
	}
	j.verdicts[c] = v
	return v
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
		if _, ok := j.changed[id]; ok {
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
	if c, ok := j.changed[id]; ok {
		return c[0], c[1]
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
	all := NewSet()
	seen := map[string]bool{}
	for _, r := range reports {
		for w := range r.Listed.bits {
			all.bits[w] |= r.Listed.bits[w]
		}
		for _, ns := range r.Listed.extra {
			seen[ns] = true
		}
	}
	for ns := range seen {
		all.add(ns)
	}
	return all.Namespaces()
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
func caveats(in Input, res *Result, target *Report, attached []*scpeval.Policy, mgmtUnder bool, assumed, mismatch []string, e *scpeval.Evaluator, stale staleReports) []string {
	var out []string
	if len(stale.ids) > 0 {
		out = append(out, fmt.Sprintf("%d reports under the target are stale, carried from an earlier run without proof that nothing changed since (%s): their use of services is judged as of their own dates, the oldest %s; later use does not show.",
			len(stale.ids), short(stale.ids), stale.oldest.UTC().Format("2006-01-02")))
	}
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
	var unmatched []string
	scoped := false
	for _, p := range attached {
		unmatched = append(unmatched, e.UnmatchedPatterns(p)...)
		for _, st := range p.Statements {
			scoped = scoped || (st.Effect == scpeval.Allow && st.Resource != nil && !anyAllStars(st.Resource))
		}
	}
	if len(unmatched) > 0 {
		out = append(out, fmt.Sprintf("The candidate's action patterns %s match no known IAM action: a typing mistake, or an action newer than orgaudit's action list.", strings.Join(unmatched, ", ")))
	}
	if scoped {
		out = append(out, "The candidate allows some actions on specific resources only: IAM's access reports do not count such an Allow, so the services it covers are judged denied whole, though those actions remain allowed on those resources.")
	}
	out = append(out, "Last access covers about the last 400 days, in the Regions where IAM tracks it; access attempts include denied requests.")
	return out
}

// staleReports gathers the stale reports a verdict rests on.
type staleReports struct {
	ids    []string
	oldest time.Time
}

func (s *staleReports) add(r *Report) {
	if !r.Stale {
		return
	}
	s.ids = append(s.ids, r.Entity.ID)
	if s.oldest.IsZero() || r.AsOf.Before(s.oldest) {
		s.oldest = r.AsOf
	}
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
