package sim_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// An SCP document as a user might write it: indented, a Deny of a whole
// service and a partial one.
const denyGameLift = `{
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NoGames", "Effect": "Deny", "Action": ["gamelift:*"], "Resource": "*"},
        {"Sid": "NoReservations", "Effect": "Deny", "Action": "ec2:PurchaseReserved*", "Resource": "*"}
    ]
}`

// scpOrg is the generated test organization with denyGameLift attached
// to the first OU under the root.
func scpOrg(t *testing.T) (*orgmodel.Org, string) {
	t.Helper()
	org := testOrg(t)
	ou := org.ChildOUs(org.Root.ID)[0]
	if err := org.AttachPolicy(ou, orgmodel.Policy{ID: "p-denygames", Name: "DenyGames", Content: denyGameLift}); err != nil {
		t.Fatalf("AttachPolicy(%s) = %v", ou, err)
	}
	return org, ou
}

func TestDescribePolicyDocuments(t *testing.T) {
	org, ou := scpOrg(t)
	_, url := startSim(t, sim.Options{Org: org})
	ctx := testCtx(t)
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))

	// The document comes back byte for byte, white space included.
	out, err := client.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String("p-denygames")})
	if err != nil {
		t.Fatalf("DescribePolicy(p-denygames) = %v", err)
	}
	if got := aws.ToString(out.Policy.Content); got != denyGameLift {
		t.Errorf("Got(DescribePolicy(p-denygames).Content) = %q; want %q", got, denyGameLift)
	}
	if s := out.Policy.PolicySummary; aws.ToString(s.Name) != "DenyGames" || s.AwsManaged || s.Type != orgtypes.PolicyTypeServiceControlPolicy {
		t.Errorf("Got(PolicySummary) = %+v; want DenyGames, customer managed, an SCP", s)
	}
	// Every policy's Content is the model's text: FullAWSAccess's
	// document, the allow-lists' expansions, the generated deny SCPs.
	for _, p := range org.ListPolicies() {
		out, err := client.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(p.ID)})
		if err != nil {
			t.Fatalf("DescribePolicy(%s) = %v", p.ID, err)
		}
		if got := aws.ToString(out.Policy.Content); got != p.Text() {
			t.Errorf("Got(DescribePolicy(%s).Content) = %q; want %q", p.ID, got, p.Text())
		}
	}
	full, err := client.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(orgmodel.FullAWSAccessID)})
	if err != nil {
		t.Fatalf("DescribePolicy(FullAWSAccess) = %v", err)
	}
	if want := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": \"*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}"; aws.ToString(full.Policy.Content) != want {
		t.Errorf("Got(FullAWSAccess Content) = %q; want %q", aws.ToString(full.Policy.Content), want)
	}

	// The attachment shows on both sides.
	pt, err := client.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(ou), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	if err != nil {
		t.Fatalf("ListPoliciesForTarget(%s) = %v", ou, err)
	}
	if !slices.ContainsFunc(pt.Policies, func(p orgtypes.PolicySummary) bool { return aws.ToString(p.Id) == "p-denygames" }) {
		t.Errorf("Got(ListPoliciesForTarget(%s)) without p-denygames", ou)
	}
	tp, err := client.ListTargetsForPolicy(ctx, &organizations.ListTargetsForPolicyInput{PolicyId: aws.String("p-denygames")})
	if err != nil {
		t.Fatalf("ListTargetsForPolicy(p-denygames) = %v", err)
	}
	if len(tp.Targets) != 1 || aws.ToString(tp.Targets[0].TargetId) != ou || tp.Targets[0].Type != orgtypes.TargetTypeOrganizationalUnit {
		t.Errorf("Got(ListTargetsForPolicy(p-denygames)) = %+v; want the OU %s", tp.Targets, ou)
	}
	var listed []string
	pp := organizations.NewListPoliciesPaginator(client, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPolicies() = %v", err)
		}
		for _, p := range page.Policies {
			listed = append(listed, aws.ToString(p.Id))
		}
	}
	if len(listed) != len(org.ListPolicies()) || !slices.Contains(listed, "p-denygames") {
		t.Errorf("Got(ListPolicies) = %d policies; want %d with p-denygames", len(listed), len(org.ListPolicies()))
	}
}

// fullReport generates a report and returns every row of it once the
// job completed.
func fullReport(ctx context.Context, t *testing.T, client *iam.Client, path, policyID string) *iam.GetOrganizationsAccessReportOutput {
	t.Helper()
	in := &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(path)}
	if policyID != "" {
		in.OrganizationsPolicyId = aws.String(policyID)
	}
	gen, err := client.GenerateOrganizationsAccessReport(ctx, in)
	if err != nil {
		t.Fatalf("GenerateOrganizationsAccessReport(%s, %q) = %v", path, policyID, err)
	}
	var all *iam.GetOrganizationsAccessReportOutput
	var marker *string
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, err := client.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: gen.JobId, MaxItems: aws.Int32(1000), Marker: marker})
		if err != nil {
			t.Fatalf("GetOrganizationsAccessReport(%s) = %v", path, err)
		}
		if out.JobStatus == iamtypes.JobStatusTypeInProgress {
			if time.Now().After(deadline) {
				t.Fatalf("Got(report of %s) still IN_PROGRESS", path)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if out.JobStatus != iamtypes.JobStatusTypeCompleted {
			t.Fatalf("Got(report of %s) = %s; want COMPLETED", path, out.JobStatus)
		}
		if all == nil {
			all = out
		} else {
			all.AccessDetails = append(all.AccessDetails, out.AccessDetails...)
		}
		if !out.IsTruncated {
			return all
		}
		marker = out.Marker
	}
}

