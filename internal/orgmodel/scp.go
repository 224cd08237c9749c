package orgmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// This file holds the simulator's own reading of SCP documents: their
// syntax, checked as AWS Organizations checks a policy it is given, and
// the service-level evaluation IAM applies when it lists the services of
// an Organizations access report. See docs/simulator.md, "SCP documents".

// MaxPolicySize is the largest SCP document Organizations accepts, in
// characters; every character counts, white space included.
const MaxPolicySize = 5120

// PolicyVersion is the only policy language version an SCP may state.
const PolicyVersion = "2012-10-17"

// Document is the JSON text of an SCP document, byte for byte what
// DescribePolicy returns as Content. In an organization file it may be
// written either as a JSON string holding the document (kept exactly) or
// as the document itself, a JSON object (kept with the white space
// between tokens removed, keys in their order).
type Document string

// UnmarshalJSON accepts a JSON string or a JSON object.
func (d *Document) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Document(s)
	case len(b) > 0 && b[0] == '{':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*d = Document(buf.String())
	default:
		return errors.New("content: want the policy document as a JSON object or a string")
	}
	return nil
}

// scpDoc is a parsed SCP document, reduced to what the evaluation needs.
type scpDoc struct {
	statements []statement
}

// statement is one statement of an SCP document.
type statement struct {
	deny bool
	// actions are the Action (or, when notAction, NotAction) patterns.
	actions   []actionPattern
	notAction bool
	// allResources: the statement's Resource element names "*". A
	// statement limited to some resources, or stated with NotResource,
	// does not speak for a whole service.
	allResources bool
	// conditional: the statement has a Condition with at least one
	// operator.
	conditional bool
}

// actionPattern is one Action or NotAction value, split at its colon and
// lowercased (action names and prefixes are case-insensitive); "*" alone
// is {"*", "*"}.
type actionPattern struct {
	service, action string
}

// Shapes of the elements, as IAM's policy grammar has them.
var (
	sidRE           = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	actionServiceRE = regexp.MustCompile(`^[A-Za-z0-9*?-]+$`)
	actionNameRE    = regexp.MustCompile(`^[A-Za-z0-9*?_-]+$`)
)

// parseDocument checks text as Organizations checks an SCP document and
// parses it. Errors name the element at fault (Statement[1].Effect, …).
func parseDocument(text string) (*scpDoc, error) {
	if n := utf8.RuneCountInString(text); n > MaxPolicySize {
		return nil, fmt.Errorf("the document is %d characters; an SCP may have at most %d", n, MaxPolicySize)
	}
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("the document is empty")
	}
	var top map[string]json.RawMessage
	if err := strictJSON(text, &top); err != nil {
		return nil, fmt.Errorf("the document is not a JSON object: %w", err)
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, fmt.Errorf("unknown element %q (an SCP has Version, Id and Statement)", k)
		}
	}
	var version string
	if raw, ok := top["Version"]; !ok {
		return nil, fmt.Errorf("Version is missing; an SCP states %q", PolicyVersion)
	} else if err := json.Unmarshal(raw, &version); err != nil || version != PolicyVersion {
		return nil, fmt.Errorf("Version %s: want %q", raw, PolicyVersion)
	}
	if raw, ok := top["Id"]; ok {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, errors.New("Id: want a string")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errors.New("Statement is missing")
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("Statement: want a statement object or an array of them")
	}
	if len(list) == 0 {
		return nil, errors.New("Statement: the array is empty")
	}
	doc := &scpDoc{}
	sids := map[string]bool{}
	for i, r := range list {
		st, sid, err := parseStatement(r)
		if err != nil {
			return nil, fmt.Errorf("Statement[%d]: %w", i, err)
		}
		if sid != "" {
			if sids[sid] {
				return nil, fmt.Errorf("Statement[%d]: Sid %q is used by an earlier statement; Sids must be unique", i, sid)
			}
			sids[sid] = true
		}
		doc.statements = append(doc.statements, st)
	}
	return doc, nil
}

// strictJSON decodes exactly one JSON value from text into v.
func strictJSON(text string, v any) error {
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the top-level object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil {
		return errors.New("data after the top-level object")
	}
	return nil
}

