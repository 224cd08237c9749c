// Package scpeval evaluates Service Control Policies at the level of
// services, the level IAM's Organizations access reports speak of. It is
// pure: documents, attachments and the IAM action list in, a verdict out.
//
// The rules are AWS's SCP evaluation rules:
//
//   - An action is allowed for an account only when, at every level from
//     the root down to the account (the root, each OU, the account itself),
//     some SCP attached at that level allows it. A level with nothing
//     attached allows nothing.
//   - An explicit Deny in any SCP on that path overrides every Allow.
//   - A statement matches an action when its Action lists a pattern that
//     matches it, or its NotAction lists none that does. Patterns are
//     "service:action" with * and ? wildcards, matched without regard to
//     case; "*" matches every action. Patterns resolve against the real IAM
//     action list (package iamactions), so s3:*Object* is known to be part
//     of Amazon S3 and not all of it.
//   - A statement without Resource or NotResource applies to every resource.
//
// Service-level data cannot say which resource or request context an access
// had, so conditions and resources are judged by what they could do:
//
//   - A Deny denies an action wholly only when it applies unconditionally
//     (no Condition) to every resource (Resource "*"). A Deny with a
//     Condition, a specific Resource or a NotResource may deny some
//     requests: it restricts the action, never removes it.
//   - An Allow with a Condition may apply: the action stays potentially
//     allowed. An Allow scoped to specific resources (a Resource other than
//     "*") does not let the service through, as IAM's access reports count
//     it (captured: an Allow of s3:GetObject on one bucket ARN lists no
//     service); an Allow with NotResource does.
//
// A service is then, for one entity, denied as a whole ("whole") when none
// of its actions remains potentially allowed — it disappears from the
// entity's access report — and partially ("partial") when some action is
// denied or restricted (some actions, some resources, or under a
// condition) while others remain. A Condition or a subset of actions never
// makes a whole denial.
//
// Namespaces the action list does not know are modelled by two stand-in
// actions: one matched by every pattern naming the service, one only by
// patterns whose action part is all wildcards ("svc:*"), so that "svc:Get*"
// is a part of the service and "svc:*" all of it.
package scpeval

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/iamactions"
)

// Denial is how much of a service SCPs deny an entity.
type Denial string

// Denials.
const (
	NotDenied Denial = ""
	Partial   Denial = "partial"
	Whole     Denial = "whole"
)

// action is one element of the action universe: a real IAM action, or a
// stand-in of a namespace the action list does not know.
type action struct {
	ns, name string
	// standIn is 0 for a real action, 's' for "some action of the
	// service" (matched by every pattern naming the service) and 'r' for
	// "the rest of it" (matched only by whole-service patterns).
	standIn byte
}

// matchesPattern reports whether one Action/NotAction pattern matches a.
func matchesPattern(pattern string, a action) bool {
	svc, name := splitAction(pattern)
	if !wildcardMatch(svc, a.ns) {
		return false
	}
	switch a.standIn {
	case 's':
		return true
	case 'r':
		return allStars(name)
	}
	return wildcardMatch(name, a.name)
}

// The rules of one statement, for one action. These are the whole of the
// policy language's meaning here; the rest of the package combines them.

// statementMatchesAction: Action lists a matching pattern, or NotAction
// lists none.
func statementMatchesAction(st *Statement, a action) bool {
	if st.Action != nil {
		return anyPatternMatches(st.Action, a)
	}
	return !anyPatternMatches(st.NotAction, a)
}

func anyPatternMatches(patterns []string, a action) bool {
	for _, p := range patterns {
		if matchesPattern(p, a) {
			return true
		}
	}
	return false
}

// appliesToEveryResource: Resource "*" (or no resource element), no
// NotResource.
func appliesToEveryResource(st *Statement) bool {
	if st.NotResource != nil {
		return false
	}
	if st.Resource == nil {
		return true
	}
	for _, r := range st.Resource {
		if allStars(r) {
			return true
		}
	}
	return false
}

// appliesToServiceRequest: whether the statement applies to a request for
// the service as a whole (resource "*"), which is how IAM's access reports
// ask: Resource "*", or a NotResource that does not exclude "*".
func appliesToServiceRequest(st *Statement) bool {
	if st.NotResource != nil {
		for _, r := range st.NotResource {
			if allStars(r) {
				return false
			}
		}
		return true
	}
	return appliesToEveryResource(st)
}

// unconditional: no Condition element.
func unconditional(st *Statement) bool { return len(st.Condition) == 0 }

