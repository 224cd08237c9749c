package scpplan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/iamactions"
	"github.com/orgaudit/orgaudit/internal/motoserver"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// realServices are real IAM prefixes of the catalog that cfn-lint's policy
// data knows (IAM lists a few newer ones), enough for plans that split into
// several documents.
func realServices(n int) []string {
	var out []string
	for _, s := range catalog.All() {
		if len(out) == n {
			break
		}
		if _, ok := iamactions.Actions(s.Namespace); ok {
			out = append(out, s.Namespace)
		}
	}
	return out
}

// samplePlans are plans of both strategies, with and without exemptions,
// over an organization whose root denial needs two documents.
func samplePlans(t *testing.T) []*Plan {
	t.Helper()
	listed := realServices(450)
	nodes := orgOf(t, listed,
		"r-ab12: "+strings.Join(listed[:12], " "),
		"r-ab12/ou-ab12-aaaa1111: "+strings.Join(listed[:6], " "),
		"r-ab12/ou-ab12-aaaa1111/111122223333: "+strings.Join(listed[:3], " "),
		"r-ab12/ou-ab12-aaaa1111/222233334444: "+strings.Join(listed[3:6], " "),
		"r-ab12/ou-ab12-bbbb2222: "+strings.Join(listed[6:12], " "),
		"r-ab12/ou-ab12-cccc3333: "+strings.Join(listed[6:12], " "),
	)
	exempt := []string{"arn:aws:iam::*:role/BreakGlass", "arn:aws:iam::*:role/o'neil-*"}
	var out []*Plan
	for _, in := range []Input{
		{Nodes: nodes},
		{Nodes: nodes, ExemptPrincipals: exempt},
		{Nodes: nodes, Strategy: Allow},
		{Nodes: nodes, Strategy: Allow, ExemptPrincipals: exempt},
	} {
		out = append(out, mustMake(t, in))
	}
	if len(out[0].Policies) < 5 {
		t.Fatalf("Got(%d policies); want a plan with several", len(out[0].Policies))
	}
	return out
}

func cfnLint(t *testing.T) string {
	t.Helper()
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		lint = "/root/.pyenv/shims/cfn-lint"
		if _, err := os.Stat(lint); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("cfn-lint not found")
			}
			t.Skip("cfn-lint not installed")
		}
	}
	return lint
}

// TestCloudFormationPassesCFNLint lints the cloudformation output with
// cfn-lint, the whole plan and each per-policy file. cfn-lint checks the
// AWS::Organizations::Policy schema but not the document inside it, so each
// document also goes into an AWS::IAM::ManagedPolicy, whose policy grammar
// it checks (E3510; W3037 for real service prefixes).
func TestCloudFormationPassesCFNLint(t *testing.T) {
	lint := cfnLint(t)
	dir := t.TempDir()
	var paths []string
	grammar := map[string]any{}
	for i, p := range samplePlans(t) {
		b, err := Write(p, FormatCloudFormation)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl struct {
			Resources map[string]struct {
				Type       string
				Properties struct {
					Name, Type, Content string
					TargetIds           []string
				}
			}
		}
		if err := json.Unmarshal(b, &tmpl); err != nil {
			t.Fatalf("Got(cloudformation) not JSON: %v\n%s", err, b)
		}
		if len(tmpl.Resources) != len(p.Policies) {
			t.Errorf("Got(%d resources); want %d", len(tmpl.Resources), len(p.Policies))
		}
		byName := map[string]Policy{}
		for _, pol := range p.Policies {
			byName[pol.Name] = pol
		}
		for id, r := range tmpl.Resources {
			pol := byName[r.Properties.Name]
			if r.Type != "AWS::Organizations::Policy" || r.Properties.Type != "SERVICE_CONTROL_POLICY" || r.Properties.Content != pol.Content || !slices.Equal(r.Properties.TargetIds, pol.Targets) {
				t.Errorf("Got(resource %s) = %+v; want policy %s with its content and targets", id, r, pol.Name)
			}
			grammar[fmt.Sprintf("Grammar%d%s", i, id)] = map[string]any{"Type": "AWS::IAM::ManagedPolicy",
				"Properties": map[string]any{"PolicyDocument": json.RawMessage(r.Properties.Content)}}
		}
		path := filepath.Join(dir, fmt.Sprintf("plan%d.template.json", i))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		files, err := Files(p, FormatCloudFormation)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files[1:] {
			path := filepath.Join(dir, fmt.Sprintf("plan%d-%s", i, f.Name))
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
		}
	}
	g, _ := json.Marshal(map[string]any{"AWSTemplateFormatVersion": "2010-09-09", "Resources": grammar})
	gpath := filepath.Join(dir, "grammar.template.json")
	if err := os.WriteFile(gpath, g, 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, gpath)
	if out, err := exec.Command(lint, paths...).CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
	// Guard against a linter that accepts anything.
	bad := bytes.ReplaceAll(g, []byte(`"Effect":"Deny"`), []byte(`"Effect":"Refuse"`))
	if err := os.WriteFile(gpath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lint, gpath).CombinedOutput(); err == nil {
		t.Fatalf("Got(cfn-lint on a broken policy) = success; want a failure\n%s", out)
	}
}