func parseStatement(raw json.RawMessage) (statement, string, error) {
	var el map[string]json.RawMessage
	if err := json.Unmarshal(raw, &el); err != nil || el == nil {
		return statement{}, "", errors.New("want an object")
	}
	for k := range el {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return statement{}, "", fmt.Errorf("%s is not allowed in an SCP (an SCP applies to every principal of the accounts)", k)
		default:
			return statement{}, "", fmt.Errorf("unknown element %q", k)
		}
	}
	var st statement
	var sid string
	if r, ok := el["Sid"]; ok {
		if err := json.Unmarshal(r, &sid); err != nil || !sidRE.MatchString(sid) {
			return st, "", fmt.Errorf("Sid %s: want letters and digits only", r)
		}
	}
	var effect string
	r, ok := el["Effect"]
	if !ok {
		return st, "", errors.New("Effect is missing")
	}
	if err := json.Unmarshal(r, &effect); err != nil || (effect != "Allow" && effect != "Deny") {
		return st, "", fmt.Errorf("Effect %s: want \"Allow\" or \"Deny\"", r)
	}
	st.deny = effect == "Deny"

	actKey, err := exactlyOne(el, "Action", "NotAction")
	if err != nil {
		return st, "", err
	}
	st.notAction = actKey == "NotAction"
	values, err := stringList(el[actKey], actKey)
	if err != nil {
		return st, "", err
	}
	for _, v := range values {
		p, err := parseAction(v)
		if err != nil {
			return st, "", fmt.Errorf("%s %q: %w", actKey, v, err)
		}
		st.actions = append(st.actions, p)
	}

	resKey, err := exactlyOne(el, "Resource", "NotResource")
	if err != nil {
		return st, "", err
	}
	resources, err := stringList(el[resKey], resKey)
	if err != nil {
		return st, "", err
	}
	for _, res := range resources {
		if res != "*" && !strings.HasPrefix(res, "arn:") {
			return st, "", fmt.Errorf("%s %q: want \"*\" or an ARN", resKey, res)
		}
	}
	st.allResources = resKey == "Resource" && slices.Contains(resources, "*")

	if r, ok := el["Condition"]; ok {
		n, err := checkCondition(r)
		if err != nil {
			return st, "", err
		}
		st.conditional = n > 0
	}
	return st, sid, nil
}

// exactlyOne returns which of the two elements the statement has, when it
// has exactly one of them.
func exactlyOne(el map[string]json.RawMessage, a, b string) (string, error) {
	_, hasA := el[a]
	_, hasB := el[b]
	switch {
	case hasA && hasB:
		return "", fmt.Errorf("%s and %s are exclusive; give one", a, b)
	case hasA:
		return a, nil
	case hasB:
		return b, nil
	}
	return "", fmt.Errorf("%s or %s is required", a, b)
}

// stringList reads an element that is a string or a non-empty array of
// non-empty strings.
func stringList(raw json.RawMessage, name string) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, fmt.Errorf("%s is an empty string", name)
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: want a string or an array of strings", name)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: the array is empty", name)
	}
	for _, s := range list {
		if s == "" {
			return nil, fmt.Errorf("%s holds an empty string", name)
		}
	}
	return list, nil
}

// parseAction reads "*" or "<service prefix>:<action>", either part with
// the wildcards * and ?.
func parseAction(v string) (actionPattern, error) {
	if v == "*" {
		return actionPattern{"*", "*"}, nil
	}
	svc, act, ok := strings.Cut(v, ":")
	if !ok {
		return actionPattern{}, errors.New("want \"*\" or a service prefix, a colon and an action, such as \"s3:GetObject\"")
	}
	if !actionServiceRE.MatchString(svc) {
		return actionPattern{}, fmt.Errorf("service prefix %q: want letters, digits, hyphens and the wildcards * and ?", svc)
	}
	if !actionNameRE.MatchString(act) {
		return actionPattern{}, fmt.Errorf("action %q: want letters, digits and the wildcards * and ?", act)
	}
	return actionPattern{strings.ToLower(svc), strings.ToLower(act)}, nil
}

// checkCondition checks a Condition block, {operator: {key: value(s)}},
// and returns how many operators it has.
func checkCondition(raw json.RawMessage) (int, error) {
	var ops map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ops); err != nil || ops == nil {
		return 0, errors.New("Condition: want {\"<operator>\": {\"<key>\": <value or values>}}")
	}
	for op, keys := range ops {
		if op == "" || len(keys) == 0 {
			return 0, fmt.Errorf("Condition %q: want an operator naming at least one key", op)
		}
		for key, v := range keys {
			var scalar any
			if err := json.Unmarshal(v, &scalar); err != nil {
				return 0, fmt.Errorf("Condition %s %s: %w", op, key, err)
			}
			switch x := scalar.(type) {
			case string, float64, bool:
			case []any:
				for _, e := range x {
					switch e.(type) {
					case string, float64, bool:
					default:
						return 0, fmt.Errorf("Condition %s %s: want strings, numbers or booleans", op, key)
					}
				}
			default:
				return 0, fmt.Errorf("Condition %s %s: want a string, number, boolean or an array of them", op, key)
			}
		}
	}
	return len(ops), nil
}