// The four things a statement can do to the actions it matches. Each
// splits into what the statement's effect, resources and condition allow
// (the *Statement form, judged once per statement) and whether it matches
// the action.

// allowsPotentially: an Allow that may let a request for the action through.
func allowsPotentially(st *Statement, a action) bool {
	return allowsPotentiallyStatement(st) && statementMatchesAction(st, a)
}

func allowsPotentiallyStatement(st *Statement) bool {
	return st.Effect == Allow && appliesToServiceRequest(st)
}

// allowsFully: an Allow of the action, unconditionally, on every resource.
func allowsFully(st *Statement, a action) bool {
	return allowsFullyStatement(st) && statementMatchesAction(st, a)
}

func allowsFullyStatement(st *Statement) bool {
	return st.Effect == Allow && unconditional(st) && appliesToEveryResource(st)
}

// deniesWholly: a Deny of the action, unconditionally, on every resource.
func deniesWholly(st *Statement, a action) bool {
	return deniesWhollyStatement(st) && statementMatchesAction(st, a)
}

func deniesWhollyStatement(st *Statement) bool {
	return st.Effect == Deny && unconditional(st) && appliesToEveryResource(st)
}

// deniesSome: a Deny that may deny some request for the action. A
// NotResource of "*" excludes every resource: it denies nothing.
func deniesSome(st *Statement, a action) bool {
	return deniesSomeStatement(st) && statementMatchesAction(st, a)
}

func deniesSomeStatement(st *Statement) bool {
	if st.Effect != Deny {
		return false
	}
	for _, r := range st.NotResource {
		if allStars(r) {
			return false
		}
	}
	return true
}

// bitset is a set of action indexes of an Evaluator's universe.
type bitset []uint64

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

// anyIn reports whether some index in [lo, hi) is in b.
func (b bitset) anyIn(lo, hi int) bool {
	for i := lo; i < hi; {
		w := b[i/64] >> (i % 64)
		n := min(64-i%64, hi-i)
		if n < 64 {
			w &= 1<<n - 1
		}
		if w != 0 {
			return true
		}
		i += n
	}
	return false
}

// allIn reports whether every index in [lo, hi) is in b.
func (b bitset) allIn(lo, hi int) bool {
	for i := lo; i < hi; {
		w := ^b[i/64] >> (i % 64)
		n := min(64-i%64, hi-i)
		if n < 64 {
			w &= 1<<n - 1
		}
		if w != 0 {
			return false
		}
		i += n
	}
	return true
}

// compiled is one policy over the universe.
type compiled struct {
	allowPotential, allowFull, denyWhole, denySome bitset
	// neutral: allows every action fully and denies none (FullAWSAccess).
	// A level of neutral policies changes nothing on a path.
	neutral bool
}

func (e *Evaluator) isNeutral(c *compiled) bool {
	n := len(e.actions)
	return c.allowPotential.allIn(0, n) && c.allowFull.allIn(0, n) && !c.denyWhole.anyIn(0, n) && !c.denySome.anyIn(0, n)
}

// Evaluator holds the action universe and the compiled form of the policies
// it has seen. It is safe for concurrent use. Policies are compiled once per
// *Policy: do not modify a policy after handing it to an Evaluator.
type Evaluator struct {
	actions []action
	// lo[i]..lo[i+1] are the action indexes of namespaces[i].
	namespaces []string
	lo         []int
	index      map[string]int
	words      int

	mu       sync.Mutex
	compiled map[*Policy]*compiled
	extended map[string]*Evaluator // for namespaces outside the universe
}

// New returns an Evaluator over the IAM action list, plus stand-ins for
// each of extraNamespaces the list does not know (the namespaces of a run's
// reports, say).
func New(extraNamespaces ...string) *Evaluator {
	set := map[string]bool{}
	for _, s := range iamactions.All() {
		set[s.Prefix] = true
	}
	for _, ns := range extraNamespaces {
		set[strings.ToLower(ns)] = true
	}
	e := &Evaluator{index: map[string]int{}, compiled: map[*Policy]*compiled{}, extended: map[string]*Evaluator{}}
	for ns := range set {
		e.namespaces = append(e.namespaces, ns)
	}
	sort.Strings(e.namespaces)
	for i, ns := range e.namespaces {
		e.index[ns] = i
		e.lo = append(e.lo, len(e.actions))
		if names, ok := iamactions.Actions(ns); ok {
			for _, n := range names {
				e.actions = append(e.actions, action{ns: ns, name: n})
			}
			continue
		}
		e.actions = append(e.actions, action{ns: ns, standIn: 's'}, action{ns: ns, standIn: 'r'})
	}
	e.lo = append(e.lo, len(e.actions))
	e.words = (len(e.actions) + 63) / 64
	return e
}