// TestTerraformParses reads the terraform output with HashiCorp's HCL
// parser and checks what the AWS provider requires: aws_organizations_policy
// with name, content and type SERVICE_CONTROL_POLICY;
// aws_organizations_policy_attachment with policy_id (a reference to one of
// the policies) and target_id. Content and targets, evaluated, must be the
// plan's.
func TestTerraformParses(t *testing.T) {
	for _, p := range samplePlans(t) {
		b, err := Write(p, FormatTerraform)
		if err != nil {
			t.Fatal(err)
		}
		checkTerraform(t, p, p.Policies, b)
		files, _ := Files(p, FormatTerraform)
		if len(files) != len(p.Policies)+1 {
			t.Fatalf("Got(%d files); want plan.json and one per policy", len(files))
		}
		for i, f := range files[1:] {
			if f.Name != p.Policies[i].Name+".tf" {
				t.Errorf("Got(file %q); want %s.tf", f.Name, p.Policies[i].Name)
			}
			checkTerraform(t, p, p.Policies[i:i+1], f.Data)
		}
	}
}

func checkTerraform(t *testing.T, p *Plan, policies []Policy, src []byte) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "plan.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("Got(HCL parse) = %v\n%s", diags, src)
	}
	body := f.Body.(*hclsyntax.Body)
	type res struct{ content, name, typ string }
	pols := map[string]res{}
	attached := map[string][]string{} // resource name -> targets
	str := func(b *hclsyntax.Block, name string) string {
		a, ok := b.Body.Attributes[name]
		if !ok {
			t.Errorf("Got(%s %s) without %s; want it (the provider requires it)", b.Labels[0], b.Labels[1], name)
			return ""
		}
		v, d := a.Expr.Value(nil)
		if d.HasErrors() || !v.Type().Equals(v.Type()) || v.Type().FriendlyName() != "string" {
			t.Errorf("Got(%s.%s) = %v (%v); want a literal string", b.Labels[1], name, v, d)
			return ""
		}
		return v.AsString()
	}
	for _, b := range body.Blocks {
		if b.Type != "resource" || len(b.Labels) != 2 {
			t.Errorf("Got(block %s %v); want resource blocks only", b.Type, b.Labels)
			continue
		}
		switch b.Labels[0] {
		case "aws_organizations_policy":
			pols[b.Labels[1]] = res{content: str(b, "content"), name: str(b, "name"), typ: str(b, "type")}
		case "aws_organizations_policy_attachment":
			a, ok := b.Body.Attributes["policy_id"]
			if !ok {
				t.Errorf("Got(attachment %s) without policy_id", b.Labels[1])
				continue
			}
			tr := a.Expr.(*hclsyntax.ScopeTraversalExpr).Traversal
			if len(tr) != 3 || tr.RootName() != "aws_organizations_policy" || tr[2].(hcl.TraverseAttr).Name != "id" {
				t.Errorf("Got(policy_id of %s) = %v; want aws_organizations_policy.NAME.id", b.Labels[1], tr)
				continue
			}
			ref := tr[1].(hcl.TraverseAttr).Name
			attached[ref] = append(attached[ref], str(b, "target_id"))
		default:
			t.Errorf("Got(resource type %s)", b.Labels[0])
		}
	}
	if len(pols) != len(policies) {
		t.Errorf("Got(%d policies); want %d", len(pols), len(policies))
	}
	for _, pol := range policies {
		id := identifier(pol.Name)
		r, ok := pols[id]
		if !ok {
			t.Errorf("Got(no resource for %s)", pol.Name)
			continue
		}
		if r.content != pol.Content || r.name != pol.Name || r.typ != "SERVICE_CONTROL_POLICY" {
			t.Errorf("Got(%s) = name %q type %q content %q; want the plan's", id, r.name, r.typ, r.content)
		}
		if !slices.Equal(attached[id], pol.Targets) {
			t.Errorf("Got(targets of %s) = %v; want %v", id, attached[id], pol.Targets)
		}
	}
	for ref := range attached {
		if _, ok := pols[ref]; !ok {
			t.Errorf("Got(attachment to %s); want a reference to a policy of the file", ref)
		}
	}
}