// allowListDocument renders an allow-list of namespaces (the "allow"
// shorthand of an organization file) as the SCP document it stands for:
// FullAWSAccess's document for ["*"], else one Allow of "<ns>:*" for each
// namespace.
func allowListDocument(allow []string) string {
	type stmt struct {
		Sid      string `json:"Sid,omitempty"`
		Effect   string `json:"Effect"`
		Action   any    `json:"Action"`
		Resource string `json:"Resource"`
	}
	st := stmt{Effect: "Allow", Action: "*", Resource: "*"}
	if !slices.Contains(allow, AllServices) {
		actions := make([]string, len(allow))
		for i, ns := range allow {
			actions[i] = ns + ":*"
		}
		st = stmt{Sid: "AllowListedServices", Effect: "Allow", Action: actions, Resource: "*"}
	}
	b, _ := json.MarshalIndent(struct {
		Version   string
		Statement []stmt
	}{PolicyVersion, []stmt{st}}, "", "  ")
	return string(b)
}

// The evaluation.
//
// IAM lists a service in a report when some action of it is still
// potentially allowed at every level from the root down to the entity.
// The simulator knows services, not their actions, so it reads the
// documents syntactically, treating any action name as possible:
//
//   - An Allow statement counts when its Resource is "*"; a Condition does
//     not stop it (the request might meet it). An Allow limited to some
//     resources, or stated with NotResource, makes nothing accessible.
//   - A Deny statement counts when its Resource is "*" and it has no
//     Condition. A conditional Deny, or one limited to some resources or
//     stated with NotResource, removes nothing.
//   - A service stays when some action name matches an Allow at every
//     level and no counting Deny at any level. Action matches Action's
//     patterns; NotAction matches every action its patterns do not. So a
//     Deny of "s3:*" (or "*", or "s3*:*") removes s3; a Deny of
//     "s3:Delete*" leaves it; a Deny with NotAction ["s3:*"] removes every
//     service but s3.
//
// Each policy is summarised per catalog service by four sets (services
// some Allow reaches, services an Allow reaches whole, and the same for
// Deny), so most services are decided by set operations; a service that
// a partial Allow or Deny touches on more than one side is decided by
// searching for an action name over the patterns (remains).

// policyEffect is the per-service summary of one document.
type policyEffect struct {
	allowSome, allowWhole, denySome, denyWhole svcSet
}

func newPolicyEffect(doc *scpDoc) *policyEffect {
	e := &policyEffect{allowSome: emptySet(), allowWhole: emptySet(), denySome: emptySet(), denyWhole: emptySet()}
	for _, st := range doc.statements {
		if !st.counts() {
			continue
		}
		some, whole := e.allowSome, e.allowWhole
		if st.deny {
			some, whole = e.denySome, e.denyWhole
		}
		for i, ns := range catalogNamespaces {
			if st.touches(ns) {
				some.set(i)
			}
			if st.whole(ns) {
				whole.set(i)
			}
		}
	}
	return e
}

// counts reports whether the statement takes part in the evaluation.
func (st statement) counts() bool {
	if st.deny {
		return st.allResources && !st.conditional
	}
	return st.allResources
}

// patternsFor returns the action-name patterns of the statement's
// patterns whose service prefix matches ns.
func (st statement) patternsFor(ns string) []string {
	var out []string
	for _, p := range st.actions {
		if globMatch(p.service, ns) {
			out = append(out, p.action)
		}
	}
	return out
}

// touches reports whether the statement matches some action of ns.
func (st statement) touches(ns string) bool {
	ps := st.patternsFor(ns)
	if st.notAction {
		return !slices.ContainsFunc(ps, matchesAll)
	}
	return len(ps) > 0
}

// whole reports whether the statement matches every action of ns.
func (st statement) whole(ns string) bool {
	ps := st.patternsFor(ns)
	if st.notAction {
		return len(ps) == 0
	}
	return slices.ContainsFunc(ps, matchesAll)
}

// matchesAll reports whether a pattern matches every name: only stars.
func matchesAll(p string) bool { return strings.Trim(p, "*") == "" }