func namespaces(out *iam.GetOrganizationsAccessReportOutput) []string {
	var ns []string
	for _, d := range out.AccessDetails {
		ns = append(ns, aws.ToString(d.ServiceNamespace))
	}
	return ns
}

// TestReportsWithDenySCPs asks IAM, over HTTP with the SDK, for reports
// below a whole-service Deny and for policies with Denies.
func TestReportsWithDenySCPs(t *testing.T) {
	org, ou := scpOrg(t)
	if err := org.AddPolicy(orgmodel.Policy{ID: "p-denyonly01", Name: "DenyOnly",
		Content: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`}); err != nil {
		t.Fatalf("AddPolicy(deny only) = %v", err)
	}
	if err := org.AttachPolicy(ou, orgmodel.Policy{ID: "p-allowabove", Name: "AllowCore", Allow: []string{"s3", "sts"}}); err != nil {
		t.Fatalf("AttachPolicy(%s, allow-list) = %v", ou, err)
	}
	_, url := startSim(t, sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.001, MaxJobs: 10}})
	ctx := testCtx(t)
	client := iam.NewFromConfig(awsConfig(url, "test", "test", "", true))
	rootPath := org.ID + "/" + org.Root.ID
	n, _ := org.Node(ou)

	// Below the Deny, gamelift is gone and ec2 (only partly denied) stays.
	below := org.AccountsUnder(ou)
	if len(below) == 0 {
		t.Fatalf("Got(accounts under %s) = none; want some", ou)
	}
	acct, _ := org.Node(below[0])
	for _, path := range []string{n.Path, acct.Path} {
		got := namespaces(fullReport(ctx, t, client, path, ""))
		if slices.Contains(got, "gamelift") || !slices.Contains(got, "ec2") || !slices.Contains(got, "gameliftstreams") {
			t.Errorf("Got(report of %s) gamelift listed or ec2/gameliftstreams missing; want gamelift alone removed", path)
		}
		last := path[strings.LastIndexByte(path, '/')+1:]
		if want := org.AllowedServices(last); !slices.Equal(got, want) {
			t.Errorf("Got(report of %s) = %d services; want the model's %d", path, len(got), len(want))
		}
	}
	if got := namespaces(fullReport(ctx, t, client, rootPath, "")); !slices.Contains(got, "gamelift") {
		t.Errorf("Got(root report) without gamelift; want the OU's Deny not to reach the root")
	}

	// A report for the Deny SCP lists what it makes accessible: nothing.
	for _, id := range []string{"p-denyonly01", "p-denygames"} {
		r := fullReport(ctx, t, client, rootPath, id)
		if len(r.AccessDetails) != 0 || aws.ToInt32(r.NumberOfServicesAccessible) != 0 || aws.ToInt32(r.NumberOfServicesNotAccessed) != 0 {
			t.Errorf("Got(report for %s) = %d services, %d/%d; want none, 0/0", id, len(r.AccessDetails),
				aws.ToInt32(r.NumberOfServicesAccessible), aws.ToInt32(r.NumberOfServicesNotAccessed))
		}
	}

	// A policy attached to the OU only: a report of an account below it
	// for that policy lists the policy's services with no data; of the
	// OU, with the OU's data.
	r := fullReport(ctx, t, client, acct.Path, "p-allowabove")
	if got := namespaces(r); !slices.Equal(got, []string{"s3", "sts"}) {
		t.Fatalf("Got(report of %s for p-allowabove) = %v; want [s3 sts]", acct.Path, got)
	}
	for _, d := range r.AccessDetails {
		if aws.ToInt32(d.TotalAuthenticatedEntities) != 0 || d.LastAuthenticatedTime != nil {
			t.Errorf("Got(report of %s for p-allowabove) %s with data; want none (the SCP is attached above)", acct.Path, aws.ToString(d.ServiceNamespace))
		}
	}
	want, err := org.AccessReport(n.Path, "p-allowabove")
	if err != nil {
		t.Fatalf("AccessReport(%s, p-allowabove) = %v", n.Path, err)
	}
	r = fullReport(ctx, t, client, n.Path, "p-allowabove")
	for i, d := range r.AccessDetails {
		if w := want.Services[i]; aws.ToInt32(d.TotalAuthenticatedEntities) != int32(w.TotalAuthenticatedEntities) {
			t.Errorf("Got(report of %s for p-allowabove) %s used by %d; want %d", n.Path, w.Namespace, aws.ToInt32(d.TotalAuthenticatedEntities), w.TotalAuthenticatedEntities)
		}
		if w := want.Services[i]; w.Namespace == "sts" && w.TotalAuthenticatedEntities == 0 {
			t.Errorf("Got(model report of %s for p-allowabove) sts unused; want the OU's accounts as data", n.Path)
		}
	}
}

func TestAWSCLIDescribePolicy(t *testing.T) {
	org, _ := scpOrg(t)
	s, err := sim.New(sim.Options{Org: org})
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	cli := newAWSCLI(t, s)
	var out struct {
		Policy struct {
			PolicySummary struct{ ID, Name, Type string }
			Content       string
		}
	}
	decodeJSON(t, cli.run(nil, "organizations", "describe-policy", "--policy-id", "p-denygames"), &out)
	if out.Policy.Content != denyGameLift || out.Policy.PolicySummary.Name != "DenyGames" || out.Policy.PolicySummary.Type != "SERVICE_CONTROL_POLICY" {
		t.Errorf("Got(describe-policy p-denygames) = %+v; want DenyGames with its document byte for byte", out.Policy)
	}
}