func TestHCLStringKeepsTemplateSequencesLiteral(t *testing.T) {
	for _, s := range []string{`{"a":"${x}"}`, `%{ if }`, `back\slash "q"`, "tab\tnl\n", "$$ {", "%"} {
		src := "x = " + hclString(s) + "\n"
		f, d := hclsyntax.ParseConfig([]byte(src), "x.tf", hcl.InitialPos)
		if d.HasErrors() {
			t.Fatalf("Got(parse %s) = %v", src, d)
		}
		v, d := f.Body.(*hclsyntax.Body).Attributes["x"].Expr.Value(nil)
		if d.HasErrors() || v.AsString() != s {
			t.Errorf("Got(%s) = %q (%v); want %q", src, v.AsString(), d, s)
		}
	}
}

func TestWriteRejectsUnknownFormats(t *testing.T) {
	p := &Plan{}
	if _, err := Write(p, "yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("Got(Write yaml) = %v; want an error naming it", err)
	}
	if _, err := Files(p, "pulumi"); err == nil {
		t.Error("Got(Files pulumi) = nil error")
	}
}

func TestPlanJSONShape(t *testing.T) {
	p := samplePlans(t)[2]
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(p.JSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 2 || doc["policies"] == nil || doc["stopped"] == nil {
		t.Fatalf("Got(plan.json keys) = %v; want policies and stopped", doc)
	}
	var pols []map[string]json.RawMessage
	json.Unmarshal(doc["policies"], &pols)
	for _, pol := range pols {
		var keys []string
		for k := range pol {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if want := []string{"content", "name", "replaces", "services", "strategy", "targets"}; !slices.Equal(keys, want) {
			t.Errorf("Got(policy keys) = %v; want %v", keys, want)
		}
		if string(pol["strategy"]) != `"allow"` || strings.Join(strings.Fields(string(pol["replaces"])), "") != `["p-FullAWSAccess"]` {
			t.Errorf("Got(policy) strategy %s replaces %s; want allow replacing FullAWSAccess", pol["strategy"], pol["replaces"])
		}
	}
}

// awsEnv is the environment of AWS CLI calls against endpoint, and
// nothing of the developer's own configuration.
func awsEnv(t *testing.T, endpoint string) []string {
	home := t.TempDir()
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
}

// TestCLICommandsAgainstMoto builds an organization in moto_server,
// plans on it, EXECUTES the cli output with the real AWS CLI, and reads the
// attachments back with ListPoliciesForTarget (the Go SDK, an independent
// client): every target holds exactly what it held, minus what allow-lists
// replace, plus the plan's policies, with the plan's documents. A deny plan
// of the whole organization is applied first, then an allow plan of one OU
// on top.
func TestCLICommandsAgainstMoto(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aws CLI not found")
		}
		t.Skip("aws CLI not installed")
	}
	url := motoserver.Start(t)
	env := awsEnv(t, url)
	ctx := context.Background()
	c := organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	created, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	must(err)
	orgID := aws.ToString(created.Organization.Id)
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	must(err)
	root := aws.ToString(roots.Roots[0].Id)
	_, err = c.EnablePolicyType(ctx, &organizations.EnablePolicyTypeInput{RootId: aws.String(root), PolicyType: orgtypes.PolicyTypeServiceControlPolicy})
	must(err)
	mkOU := func(parent, name string) string {
		out, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
		must(err)
		return aws.ToString(out.OrganizationalUnit.Id)
	}
	mkAccount := func(parent, name string) string {
		out, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String(name + "@example.com"), AccountName: aws.String(name)})
		must(err)
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		_, err = c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(root), DestinationParentId: aws.String(parent)})
		must(err)
		return id
	}
	workloads := mkOU(root, "Workloads")
	prod := mkOU(workloads, "Prod")
	sandbox := mkOU(root, "Sandbox")
	a1, a2, a3 := mkAccount(prod, "payments"), mkAccount(workloads, "shared"), mkAccount(sandbox, "dev")

	listed := realServices(80)
	path := func(parts ...string) string { return orgID + "/" + strings.Join(parts, "/") }
	used := map[string][]string{
		a1: listed[:4], a2: listed[2:6], a3: listed[10:14],
	}
	union := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, used[id]...)
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	nodes := []Node{
		{ID: root, Type: reportdoc.TypeRoot, Name: "Root", Path: path(root), Used: union(a1, a2, a3)},
		{ID: workloads, Type: reportdoc.TypeOU, Name: "Workloads", Path: path(root, workloads), Used: union(a1, a2)},
		{ID: prod, Type: reportdoc.TypeOU, Name: "Prod", Path: path(root, workloads, prod), Used: union(a1)},
		{ID: sandbox, Type: reportdoc.TypeOU, Name: "Sandbox", Path: path(root, sandbox), Used: union(a3)},
		{ID: a1, Type: reportdoc.TypeAccount, Name: "payments", Path: path(root, workloads, prod, a1), Used: used[a1]},
		{ID: a2, Type: reportdoc.TypeAccount, Name: "shared", Path: path(root, workloads, a2), Used: used[a2]},
		{ID: a3, Type: reportdoc.TypeAccount, Name: "dev", Path: path(root, sandbox, a3), Used: used[a3]},
	}
	// readBack lists each target's SCPs, by name, and records their ids
	// as the nodes' attachments for the next plan.
	readBack := func() map[string][]string {
		out := map[string][]string{}
		for i := range nodes {
			nodes[i].Reported, nodes[i].Listed = true, listed
			got, err := c.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(nodes[i].ID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
			must(err)
			var names, ids []string
			for _, p := range got.Policies {
				names = append(names, aws.ToString(p.Name))
				ids = append(ids, aws.ToString(p.Id))
			}
			sort.Strings(names)
			nodes[i].Attached = ids
			out[nodes[i].ID] = names
		}
		return out
	}
	dir := t.TempDir()
	before := readBack()
	for _, step := range []struct {
		name string
		in   Input
	}{
		{"deny", Input{Strategy: Deny, ExemptPrincipals: []string{"arn:aws:iam::*:role/BreakGlass"}}},
		{"allow", Input{Strategy: Allow, Target: "Workloads"}},
	} {
		in := step.in
		in.Nodes, in.AttachmentsKnown = nodes, true
		p := mustMake(t, in)
		if len(p.Policies) == 0 {
			t.Fatalf("%s: empty plan", step.name)
		}
		script, err := Write(p, FormatCLI)
		must(err)
		sh := filepath.Join(dir, step.name+".sh")
		must(os.WriteFile(sh, script, 0o755))
		cmd := exec.Command("sh", sh)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: sh %s: %v\n%s\n--- script ---\n%s", step.name, sh, err, out, script)
		}
		after := readBack()
		for _, n := range nodes {
			want := slices.Clone(before[n.ID])
			for _, pol := range p.Policies {
				if !slices.Contains(pol.Targets, n.ID) {
					continue
				}
				want = append(want, pol.Name)
				if slices.Contains(pol.Replaces, FullAWSAccess) {
					want = slices.DeleteFunc(want, func(s string) bool { return s == "FullAWSAccess" })
				}
			}
			sort.Strings(want)
			want = slices.Compact(want)
			if !slices.Equal(after[n.ID], want) {
				t.Errorf("%s: Got(ListPoliciesForTarget %s) = %v; want %v", step.name, n.ID, after[n.ID], want)
			}
		}
		// The documents moto holds are the plan's.
		list, err := c.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
		must(err)
		ids := map[string]string{}
		for _, x := range list.Policies {
			ids[aws.ToString(x.Name)] = aws.ToString(x.Id)
		}
		for _, pol := range p.Policies {
			d, err := c.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(ids[pol.Name])})
			must(err)
			if got := aws.ToString(d.Policy.Content); got != pol.Content {
				t.Errorf("%s: Got(content of %s) = %s; want %s", step.name, pol.Name, got, pol.Content)
			}
		}
		before = after
	}
}
