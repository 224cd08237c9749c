package scpplan

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

const org = "o-abcdefghij"

// orgOf builds nodes from "path: used services" lines; every node lists
// all of listed. Path segments: r-…, ou-…, 12-digit accounts. A "!"
// suffix on the path marks the management account, "?" a node without a
// report.
func orgOf(t *testing.T, listed []string, lines ...string) []Node {
	t.Helper()
	var out []Node
	for _, l := range lines {
		path, used, _ := strings.Cut(l, ":")
		path = strings.TrimSpace(path)
		n := Node{Reported: true, Listed: listed}
		switch {
		case strings.HasSuffix(path, "!"):
			n.Management, path = true, strings.TrimSuffix(path, "!")
		case strings.HasSuffix(path, "?"):
			n.Reported, n.Listed, path = false, nil, strings.TrimSuffix(path, "?")
		}
		segs := strings.Split(path, "/")
		n.ID = segs[len(segs)-1]
		n.Type = reportdoc.EntityTypeOf(n.ID)
		n.Name = "name-" + n.ID
		n.Path = org + "/" + path
		n.Used = strings.Fields(used)
		out = append(out, n)
	}
	return out
}

var svcs = []string{"athena", "ec2", "glue", "iam", "lambda", "s3", "sagemaker", "sts"}

// denied maps each target to what the plan denies there.
func denied(p *Plan) map[string][]string {
	out := map[string][]string{}
	for _, pol := range p.Policies {
		for _, t := range pol.Targets {
			out[t] = append(out[t], pol.Services...)
		}
	}
	for t := range out {
		sort.Strings(out[t])
	}
	return out
}

func mustMake(t *testing.T, in Input) *Plan {
	t.Helper()
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range p.Policies {
		checkDocument(t, pol, in.ExemptPrincipals)
	}
	if err := Verify(p, in.Nodes); err != nil {
		t.Errorf("Got(Verify) = %v; want a SAFE plan", err)
	}
	return p
}

