package scpplan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

var propServices = []string{"athena", "ec2", "glue", "iam", "lambda", "s3", "sagemaker", "sqs"}

// genOrg draws an organization: a root, OUs up to three levels, accounts
// under any of them, each account using a few services; an OU or the root
// uses what its accounts use, plus sometimes a service of accounts the run
// has no report of. Some entities have no report.
func genOrg(t *rapid.T) []Node {
	type gen struct {
		node   Node
		parent int
	}
	nodes := []gen{{node: Node{ID: "r-ab12", Type: reportdoc.TypeRoot, Path: org + "/r-ab12"}, parent: -1}}
	nOUs := rapid.IntRange(0, 6).Draw(t, "ous")
	for i := 0; i < nOUs; i++ {
		p := rapid.IntRange(0, len(nodes)-1).Draw(t, "ou parent")
		if strings.Count(nodes[p].node.Path, "/") >= 4 {
			p = 0
		}
		id := fmt.Sprintf("ou-ab12-%08d", i)
		nodes = append(nodes, gen{node: Node{ID: id, Type: reportdoc.TypeOU, Path: nodes[p].node.Path + "/" + id}, parent: p})
	}
	groups := len(nodes)
	nAccounts := rapid.IntRange(1, 8).Draw(t, "accounts")
	for i := 0; i < nAccounts; i++ {
		p := rapid.IntRange(0, groups-1).Draw(t, "account parent")
		id := fmt.Sprintf("%012d", 100000000000+i)
		used := rapid.SliceOfDistinct(rapid.SampledFrom(propServices), rapid.ID[string]).Draw(t, "used")
		nodes = append(nodes, gen{node: Node{ID: id, Type: reportdoc.TypeAccount, Path: nodes[p].node.Path + "/" + id, Used: used}, parent: p})
	}
	// Usage rolls up, as OU and root reports aggregate their accounts.
	for i := len(nodes) - 1; i > 0; i-- {
		p := nodes[i].parent
		nodes[p].node.Used = append(nodes[p].node.Used, nodes[i].node.Used...)
	}
	var out []Node
	for i, g := range nodes {
		n := g.node
		if n.Type != reportdoc.TypeAccount && rapid.IntRange(0, 4).Draw(t, "hidden use") == 0 {
			n.Used = append(n.Used, rapid.SampledFrom(propServices).Draw(t, "hidden"))
		}
		slices.Sort(n.Used)
		n.Used = slices.Compact(n.Used)
		n.Reported = i == 0 || rapid.IntRange(0, 5).Draw(t, "unreported") > 0
		if n.Reported {
			n.Listed = propServices
		} else {
			n.Used = nil
		}
		out = append(out, n)
	}
	return out
}

// TestPlanProperties checks every drawn plan against what placement
// promises, and against scpeval (Verify): nothing used is denied; every
// service nobody under a reported entity used is denied on its path; no
// service is denied twice on one path; and a denial sits at the highest
// place it can.
func TestPlanProperties(t *testing.T) {
	never := map[string]bool{"iam": true}
	rapid.Check(t, func(t *rapid.T) {
		nodes := genOrg(t)
		p, err := Make(Input{Nodes: nodes})
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(p, nodes); err != nil {
			t.Fatal(err)
		}
		denied := map[string][]string{}
		for _, pol := range p.Policies {
			for _, tg := range pol.Targets {
				denied[tg] = append(denied[tg], pol.Services...)
			}
		}
		byPath := map[string]*Node{}
		for i := range nodes {
			byPath[nodes[i].Path] = &nodes[i]
		}
		ancestors := func(n *Node) []*Node { // n first, up to the root
			var out []*Node
			for p := n.Path; p != org; p = p[:strings.LastIndexByte(p, '/')] {
				if a := byPath[p]; a != nil {
					out = append(out, a)
				}
			}
			return out
		}
		usedBelow := func(n *Node, ns string) bool {
			for _, m := range nodes {
				if (m.Path == n.Path || strings.HasPrefix(m.Path, n.Path+"/")) && slices.Contains(m.Used, ns) {
					return true
				}
			}
			return false
		}
		for i := range nodes {
			n := &nodes[i]
			for _, ns := range propServices {
				count := 0
				for _, a := range ancestors(n) {
					if slices.Contains(denied[a.ID], ns) {
						count++
					}
				}
				if count > 1 {
					t.Fatalf("%s denied %d times on the path of %s", ns, count, n.ID)
				}
				if n.Reported && !never[ns] && !usedBelow(n, ns) && count == 0 {
					t.Fatalf("%s: nobody under %s used it, yet nothing on its path denies it", ns, n.ID)
				}
				if slices.Contains(denied[n.ID], ns) {
					// Highest: the nearest reported ancestor must have a use of it.
					for _, a := range ancestors(n)[1:] {
						if a.Reported {
							if !usedBelow(a, ns) {
								t.Fatalf("%s denied at %s though its ancestor %s could take it", ns, n.ID, a.ID)
							}
							break
						}
					}
				}
			}
		}
	})
}