// globMatch reports whether name matches pattern, where * matches any run
// of characters and ? any one character.
func globMatch(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p, mark = star+1, mark+1
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// allowedBy returns the services still potentially allowed under levels,
// each the documents attached at one level from the root down.
func allowedBy(levels [][]*Policy) svcSet {
	allowed := fullSet()
	denyWhole, denySome := emptySet(), emptySet()
	// partly1 and partly2: services that one level, or two or more, allow
	// only in part.
	partly1, partly2 := emptySet(), emptySet()
	for _, level := range levels {
		some, whole := emptySet(), emptySet()
		for _, p := range level {
			some.or(p.effect.allowSome)
			whole.or(p.effect.allowWhole)
			denyWhole.or(p.effect.denyWhole)
			denySome.or(p.effect.denySome)
		}
		allowed.and(some)
		for w := range partly1 {
			part := ^whole[w]
			partly2[w] |= partly1[w] & part
			partly1[w] |= part
		}
	}
	for w := range allowed {
		allowed[w] &^= denyWhole[w]
		// Nothing denies part of the rest, and at most one level allows
		// only part of it: that part remains. The others need the search.
		search := allowed[w] & (denySome[w] | partly2[w])
		for search != 0 {
			b := bits.TrailingZeros64(search)
			search &^= 1 << b
			if !remains(levels, catalogNamespaces[w*64+b]) {
				allowed[w] &^= 1 << b
			}
		}
	}
	return allowed
}

// predicate is what one statement says of the action names of a service:
// a name matches when it matches one of patterns, or, for a NotAction
// statement (negate), when it matches none of them.
type predicate struct {
	patterns []int // indexes into the search's pattern list
	negate   bool
}

// remains reports whether some action name of ns matches an Allow at
// every level and no counting Deny. It explores the product of the
// patterns' automata over the characters the patterns name and one
// character they do not.
func remains(levels [][]*Policy, ns string) bool {
	var patterns []string
	index := map[string]int{}
	pred := func(st statement) predicate {
		pr := predicate{negate: st.notAction}
		for _, p := range st.patternsFor(ns) {
			i, ok := index[p]
			if !ok {
				i = len(patterns)
				index[p] = i
				patterns = append(patterns, p)
			}
			pr.patterns = append(pr.patterns, i)
		}
		return pr
	}
	var allows [][]predicate
	var denies []predicate
	for _, level := range levels {
		var alts []predicate
		for _, p := range level {
			for _, st := range p.doc.statements {
				if !st.counts() || !st.touches(ns) {
					continue
				}
				if st.deny {
					denies = append(denies, pred(st))
				} else {
					alts = append(alts, pred(st))
				}
			}
		}
		if len(alts) == 0 {
			return false
		}
		allows = append(allows, alts)
	}
	alphabet := []byte{0} // 0 stands for every character no pattern names
	seen := map[byte]bool{}
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			if c := p[i]; c != '*' && c != '?' && !seen[c] {
				seen[c] = true
				alphabet = append(alphabet, c)
			}
		}
	}
	sort.Slice(alphabet, func(i, j int) bool { return alphabet[i] < alphabet[j] })

	// A state is, for each pattern, the set of positions it may be at.
	type state [][]bool
	closure := func(p string, at []bool) {
		for i := 0; i < len(p); i++ {
			if at[i] && p[i] == '*' {
				at[i+1] = true
			}
		}
	}
	start := make(state, len(patterns))
	for k, p := range patterns {
		start[k] = make([]bool, len(p)+1)
		start[k][0] = true
		closure(p, start[k])
	}
	key := func(s state) string {
		var b strings.Builder
		for _, at := range s {
			for _, on := range at {
				if on {
					b.WriteByte('1')
				} else {
					b.WriteByte('0')
				}
			}
			b.WriteByte('|')
		}
		return b.String()
	}
	accepts := func(s state, pr predicate) bool {
		hit := false
		for _, k := range pr.patterns {
			if s[k][len(patterns[k])] {
				hit = true
				break
			}
		}
		return hit != pr.negate
	}
	good := func(s state) bool {
		for _, level := range allows {
			if !slices.ContainsFunc(level, func(pr predicate) bool { return accepts(s, pr) }) {
				return false
			}
		}
		for _, pr := range denies {
			if accepts(s, pr) {
				return false
			}
		}
		return true
	}
	step := func(s state, c byte) state {
		next := make(state, len(s))
		for k, p := range patterns {
			at := make([]bool, len(p)+1)
			for i, on := range s[k] {
				if !on || i == len(p) {
					continue
				}
				switch {
				case p[i] == '*':
					at[i] = true
				case p[i] == '?' || (c != 0 && p[i] == c):
					at[i+1] = true
				}
			}
			closure(p, at)
			next[k] = at
		}
		return next
	}
	// Action names are not empty, so the search accepts only after a
	// first character.
	visited := map[string]bool{key(start): true}
	queue := []state{start}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, c := range alphabet {
			n := step(s, c)
			if good(n) {
				return true
			}
			if k := key(n); !visited[k] {
				visited[k] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}

// catalogNamespaces are the catalog's namespaces in catalog order.
var catalogNamespaces = func() []string {
	out := make([]string, len(catalogIndex))
	for ns, i := range catalogIndex {
		out[i] = ns
	}
	return out
}()

func emptySet() svcSet { return make(svcSet, (len(catalogNamespaces)+63)/64) }

func (s svcSet) set(i int) { s[i/64] |= 1 << (i % 64) }

func (s svcSet) clear(i int) { s[i/64] &^= 1 << (i % 64) }