// checkDocument parses a policy's content as the SCP grammar this package
// writes and checks it names exactly the policy's services.
func checkDocument(t *testing.T, pol Policy, exempt []string) {
	t.Helper()
	if len(pol.Content) > MaxPolicySize {
		t.Errorf("Got(len(%s)) = %d; want <= %d", pol.Name, len(pol.Content), MaxPolicySize)
	}
	var d struct {
		Version   string
		Statement []struct {
			Sid, Effect string
			Action      any
			Resource    string
			Condition   map[string]map[string][]string
		}
	}
	dec := json.NewDecoder(strings.NewReader(pol.Content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("Got(%s) not a document: %v\n%s", pol.Name, err, pol.Content)
	}
	if d.Version != "2012-10-17" || len(d.Statement) == 0 {
		t.Fatalf("Got(%s) = %s; want version 2012-10-17 and statements", pol.Name, pol.Content)
	}
	st := d.Statement[0]
	var actions []string
	for _, a := range st.Action.([]any) {
		actions = append(actions, strings.TrimSuffix(a.(string), ":*"))
	}
	if !slices.Equal(actions, pol.Services) {
		t.Errorf("Got(%s actions) = %v; want %v", pol.Name, actions, pol.Services)
	}
	wantEffect := map[Strategy]string{Deny: "Deny", Allow: "Allow"}[pol.Strategy]
	if st.Effect != wantEffect || st.Resource != "*" {
		t.Errorf("Got(%s statement) = %s %s; want %s on *", pol.Name, st.Effect, st.Resource, wantEffect)
	}
	if pol.Strategy == Deny && len(exempt) > 0 && !slices.Equal(st.Condition["ArnNotLike"]["aws:PrincipalArn"], exempt) {
		t.Errorf("Got(%s condition) = %v; want ArnNotLike aws:PrincipalArn %v", pol.Name, st.Condition, exempt)
	}
}

func TestPlacement(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		want  map[string][]string
	}{
		{
			name: "unused under every child moves up",
			nodes: []string{
				"r-ab12: s3 ec2 lambda",
				"r-ab12/ou-ab12-aaaa1111: s3 ec2",
				"r-ab12/ou-ab12-aaaa1111/111122223333: s3",
				"r-ab12/ou-ab12-aaaa1111/222233334444: ec2",
				"r-ab12/ou-ab12-bbbb2222: lambda",
			},
			// athena, glue, sagemaker: nobody at all, so once at the root;
			// lambda: used only in B, denied at A; ec2, s3: only in A.
			want: map[string][]string{
				"r-ab12":           {"athena", "glue", "sagemaker"},
				"ou-ab12-aaaa1111": {"lambda"},
				"111122223333":     {"ec2"},
				"222233334444":     {"s3"},
				"ou-ab12-bbbb2222": {"ec2", "s3"},
			},
		},
		{
			name: "used in one child stays down",
			nodes: []string{
				"r-ab12: glue",
				"r-ab12/ou-ab12-aaaa1111: glue",
				"r-ab12/ou-ab12-bbbb2222:",
				"r-ab12/ou-ab12-cccc3333:",
			},
			want: map[string][]string{
				"r-ab12":           {"athena", "ec2", "lambda", "s3", "sagemaker"},
				"ou-ab12-bbbb2222": {"glue"},
				"ou-ab12-cccc3333": {"glue"},
			},
		},
		{
			name: "a child's use keeps it off the parent even when the parent's report misses it",
			nodes: []string{
				"r-ab12:",
				"r-ab12/ou-ab12-aaaa1111: glue",
				"r-ab12/ou-ab12-bbbb2222:",
			},
			want: map[string][]string{
				"r-ab12":           {"athena", "ec2", "lambda", "s3", "sagemaker"},
				"ou-ab12-bbbb2222": {"glue"},
			},
		},
		{
			name: "the management account neither counts nor is a target",
			nodes: []string{
				"r-ab12: s3",
				"r-ab12/999999999999!: s3 ec2 athena glue lambda sagemaker",
				"r-ab12/ou-ab12-aaaa1111: s3",
			},
			want: map[string][]string{
				"r-ab12": {"athena", "ec2", "glue", "lambda", "sagemaker"},
			},
		},
		{
			name: "an entity without a report is never a target",
			nodes: []string{
				"r-ab12: s3 ec2",
				"r-ab12/ou-ab12-aaaa1111?:",
				"r-ab12/ou-ab12-aaaa1111/111122223333: ec2",
				"r-ab12/ou-ab12-bbbb2222: s3",
			},
			want: map[string][]string{
				"r-ab12":           {"athena", "glue", "lambda", "sagemaker"},
				"111122223333":     {"s3"},
				"ou-ab12-bbbb2222": {"ec2"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustMake(t, Input{Nodes: orgOf(t, svcs, tc.nodes...)})
			got := denied(p)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("Got(denied) = %s; want %s", gj, wj)
			}
			if len(p.Stopped) != 0 {
				t.Errorf("Got(stopped) = %+v; want none", p.Stopped)
			}
		})
	}
}