var defaultEvaluator = sync.OnceValue(func() *Evaluator {
	var ns []string
	for _, s := range catalog.All() {
		ns = append(ns, s.Namespace)
	}
	return New(ns...)
})

// Default returns the shared Evaluator over the IAM action list and the
// service catalog.
func Default() *Evaluator { return defaultEvaluator() }

// Namespaces returns the namespaces of the universe, sorted. The slice is
// shared: do not modify it.
func (e *Evaluator) Namespaces() []string { return e.namespaces }

func (e *Evaluator) newBits() bitset { return make(bitset, e.words) }

// compile returns p over the universe, compiling it on first use.
func (e *Evaluator) compile(p *Policy) *compiled {
	e.mu.Lock()
	c, ok := e.compiled[p]
	e.mu.Unlock()
	if ok {
		return c
	}
	c = &compiled{allowPotential: e.newBits(), allowFull: e.newBits(), denyWhole: e.newBits(), denySome: e.newBits()}
	for i := range p.Statements {
		st := &p.Statements[i]
		matched := e.matching(st)
		for _, r := range []struct {
			applies bool
			into    bitset
		}{
			{allowsPotentiallyStatement(st), c.allowPotential},
			{allowsFullyStatement(st), c.allowFull},
			{deniesWhollyStatement(st), c.denyWhole},
			{deniesSomeStatement(st), c.denySome},
		} {
			if r.applies {
				for w := range r.into {
					r.into[w] |= matched[w]
				}
			}
		}
	}
	c.neutral = e.isNeutral(c)
	e.mu.Lock()
	e.compiled[p] = c
	e.mu.Unlock()
	return c
}

// matching returns the actions st matches (by Action or NotAction), using
// the namespace part of each pattern to skip services.
func (e *Evaluator) matching(st *Statement) bitset {
	patterns := st.Action
	if patterns == nil {
		patterns = st.NotAction
	}
	hit := e.newBits()
	for _, p := range patterns {
		e.matchPattern(p, hit)
	}
	if st.Action == nil {
		for w := range hit {
			hit[w] = ^hit[w]
		}
		if tail := len(e.actions) % 64; tail != 0 {
			hit[len(hit)-1] &= 1<<tail - 1
		}
	}
	return hit
}

// matchPattern adds the actions pattern matches to hit.
func (e *Evaluator) matchPattern(pattern string, hit bitset) {
	svc, name := splitAction(pattern)
	whole := allStars(name)
	namespaces := e.namespaces
	first := 0
	if !strings.ContainsAny(svc, "*?") {
		// A literal service prefix names one namespace at most.
		i, ok := e.index[svc]
		if !ok {
			return
		}
		namespaces, first = e.namespaces[i:i+1], i
	}
	for k, ns := range namespaces {
		ni := first + k
		if !wildcardMatch(svc, ns) {
			continue
		}
		for ai := e.lo[ni]; ai < e.lo[ni+1]; ai++ {
			a := e.actions[ai]
			if whole || a.standIn == 's' || (a.standIn == 0 && wildcardMatch(name, a.name)) {
				hit.set(ai)
			}
		}
	}
}

// UnmatchedPatterns returns the Action and NotAction patterns of p that
// match no action of the universe: typing mistakes, or actions newer than
// the action list.
func (e *Evaluator) UnmatchedPatterns(p *Policy) []string {
	var out []string
	for _, st := range p.Statements {
		for _, pat := range append(append([]string{}, st.Action...), st.NotAction...) {
			if !e.matchesAny(pat) {
				out = append(out, pat)
			}
		}
	}
	return out
}

// matchesAny reports whether pattern matches some action of the universe.
func (e *Evaluator) matchesAny(pattern string) bool {
	svc, name := splitAction(pattern)
	lo, hi := 0, len(e.namespaces)
	if !strings.ContainsAny(svc, "*?") {
		i, ok := e.index[svc]
		if !ok {
			return false
		}
		lo, hi = i, i+1
	}
	for ni := lo; ni < hi; ni++ {
		if !wildcardMatch(svc, e.namespaces[ni]) {
			continue
		}
		if allStars(name) {
			return true // every namespace has at least one action
		}
		for ai := e.lo[ni]; ai < e.lo[ni+1]; ai++ {
			if a := e.actions[ai]; a.standIn == 's' || (a.standIn == 0 && wildcardMatch(name, a.name)) {
				return true
			}
		}
	}
	return false
}

