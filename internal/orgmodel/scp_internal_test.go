package orgmodel

import (
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestGlobMatchProperty checks globMatch against the regular expression
// the pattern stands for.
func TestGlobMatchProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pattern := rapid.StringMatching(`[ab*?]{0,6}`).Draw(t, "pattern")
		name := rapid.StringMatching(`[abc]{0,8}`).Draw(t, "name")
		re := regexp.MustCompile("^" + strings.NewReplacer("*", ".*", "?", ".").Replace(pattern) + "$")
		if got, want := globMatch(pattern, name), re.MatchString(name); got != want {
			t.Fatalf("globMatch(%q, %q) = %v; want %v", pattern, name, got, want)
		}
	})
}

// TestRemainsProperty checks the search of remains against enumerating
// every action name of up to 7 characters over a small alphabet: random
// Allow and Deny statements (Action or NotAction) at random levels.
func TestRemainsProperty(t *testing.T) {
	names := []string{}
	var grow func(prefix string)
	grow = func(prefix string) {
		if len(prefix) > 0 {
			names = append(names, prefix)
		}
		if len(prefix) == 7 {
			return
		}
		for _, c := range "abc" {
			grow(prefix + string(c))
		}
	}
	grow("")
	rapid.Check(t, func(t *rapid.T) {
		stmt := func(label string, deny bool) statement {
			st := statement{deny: deny, allResources: true, notAction: rapid.Bool().Draw(t, label+" not")}
			for i, n := 0, rapid.IntRange(1, 2).Draw(t, label+" patterns"); i < n; i++ {
				st.actions = append(st.actions, actionPattern{"x", rapid.StringMatching(`[ab*?]{1,3}`).Draw(t, label+" pattern")})
			}
			return st
		}
		var levels [][]*Policy
		var all []statement
		for l, n := 0, rapid.IntRange(1, 3).Draw(t, "levels"); l < n; l++ {
			doc := &scpDoc{}
			for i, k := 0, rapid.IntRange(1, 3).Draw(t, "statements"); i < k; i++ {
				doc.statements = append(doc.statements, stmt("statement", rapid.IntRange(0, 2).Draw(t, "effect") == 0))
			}
			all = append(all, doc.statements...)
			levels = append(levels, []*Policy{{doc: doc}})
		}
		matches := func(st statement, name string) bool {
			hit := false
			for _, p := range st.actions {
				hit = hit || globMatch(p.action, name)
			}
			return hit != st.notAction
		}
		want := ""
		for _, name := range names {
			ok := true
			for _, level := range levels {
				allowed := false
				for _, st := range level[0].doc.statements {
					allowed = allowed || (!st.deny && matches(st, name))
				}
				ok = ok && allowed
			}
			for _, st := range all {
				ok = ok && !(st.deny && matches(st, name))
			}
			if ok {
				want = name
				break
			}
		}
		if got := remains(levels, "x"); got != (want != "") {
			t.Fatalf("remains() = %v; want %v (witness %q)", got, want != "", want)
		}
	})
}

// TestAllowedByProperty checks the set shortcuts of allowedBy against
// deciding every catalog service by the search alone.
func TestAllowedByProperty(t *testing.T) {
	services := []string{"*", "s3", "s3*", "ec2", "e?2", "gamelift*", "*a*", "sts"}
	rapid.Check(t, func(t *rapid.T) {
		var levels [][]*Policy
		for l, n := 0, rapid.IntRange(1, 3).Draw(t, "levels"); l < n; l++ {
			var level []*Policy
			for k, m := 0, rapid.IntRange(1, 2).Draw(t, "policies"); k < m; k++ {
				doc := &scpDoc{}
				for i, s := 0, rapid.IntRange(1, 3).Draw(t, "statements"); i < s; i++ {
					st := statement{deny: rapid.Bool().Draw(t, "deny"), notAction: rapid.IntRange(0, 3).Draw(t, "not") == 0,
						allResources: rapid.IntRange(0, 4).Draw(t, "resource") > 0, conditional: rapid.IntRange(0, 4).Draw(t, "condition") == 0}
					for j, q := 0, rapid.IntRange(1, 2).Draw(t, "patterns"); j < q; j++ {
						st.actions = append(st.actions, actionPattern{rapid.SampledFrom(services).Draw(t, "service"),
							rapid.SampledFrom([]string{"*", "get*", "getobject", "put*", "*object", "g?t*"}).Draw(t, "action")})
					}
					doc.statements = append(doc.statements, st)
				}
				level = append(level, &Policy{doc: doc, effect: newPolicyEffect(doc)})
			}
			levels = append(levels, level)
		}
		got := allowedBy(levels)
		for i, ns := range catalogNamespaces {
			if want := remains(levels, ns); got.has(i) != want {
				t.Fatalf("allowedBy() has %s = %v; the search says %v", ns, got.has(i), want)
			}
		}
	})
}