func TestPlanOfASubtree(t *testing.T) {
	nodes := orgOf(t, svcs,
		"r-ab12: s3 ec2",
		"r-ab12/ou-ab12-aaaa1111: s3",
		"r-ab12/ou-ab12-aaaa1111/111122223333: s3",
		"r-ab12/ou-ab12-bbbb2222: ec2",
	)
	for _, ref := range []string{"ou-ab12-aaaa1111", org + "/r-ab12/ou-ab12-aaaa1111/", "name-ou-ab12-aaaa1111"} {
		p := mustMake(t, Input{Nodes: nodes, Target: ref})
		want := map[string][]string{"ou-ab12-aaaa1111": {"athena", "ec2", "glue", "lambda", "sagemaker"}}
		if gj, wj := mustJSON(denied(p)), mustJSON(want); gj != wj {
			t.Errorf("Got(denied of %q) = %s; want %s", ref, gj, wj)
		}
	}
	if _, err := Make(Input{Nodes: nodes, Target: "ou-ab12-zzzz9999"}); err == nil || !strings.Contains(err.Error(), `"ou-ab12-zzzz9999"`) {
		t.Errorf("Got(Make unknown target) = %v; want an error naming it", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestIdenticalDenialsShareOnePolicy(t *testing.T) {
	nodes := orgOf(t, svcs,
		"r-ab12: s3 ec2",
		"r-ab12/ou-ab12-aaaa1111: s3",
		"r-ab12/ou-ab12-bbbb2222: ec2",
		"r-ab12/ou-ab12-cccc3333: ec2",
	)
	p := mustMake(t, Input{Nodes: nodes})
	var shared *Policy
	for i := range p.Policies {
		if slices.Equal(p.Policies[i].Services, []string{"s3"}) {
			shared = &p.Policies[i]
		}
	}
	if shared == nil || !slices.Equal(shared.Targets, []string{"ou-ab12-bbbb2222", "ou-ab12-cccc3333"}) {
		t.Fatalf("Got(policies) = %+v; want one s3 deny attached to B and C", p.Policies)
	}
	if shared.Name != "orgaudit-deny-unused-ou-ab12-bbbb2222-and-1-more" {
		t.Errorf("Got(name) = %q", shared.Name)
	}
	if len(p.Policies) != 3 {
		t.Errorf("Got(len(policies)) = %d; want 3 (root, A, B+C)", len(p.Policies))
	}
}

func TestNeverDenyAndKeep(t *testing.T) {
	nodes := orgOf(t, svcs, "r-ab12:")
	p := mustMake(t, Input{Nodes: nodes, Keep: []string{"glue"}})
	got := denied(p)["r-ab12"]
	if want := []string{"athena", "ec2", "lambda", "s3", "sagemaker"}; !slices.Equal(got, want) {
		t.Errorf("Got(denied) = %v; want %v (iam, sts never; glue kept)", got, want)
	}
}

func TestAllowStrategy(t *testing.T) {
	nodes := orgOf(t, svcs,
		"r-ab12: s3 ec2 lambda",
		"r-ab12/ou-ab12-aaaa1111: s3 ec2",
		"r-ab12/ou-ab12-aaaa1111/111122223333: s3 ec2",
		"r-ab12/ou-ab12-bbbb2222: lambda",
	)
	p := mustMake(t, Input{Nodes: nodes, Strategy: Allow})
	never := scpsuggest.NeverDeny(scpsuggest.Options{})
	with := func(xs ...string) []string {
		out := append(slices.Clone(never), xs...)
		sort.Strings(out)
		return slices.Compact(out)
	}
	want := map[string][]string{
		"r-ab12":           with("ec2", "lambda", "s3"),
		"ou-ab12-aaaa1111": with("ec2", "s3"),
		"ou-ab12-bbbb2222": with("lambda"),
		// 111122223333 uses what its OU allows: nothing narrower to say.
	}
	if gj, wj := mustJSON(denied(p)), mustJSON(want); gj != wj {
		t.Errorf("Got(allowed) = %s; want %s", gj, wj)
	}
	for _, pol := range p.Policies {
		if pol.Strategy != Allow || !slices.Equal(pol.Replaces, []string{FullAWSAccess}) || !strings.HasPrefix(pol.Name, "orgaudit-allow-used-") {
			t.Errorf("Got(%s) = strategy %s, replaces %v; want allow replacing %s", pol.Name, pol.Strategy, pol.Replaces, FullAWSAccess)
		}
	}
}

func TestExemptPrincipals(t *testing.T) {
	nodes := orgOf(t, svcs, "r-ab12: s3")
	exempt := []string{"arn:aws:iam::*:role/BreakGlass", "arn:aws:iam::*:role/pipeline-*"}
	p := mustMake(t, Input{Nodes: nodes, ExemptPrincipals: exempt})
	if len(p.Policies) != 1 || !strings.Contains(p.Policies[0].Content, `"Condition":{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/BreakGlass","arn:aws:iam::*:role/pipeline-*"]}}`) {
		t.Errorf("Got(policies) = %+v; want the ArnNotLike condition", p.Policies)
	}
	a := mustMake(t, Input{Nodes: nodes, ExemptPrincipals: exempt, Strategy: Allow})
	if len(a.Policies) != 1 || !strings.Contains(a.Policies[0].Content, `{"Sid":"AllowExemptPrincipals","Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/BreakGlass","arn:aws:iam::*:role/pipeline-*"]}}}`) {
		t.Errorf("Got(allow policies) = %+v; want the exempt principals allowed everything", a.Policies)
	}
	for _, bad := range []string{"BreakGlass", "arn:aws:iam::*:role/a b", "arn:aws:iam"} {
		if _, err := Make(Input{Nodes: nodes, ExemptPrincipals: []string{bad}}); err == nil || !strings.Contains(err.Error(), "--exempt-principal") {
			t.Errorf("Got(Make exempt %q) = %v; want an error naming --exempt-principal", bad, err)
		}
	}
}

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func TestExceptions(t *testing.T) {
	nodes := orgOf(t, svcs,
		"r-ab12: s3",
		"r-ab12/ou-ab12-aaaa1111: s3",
		"r-ab12/ou-ab12-bbbb2222:",
		"r-ab12/ou-ab12-bbbb2222/111122223333:",
	)
	file := `exceptions:
  - entity: 111122223333
    services:
      - service: sagemaker
        reason: quarterly model training
        expires: 2027-03-31
  - entity: name-ou-ab12-aaaa1111
    services:
      - service: glue
        reason: migration finished in November
        expires: 2026-12-01
      - service: athena
        reason: auditors query the log bucket once a year
`
	ex, err := ParseExceptions("exceptions.yaml", []byte(file), now)
	if err != nil {
		t.Fatal(err)
	}
	p := mustMake(t, Input{Nodes: nodes, Exceptions: ex})
	want := map[string][]string{
		// sagemaker is kept in 111122223333, so it is denied beside it,
		// not above; athena is kept in A; glue's exception expired.
		"r-ab12":           {"ec2", "glue", "lambda"},
		"ou-ab12-bbbb2222": {"athena", "s3"},
		"ou-ab12-aaaa1111": {"sagemaker"},
	}
	if gj, wj := mustJSON(denied(p)), mustJSON(want); gj != wj {
		t.Errorf("Got(denied) = %s; want %s", gj, wj)
	}
	if len(p.Expired) != 1 || p.Expired[0].Service != "glue" || p.Expired[0].EntityID != "ou-ab12-aaaa1111" || !p.Expired[0].Expired() {
		t.Errorf("Got(expired) = %+v; want glue at ou-ab12-aaaa1111", p.Expired)
	}
	if len(p.Applied) != 2 {
		t.Errorf("Got(applied) = %+v; want 2", p.Applied)
	}
	// The same exceptions as JSON.
	js := `{"exceptions":[{"entity":"111122223333","services":[{"service":"sagemaker","reason":"training","expires":"2027-03-31"}]}]}`
	if ex, err := ParseExceptions("exceptions.json", []byte(js), now); err != nil || len(ex) != 1 || ex[0].Expired() {
		t.Errorf("Got(ParseExceptions JSON) = %+v, %v; want one exception in force", ex, err)
	}

	bad := []struct{ name, file, want string }{
		{"unknown entity", "exceptions:\n  - entity: ou-ab12-zzzz9999\n    services: [{service: s3, reason: x}]\n", `"ou-ab12-zzzz9999"`},
		{"unknown service", "exceptions:\n  - entity: r-ab12\n    services: [{service: notaservice, reason: x}]\n", `"notaservice"`},
		{"no reason", "exceptions:\n  - entity: r-ab12\n    services: [{service: s3}]\n", "reason is missing"},
		{"bad date", "exceptions:\n  - entity: r-ab12\n    services: [{service: s3, reason: x, expires: tomorrow}]\n", `expires "tomorrow"`},
		{"unknown field", "exceptions:\n  - entity: r-ab12\n    service: s3\n", "field service not found"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := ParseExceptions("x.yaml", []byte(tc.file), now)
			if err == nil {
				_, err = Make(Input{Nodes: nodes, Exceptions: ex})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Got(error) = %v; want it to contain %s", err, tc.want)
			}
		})
	}
}

func TestExampleExceptionsFile(t *testing.T) {
	b, err := os.ReadFile("../../testdata/scp-exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := ParseExceptions("scp-exceptions.yaml", b, now)
	if err != nil || len(ex) == 0 {
		t.Fatalf("Got(ParseExceptions testdata) = %d, %v; want exceptions", len(ex), err)
	}
}

// TestPerTargetQuotaStops gives an OU four SCPs already attached: one slot
// is left, so a denial that needs two documents is cut at the first and the
// rest goes to the entities below, and the plan says so.
func TestPerTargetQuotaStops(t *testing.T) {
	many := manyServices(600) // about two documents' worth of actions
	nodes := orgOf(t, many,
		"r-ab12: svc0000",
		"r-ab12/ou-ab12-aaaa1111: svc0000",
		"r-ab12/ou-ab12-aaaa1111/111122223333: svc0000",
		"r-ab12/ou-ab12-bbbb2222: svc0000 svc0001",
	)
	for i := range nodes {
		nodes[i].Attached = []string{FullAWSAccess}
		if nodes[i].ID == "r-ab12" {
			nodes[i].Attached = []string{FullAWSAccess, "p-regiondeny1", "p-nobilling1", "p-noleave001"}
		}
	}
	p := mustMake(t, Input{Nodes: nodes, AttachmentsKnown: true})
	if len(p.Stopped) != 1 || p.Stopped[0].Target != "r-ab12" || p.Stopped[0].Quota != QuotaPerTarget {
		t.Fatalf("Got(stopped) = %+v; want one policies-per-target stop at r-ab12", p.Stopped)
	}
	if !strings.Contains(p.Stopped[0].Reason, "r-ab12 has 4 of 5 SCPs attached") {
		t.Errorf("Got(reason) = %q", p.Stopped[0].Reason)
	}
	got := denied(p)
	if len(p.Policies) == 0 || len(got["r-ab12"]) == 0 {
		t.Fatalf("Got(denied at the root) = nothing; want one document's worth")
	}
	perTarget := map[string]int{}
	for _, pol := range p.Policies {
		for _, tg := range pol.Targets {
			perTarget[tg]++
		}
	}
	if perTarget["r-ab12"] != 1 {
		t.Errorf("Got(policies at r-ab12) = %d; want 1 (4 attached + 1 = 5)", perTarget["r-ab12"])
	}
	// Whatever the root could not take is denied in both OUs instead,
	// and together every unused service is denied for every account.
	for _, ou := range []string{"ou-ab12-aaaa1111", "ou-ab12-bbbb2222"} {
		all := setOf(append(slices.Clone(got["r-ab12"]), got[ou]...))
		for _, ns := range many {
			if ns == "svc0000" || (ou == "ou-ab12-bbbb2222" && ns == "svc0001") {
				if all[ns] {
					t.Errorf("Got(%s) denied under %s; want it kept, it is used", ns, ou)
				}
				continue
			}
			if !all[ns] {
				t.Errorf("Got(%s) not denied for %s; want it denied at the root or the OU", ns, ou)
			}
		}
	}
}

func manyServices(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("svc%04d", i)
	}
	return out
}

// TestOrganizationQuotaStops starts from an organization that holds 998
// SCPs: two more fit, the rest is reported.
func TestOrganizationQuotaStops(t *testing.T) {
	lines := []string{"r-ab12: s3 ec2 glue athena lambda sagemaker"}
	for i := 0; i < 6; i++ {
		used := strings.Join(svcs[:i+1], " ")
		lines = append(lines, fmt.Sprintf("r-ab12/ou-ab12-%08d: %s", i, used))
	}
	p := mustMake(t, Input{Nodes: orgOf(t, svcs, lines...), OrganizationPolicies: 998})
	if len(p.Policies) != 2 {
		t.Errorf("Got(len(policies)) = %d; want 2", len(p.Policies))
	}
	if len(p.Stopped) == 0 {
		t.Fatal("Got(stopped) = none; want the organization quota reported")
	}
	for _, s := range p.Stopped {
		if s.Quota != QuotaPerOrganization || !strings.Contains(s.Reason, "holds 998 SCPs") {
			t.Errorf("Got(stop) = %+v; want policies-per-organization", s)
		}
	}
}

// TestVerifyCatchesABreak hands Verify a plan that denies a service an
// account uses: the evaluator must say so.
func TestVerifyCatchesABreak(t *testing.T) {
	nodes := orgOf(t, svcs, "r-ab12: s3", "r-ab12/111122223333: s3")
	p := mustMake(t, Input{Nodes: nodes})
	bad := *p
	bad.Policies = append(slices.Clone(p.Policies), Policy{Name: "bad", Strategy: Deny, Targets: []string{"r-ab12"},
		Content: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}`})
	if err := Verify(&bad, nodes); err == nil || !strings.Contains(err.Error(), "111122223333 s3 (partial)") {
		t.Errorf("Got(Verify of a partial s3 deny) = %v; want the break named", err)
	}
	bad.Policies[len(bad.Policies)-1].Content = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Principal":"*"}]}`
	if err := Verify(&bad, nodes); err == nil || !strings.Contains(err.Error(), "not a valid SCP") {
		t.Errorf("Got(Verify of a Principal element) = %v; want invalid SCP", err)
	}
}

// TestDenyDocumentIsTheSuggestionsShape pins what report.html relies on to
// build a plan's documents in the page: without exemptions, a deny document
// is the suggestions' envelope around the actions.
func TestDenyDocumentIsTheSuggestionsShape(t *testing.T) {
	head, tail := scpsuggest.Envelope()
	parts := split(Deny, []string{"athena", "ec2"}, nil)
	if want := head + `"athena:*","ec2:*"` + tail; len(parts) != 1 || parts[0].content != want {
		t.Errorf("Got(deny document) = %+v; want %s", parts, want)
	}
}

func TestOUsOnly(t *testing.T) {
	nodes := orgOf(t, svcs,
		"r-ab12: s3 ec2",
		"r-ab12/ou-ab12-aaaa1111: s3 ec2",
		"r-ab12/ou-ab12-aaaa1111/111122223333: s3",
		"r-ab12/ou-ab12-aaaa1111/222233334444: ec2",
	)
	p := mustMake(t, Input{Nodes: nodes, OUsOnly: true})
	want := map[string][]string{"r-ab12": {"athena", "glue", "lambda", "sagemaker"}}
	if gj, wj := mustJSON(denied(p)), mustJSON(want); gj != wj {
		t.Errorf("Got(denied, OUs only) = %s; want %s (no account targets)", gj, wj)
	}
	if all := denied(mustMake(t, Input{Nodes: nodes})); len(all["111122223333"]) == 0 {
		t.Errorf("Got(denied without OUsOnly) = %v; want the accounts as targets", all)
	}
}