// Path is the evaluation of a path of levels from the root down: what every
// level so far allows, and what any of them denies. The zero-level path
// (NewPath) limits nothing: it is the management account's, which SCPs do
// not limit.
type Path struct {
	e      *Evaluator
	levels [][]*Policy
	// allowPotential and allowFull are intersections over the levels,
	// denyWhole and denySome unions.
	allowPotential, allowFull, denyWhole, denySome bitset

	// avail and free are the available and unrestricted actions, made on
	// first use.
	once        sync.Once
	avail, free bitset
}

func (p *Path) sets() (avail, free bitset) {
	p.once.Do(func() {
		p.avail, p.free = p.e.newBits(), p.e.newBits()
		for i := range p.avail {
			p.avail[i] = p.allowPotential[i] &^ p.denyWhole[i]
			p.free[i] = p.allowFull[i] &^ p.denySome[i]
		}
	})
	return p.avail, p.free
}

// NewPath returns the path of no levels.
func (e *Evaluator) NewPath() *Path {
	p := &Path{e: e, allowPotential: e.newBits(), allowFull: e.newBits(), denyWhole: e.newBits(), denySome: e.newBits()}
	for i := range p.allowPotential {
		p.allowPotential[i], p.allowFull[i] = ^uint64(0), ^uint64(0)
	}
	return p
}

// Level returns the path one level further down, where the policies are
// attached. p is not changed.
func (p *Path) Level(policies []*Policy) *Path {
	e := p.e
	lvl := e.level(policies)
	if lvl.neutral && len(p.levels) > 0 {
		return p // a level that allows everything and denies nothing
	}
	q := &Path{e: e, levels: append(p.levels[:len(p.levels):len(p.levels)], policies),
		allowPotential: e.newBits(), allowFull: e.newBits(), denyWhole: e.newBits(), denySome: e.newBits()}
	for i := range q.allowPotential {
		q.allowPotential[i] = p.allowPotential[i] & lvl.allowPotential[i]
		q.allowFull[i] = p.allowFull[i] & lvl.allowFull[i]
		q.denyWhole[i] = p.denyWhole[i] | lvl.denyWhole[i]
		q.denySome[i] = p.denySome[i] | lvl.denySome[i]
	}
	return q
}

// level is the union of the policies attached at one level: some attached
// SCP must allow an action for the level to allow it.
func (e *Evaluator) level(policies []*Policy) *compiled {
	if len(policies) == 1 {
		return e.compile(policies[0])
	}
	l := &compiled{allowPotential: e.newBits(), allowFull: e.newBits(), denyWhole: e.newBits(), denySome: e.newBits()}
	for _, p := range policies {
		c := e.compile(p)
		for i := range l.allowPotential {
			l.allowPotential[i] |= c.allowPotential[i]
			l.allowFull[i] |= c.allowFull[i]
			l.denyWhole[i] |= c.denyWhole[i]
			l.denySome[i] |= c.denySome[i]
		}
	}
	l.neutral = e.isNeutral(l)
	return l
}

// An action is available on a path when it remains potentially allowed:
// allowed at every level, and not wholly denied at any. It is unrestricted
// when allowed fully at every level and matched by no Deny. Path.sets
// makes both sets.

// span returns the action indexes of ns, or ok false when ns is outside
// the universe.
func (e *Evaluator) span(ns string) (lo, hi int, ok bool) {
	i, ok := e.index[ns]
	if !ok {
		if i, ok = e.index[strings.ToLower(ns)]; !ok {
			return 0, 0, false
		}
	}
	return e.lo[i], e.lo[i+1], true
}

// extend returns an Evaluator whose universe also holds ns.
func (e *Evaluator) extend(ns string) *Evaluator {
	ns = strings.ToLower(ns)
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.extended[ns]; ok {
		return x
	}
	x := New(append(append([]string{}, e.namespaces...), ns)...)
	e.extended[ns] = x
	return x
}

// replay evaluates the same levels over another Evaluator.
func (p *Path) replay(e *Evaluator) *Path {
	q := e.NewPath()
	for _, l := range p.levels {
		q = q.Level(l)
	}
	return q
}

// Denial classifies a service on this path: Whole when no action of it
// remains potentially allowed (it leaves the entity's access report),
// NotDenied when every action is allowed fully at every level and matched
// by no Deny, Partial otherwise.
func (p *Path) Denial(ns string) Denial {
	lo, hi, ok := p.e.span(ns)
	if !ok {
		return p.replay(p.e.extend(ns)).Denial(ns)
	}
	avail, free := p.sets()
	switch {
	case !avail.anyIn(lo, hi):
		return Whole
	case free.allIn(lo, hi):
		return NotDenied
	}
	return Partial
}

