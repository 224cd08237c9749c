package scpeval

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// namespaces the random policies talk about: a few real ones with many
// actions, and one the action list does not know.
var propNamespaces = []string{"s3", "ec2", "iam", "sts", "lambda", "newsvc"}

var propActions = []string{"*", "s3:*", "s3:Get*", "s3:*Object*", "s3:GetObjec?", "s3:PutObject", "ec2:*", "ec2:Describe*",
	"*:Describe*", "iam:*", "iam:CreateRole", "sts:*", "lambda:*", "lambda:Invoke*", "newsvc:*", "newsvc:Get*", "s?:*", "nosuch:*"}

func genStatement(t *rapid.T) map[string]any {
	st := map[string]any{"Effect": rapid.SampledFrom([]string{Allow, Deny}).Draw(t, "effect")}
	acts := rapid.SliceOfNDistinct(rapid.SampledFrom(propActions), 1, 3, rapid.ID[string]).Draw(t, "actions")
	if rapid.Bool().Draw(t, "not") {
		st["NotAction"] = acts
	} else {
		st["Action"] = acts
	}
	switch rapid.IntRange(0, 4).Draw(t, "resource") {
	case 1:
		st["Resource"] = "*"
	case 2:
		st["Resource"] = "arn:aws:s3:::bucket/*"
	case 3:
		st["NotResource"] = "arn:aws:s3:::bucket/*"
	}
	if rapid.IntRange(0, 3).Draw(t, "condition") == 0 {
		st["Condition"] = map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": "eu-west-1"}}
	}
	return st
}

func genPolicy(t *rapid.T, label string) *Policy {
	var sts []map[string]any
	for range rapid.IntRange(1, 3).Draw(t, label+" statements") {
		sts = append(sts, genStatement(t))
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
	p, err := Parse(b)
	if err != nil {
		t.Fatalf("generated policy %s: %v", b, err)
	}
	return p
}

func genLevels(t *rapid.T) [][]*Policy {
	var levels [][]*Policy
	for i := range rapid.IntRange(1, 4).Draw(t, "levels") {
		var l []*Policy
		if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("full %d", i)) > 0 {
			l = append(l, full)
		}
		for j := range rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("policies %d", i)) {
			l = append(l, genPolicy(t, fmt.Sprintf("level %d policy %d", i, j)))
		}
		levels = append(levels, l)
	}
	return levels
}

// naiveDenial classifies ns by asking the statement rules about every action
// directly, level by level, with no bitsets.
func naiveDenial(e *Evaluator, levels [][]*Policy, ns string) Denial {
	lo, hi, _ := e.span(ns)
	avail, free := false, true
	for i := lo; i < hi; i++ {
		a := e.actions[i]
		allowedAll, fullAll, deniedWhole, deniedSome := true, true, false, false
		for _, l := range levels {
			allowed, fully := false, false
			for _, p := range l {
				for k := range p.Statements {
					st := &p.Statements[k]
					allowed = allowed || allowsPotentially(st, a)
					fully = fully || allowsFully(st, a)
					deniedWhole = deniedWhole || deniesWholly(st, a)
					deniedSome = deniedSome || deniesSome(st, a)
				}
			}
			allowedAll = allowedAll && allowed
			fullAll = fullAll && fully
		}
		avail = avail || (allowedAll && !deniedWhole)
		free = free && fullAll && !deniedSome
	}
	switch {
	case !avail:
		return Whole
	case free:
		return NotDenied
	}
	return Partial
}

// The bitset evaluation agrees with the rules asked action by action.
func TestPropertyPathMatchesRules(t *testing.T) {
	e := New(propNamespaces...)
	rapid.Check(t, func(t *rapid.T) {
		levels := genLevels(t)
		for _, ns := range propNamespaces {
			if got, want := e.Classify(levels, ns), naiveDenial(e, levels, ns); got != want {
				t.Fatalf("Got(Classify(%s)) = %q; want %q (rules action by action)", ns, got, want)
			}
		}
	})
}

// Invariants of a change at one level: a whole denial after the change
// means the service is not listed after it and was before; nothing listed
// before and after with no restriction at all is reported; attaching only
// Allow statements beside the existing ones never denies anything.
func TestPropertyCompare(t *testing.T) {
	e := New(propNamespaces...)
	rapid.Check(t, func(t *rapid.T) {
		levels := genLevels(t)
		at := rapid.IntRange(0, len(levels)-1).Draw(t, "target level")
		cand := genPolicy(t, "candidate")
		after := make([][]*Policy, len(levels))
		copy(after, levels)
		after[at] = append(append([]*Policy{}, levels[at]...), cand)
		onlyAllows := true
		for _, st := range cand.Statements {
			onlyAllows = onlyAllows && st.Effect == Allow
		}
		for _, ns := range propNamespaces {
			got := e.Compare(levels, after, ns)
			before, now := e.Classify(levels, ns), e.Classify(after, ns)
			if got == Whole && (before == Whole || now != Whole) {
				t.Fatalf("Got(Compare(%s)) = whole with %q before and %q after", ns, before, now)
			}
			if now == Whole && before != Whole && got != Whole {
				t.Fatalf("Got(Compare(%s)) = %q; want whole (listed before, not after)", ns, got)
			}
			if onlyAllows && got != NotDenied {
				t.Fatalf("Got(Compare(%s)) = %q after attaching only Allows; want not denied", ns, got)
			}
			if before == NotDenied && now == Partial && got != Partial {
				t.Fatalf("Got(Compare(%s)) = %q; want partial (free before, restricted after)", ns, got)
			}
		}
	})
}

func BenchmarkCompile5000(b *testing.B) {
	doc := bigPolicy(5000)
	b.ReportMetric(float64(len(doc)), "chars")
	for b.Loop() {
		p, err := Parse([]byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		New().compile(p)
	}
}

// bigPolicy is a Deny of many services' actions by pattern, n characters
// or just under.
func bigPolicy(n int) string {
	var pats []string
	all := Default().Namespaces()
	for i := 0; ; i++ {
		ns := all[i%len(all)]
		pat := fmt.Sprintf(`"%s:%s*"`, ns, []string{"Get", "Describe", "List", "Put", "Delete", "Create"}[i%6])
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":[` + strings.Join(append(pats, pat), ",") + `],"Resource":"*"}]}`
		if len(doc) > n {
			break
		}
		pats = append(pats, pat)
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":[` + strings.Join(pats, ",") + `],"Resource":"*"}]}`
}
