// Package iamactions is the list of IAM actions by service prefix, the
// universe an SCP's action patterns are resolved against: it tells that
// s3:*Object* names part of Amazon S3, not all of it. It is generated from
// the IAM policy data cfn-lint bundles (1.51.0) by ./genactions and committed
// as actions.txt.
//
// Action names are lowercase: IAM matches actions without regard to case.
package iamactions

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed actions.txt
var actionsTxt string

// Service is one service prefix and its actions, sorted.
type Service struct {
	Prefix  string
	Actions []string
}

var all, byPrefix = mustLoad(actionsTxt)

func mustLoad(txt string) ([]Service, map[string]int) {
	var out []Service
	idx := map[string]int{}
	for i, line := range strings.Split(txt, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			panic(fmt.Sprintf("iamactions: actions.txt line %d: a prefix without actions", i+1))
		}
		if _, dup := idx[f[0]]; dup {
			panic(fmt.Sprintf("iamactions: actions.txt line %d: prefix %s twice", i+1, f[0]))
		}
		idx[f[0]] = len(out)
		out = append(out, Service{Prefix: f[0], Actions: f[1:]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	for i, s := range out {
		idx[s.Prefix] = i
	}
	return out, idx
}

// All returns every service, sorted by prefix. The slice is shared: do not
// modify it.
func All() []Service { return all }

// Actions returns the actions of a service prefix (lowercase, sorted), and
// whether the list knows the prefix. The slice is shared: do not modify it.
func Actions(prefix string) ([]string, bool) {
	i, ok := byPrefix[strings.ToLower(prefix)]
	if !ok {
		return nil, false
	}
	return all[i].Actions, true
}

// Count returns the number of actions in the list.
func Count() int {
	n := 0
	for _, s := range all {
		n += len(s.Actions)
	}
	return n
}