// Listed reports whether the service remains potentially allowed on this
// path, that is whether an access report of the entity lists it.
func (p *Path) Listed(ns string) bool { return p.Denial(ns) != Whole }

// Change evaluates one path before and after a change of its attachments,
// level by level, to tell what the change newly denies.
type Change struct {
	Before, After *Path
	// restricted holds the actions the change restricted at some level: a
	// new Deny matches them, or a level no longer allows them fully or at
	// all.
	restricted bitset

	// was, still and hit are made on first use: the actions available
	// before, those of them still available after, and those of them the
	// change restricted or made unavailable.
	once            sync.Once
	was, still, hit bitset
}

func (c *Change) sets() (was, still, hit bitset) {
	c.once.Do(func() {
		before, _ := c.Before.sets()
		after, _ := c.After.sets()
		e := c.Before.e
		c.was, c.still, c.hit = before, e.newBits(), e.newBits()
		for i := range before {
			c.still[i] = before[i] & after[i]
			c.hit[i] = before[i] & (c.restricted[i] | ^after[i])
		}
	})
	return c.was, c.still, c.hit
}

// NewChange returns the change of a path of no levels.
func (e *Evaluator) NewChange() *Change {
	return &Change{Before: e.NewPath(), After: e.NewPath(), restricted: e.newBits()}
}

// Level returns the change one level further down, where before were
// attached and after are attached once the change is made. Policies in
// both (the same *Policy) are unchanged. c is not changed.
func (c *Change) Level(before, after []*Policy) *Change {
	e := c.Before.e
	if len(c.Before.levels) > 0 && samePolicies(before, after) && e.level(before).neutral {
		return c // an unchanged level that changes nothing on the path
	}
	d := &Change{Before: c.Before.Level(before), After: c.After.Level(after), restricted: append(bitset(nil), c.restricted...)}
	lb, la := e.level(before), e.level(after)
	var added []*Policy
	for _, p := range after {
		if !containsPolicy(before, p) {
			added = append(added, p)
		}
	}
	newDeny := e.level(added).denySome
	for i := range d.restricted {
		lostFull := lb.allowFull[i] &^ la.allowFull[i]
		lostPotential := lb.allowPotential[i] &^ la.allowPotential[i]
		d.restricted[i] |= lostFull | lostPotential | newDeny[i]
	}
	return d
}

func samePolicies(a, b []*Policy) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsPolicy(ps []*Policy, p *Policy) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Denial is what the change newly denies of a service: NotDenied when the
// service was not listed before (nothing left to deny) or no action of it
// that was potentially allowed is restricted by the change; Whole when it
// was listed before and is not after; Partial otherwise.
func (c *Change) Denial(ns string) Denial {
	e := c.Before.e
	lo, hi, ok := e.span(ns)
	if !ok {
		x := e.extend(ns)
		return x.replayChange(c).Denial(ns)
	}
	was, still, hit := c.sets()
	switch {
	case !was.anyIn(lo, hi):
		return NotDenied
	case !still.anyIn(lo, hi):
		return Whole
	case hit.anyIn(lo, hi):
		return Partial
	}
	return NotDenied
}

func (e *Evaluator) replayChange(c *Change) *Change {
	x := e.NewChange()
	for i := range c.Before.levels {
		x = x.Level(c.Before.levels[i], c.After.levels[i])
	}
	return x
}

// Classify classifies a service for an entity whose path from the root is
// levels (levels[0] the SCPs attached to the root, the last those attached
// to the entity), over e's universe.
func (e *Evaluator) Classify(levels [][]*Policy, namespace string) Denial {
	p := e.NewPath()
	for _, l := range levels {
		p = p.Level(l)
	}
	return p.Denial(namespace)
}

// Compare tells what changing the attachments of a path from before to
// after newly denies of a service. before and after must have the same
// number of levels.
func (e *Evaluator) Compare(before, after [][]*Policy, namespace string) Denial {
	if len(before) != len(after) {
		panic(fmt.Sprintf("scpeval: Compare of paths of %d and %d levels", len(before), len(after)))
	}
	c := e.NewChange()
	for i := range before {
		c = c.Level(before[i], after[i])
	}
	return c.Denial(namespace)
}

// Classify is Default().Classify.
func Classify(levels [][]*Policy, namespace string) Denial {
	return Default().Classify(levels, namespace)
}

// Compare is Default().Compare.
func Compare(before, after [][]*Policy, namespace string) Denial {
	return Default().Compare(before, after, namespace)
}
