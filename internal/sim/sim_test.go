package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// testOrg is the organization most tests walk: big enough that every list
// needs several pages.
func testOrg(t *testing.T) *orgmodel.Org {
	t.Helper()
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 40, Accounts: 300, Depth: 4, Seed: 1})
	if err != nil {
		t.Fatalf("Generate() = %v", err)
	}
	return org
}

func testOrgB() (*orgmodel.Org, error) {
	return orgmodel.Generate(orgmodel.GenerateOptions{OUs: 40, Accounts: 300, Depth: 4, Seed: 1})
}

func startSimB(b *testing.B, opts sim.Options) (*sim.Simulator, string) {
	b.Helper()
	s, err := sim.New(opts)
	if err != nil {
		b.Fatalf("sim.New() = %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	return s, srv.URL
}

// startSim serves a simulator for opts on a loopback httptest server.
func startSim(t *testing.T, opts sim.Options) (*sim.Simulator, string) {
	t.Helper()
	if opts.Org == nil {
		opts.Org = testOrg(t)
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// awsConfig is what a client of the simulator configures: a static key,
// us-east-1, the endpoint; retries off unless retry is set.
func awsConfig(endpoint, akid, secret, token string, retry bool) aws.Config {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, token),
		BaseEndpoint: aws.String(endpoint),
	}
	if !retry {
		cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	}
	return cfg
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiError returns err's AWS error code and HTTP status.
func apiError(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		return "", 200
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error", err)
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func TestOrganizationsWalkMatchesModel(t *testing.T) {
	s, url := startSim(t, sim.Options{})
	org := s.Org()
	ctx := testCtx(t)
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))

	desc, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatalf("DescribeOrganization() = %v", err)
	}
	if got := aws.ToString(desc.Organization.Id); got != org.ID {
		t.Errorf("Got(Organization.Id) = %q; want %q", got, org.ID)
	}
	if got, want := aws.ToString(desc.Organization.MasterAccountId), org.ManagementAccountID; got != want {
		t.Errorf("Got(MasterAccountId) = %q; want %q", got, want)
	}

	roots, err := client.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatalf("ListRoots() = %v", err)
	}
	if len(roots.Roots) != 1 || aws.ToString(roots.Roots[0].Id) != org.Root.ID {
		t.Fatalf("Got(ListRoots) = %+v; want the root %s", roots.Roots, org.Root.ID)
	}
	if pt := roots.Roots[0].PolicyTypes; len(pt) != 1 || pt[0].Type != orgtypes.PolicyTypeServiceControlPolicy || pt[0].Status != orgtypes.PolicyTypeStatusEnabled {
		t.Errorf("Got(Root.PolicyTypes) = %+v; want SCP ENABLED", pt)
	}
	if got, want := aws.ToString(roots.Roots[0].Arn), "arn:aws:organizations::"+org.ManagementAccountID+":root/"+org.ID+"/"+org.Root.ID; got != want {
		t.Errorf("Got(Root.Arn) = %q; want %q", got, want)
	}

	// Walk the tree with the SDK's paginators, small pages to cross many
	// page boundaries, and check every answer against the model.
	var ous, accounts, pages int
	var walk func(parent string)
	walk = func(parent string) {
		p := organizations.NewListOrganizationalUnitsForParentPaginator(client, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent), MaxResults: aws.Int32(3)})
		var childOUs []string
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListOrganizationalUnitsForParent(%s) = %v", parent, err)
			}
			pages++
			for _, ou := range out.OrganizationalUnits {
				n, ok := org.Node(aws.ToString(ou.Id))
				if !ok || n.Name != aws.ToString(ou.Name) || n.ParentID != parent {
					t.Errorf("Got(OU) = %s %q under %s; not in the model", aws.ToString(ou.Id), aws.ToString(ou.Name), parent)
				}
				childOUs = append(childOUs, aws.ToString(ou.Id))
			}
		}
		if got, want := len(childOUs), len(org.ChildOUs(parent)); got != want {
			t.Errorf("Got(len(OUs under %q)) = %d; want %d", parent, got, want)
		}
		ap := organizations.NewListAccountsForParentPaginator(client, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent), MaxResults: aws.Int32(7)})
		n := 0
		for ap.HasMorePages() {
			out, err := ap.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListAccountsForParent(%s) = %v", parent, err)
			}
			for _, a := range out.Accounts {
				if a.JoinedTimestamp == nil || a.JoinedTimestamp.IsZero() || a.Status != orgtypes.AccountStatusActive && a.Status != orgtypes.AccountStatusSuspended {
					t.Errorf("Got(Account %s) = joined %v status %q; want a join time and a status", aws.ToString(a.Id), a.JoinedTimestamp, a.Status)
				}
			}
			n += len(out.Accounts)
		}
		if want := len(org.ChildAccounts(parent)); n != want {
			t.Errorf("Got(len(accounts under %q)) = %d; want %d", parent, n, want)
		}
		for _, typ := range []orgtypes.ChildType{orgtypes.ChildTypeAccount, orgtypes.ChildTypeOrganizationalUnit} {
			cp := organizations.NewListChildrenPaginator(client, &organizations.ListChildrenInput{ParentId: aws.String(parent), ChildType: typ})
			c := 0
			for cp.HasMorePages() {
				out, err := cp.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListChildren(%s, %s) = %v", parent, typ, err)
				}
				c += len(out.Children)
			}
			want := len(org.ChildAccounts(parent))
			if typ == orgtypes.ChildTypeOrganizationalUnit {
				want = len(org.ChildOUs(parent))
			}
			if c != want {
				t.Errorf("Got(len(ListChildren(%q, %s))) = %d; want %d", parent, typ, c, want)
			}
		}
		ous += len(childOUs)
		accounts += n
		for _, c := range childOUs {
			walk(c)
		}
	}
	walk(org.Root.ID)
	if ous != len(org.OUs) {
		t.Errorf("Got(OUs walked) = %d; want %d", ous, len(org.OUs))
	}
	if accounts != len(org.Accounts) {
		t.Errorf("Got(accounts walked) = %d; want %d", accounts, len(org.Accounts))
	}
	t.Logf("walked %d OUs and %d accounts in %d OU pages", ous, accounts, pages)

	lp := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{})
	n := 0
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListAccounts() = %v", err)
		}
		if lp.HasMorePages() && len(out.Accounts) != 20 {
			t.Errorf("Got(len(ListAccounts page)) = %d; want the default page of %d", len(out.Accounts), 20)
		}
		n += len(out.Accounts)
	}
	if n != len(org.Accounts) {
		t.Errorf("Got(len(ListAccounts)) = %d; want %d", n, len(org.Accounts))
	}

	// Parents, descriptions.
	for _, ou := range org.OUs[:5] {
		out, err := client.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(ou.ID)})
		if err != nil {
			t.Fatalf("ListParents(%s) = %v", ou.ID, err)
		}
		if len(out.Parents) != 1 || aws.ToString(out.Parents[0].Id) != ou.ParentID {
			t.Errorf("Got(ListParents(%s)) = %+v; want %s", ou.ID, out.Parents, ou.ParentID)
		}
		d, err := client.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(ou.ID)})
		if err != nil {
			t.Fatalf("DescribeOrganizationalUnit(%s) = %v", ou.ID, err)
		}
		if got, want := aws.ToString(d.OrganizationalUnit.Arn), "arn:aws:organizations::"+org.ManagementAccountID+":ou/"+org.ID+"/"+ou.ID; got != want {
			t.Errorf("Got(OU.Arn) = %q; want %q", got, want)
		}
	}
	acct := org.Accounts[len(org.Accounts)-1]
	da, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(acct.ID)})
	if err != nil {
		t.Fatalf("DescribeAccount(%s) = %v", acct.ID, err)
	}
	if aws.ToString(da.Account.Email) != acct.Email || !da.Account.JoinedTimestamp.Equal(acct.Joined.Truncate(time.Millisecond)) {
		t.Errorf("Got(DescribeAccount) = %s joined %v; want %s joined %v", aws.ToString(da.Account.Email), da.Account.JoinedTimestamp, acct.Email, acct.Joined)
	}
	parents, err := client.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(acct.ID)})
	if err != nil || len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != acct.ParentID {
		t.Errorf("Got(ListParents(%s)) = %v, %v; want %s", acct.ID, parents, err, acct.ParentID)
	}

	// Policies: the list, where each is attached, and the attachments of
	// every target.
	pp := organizations.NewListPoliciesPaginator(client, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy, MaxResults: aws.Int32(2)})
	var policies []orgtypes.PolicySummary
	for pp.HasMorePages() {
		out, err := pp.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPolicies() = %v", err)
		}
		policies = append(policies, out.Policies...)
	}
	if len(policies) != len(org.Policies) {
		t.Fatalf("Got(len(ListPolicies)) = %d; want %d", len(policies), len(org.Policies))
	}
	attachments := 0
	for _, p := range policies {
		id := aws.ToString(p.Id)
		tp := organizations.NewListTargetsForPolicyPaginator(client, &organizations.ListTargetsForPolicyInput{PolicyId: p.Id})
		n := 0
		for tp.HasMorePages() {
			out, err := tp.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListTargetsForPolicy(%s) = %v", id, err)
			}
			n += len(out.Targets)
		}
		if want := len(org.TargetsFor(id)); n != want {
			t.Errorf("Got(len(ListTargetsForPolicy(%q))) = %d; want %d", id, n, want)
		}
		attachments += n
		dp, err := client.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: p.Id})
		if err != nil {
			t.Fatalf("DescribePolicy(%s) = %v", id, err)
		}
		var doc struct {
			Version   string
			Statement []struct{ Effect string }
		}
		if err := json.Unmarshal([]byte(aws.ToString(dp.Policy.Content)), &doc); err != nil || doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
			t.Errorf("Got(DescribePolicy(%s).Content) = %q; want a policy document", id, aws.ToString(dp.Policy.Content))
		}
		if p.AwsManaged != (id == orgmodel.FullAWSAccessID) {
			t.Errorf("Got(AwsManaged(%s)) = %v; want %v", id, p.AwsManaged, id == orgmodel.FullAWSAccessID)
		}
	}
	want := 0
	for target, ids := range org.Attachments {
		want += len(ids)
		out, err := client.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(target), Filter: orgtypes.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatalf("ListPoliciesForTarget(%s) = %v", target, err)
		}
		if len(out.Policies) != len(ids) {
			t.Errorf("Got(len(ListPoliciesForTarget(%q))) = %d; want %d", target, len(out.Policies), len(ids))
		}
	}
	if attachments != want {
		t.Errorf("Got(attachments by policy) = %d; want %d", attachments, want)
	}
}

func TestOrganizationsErrors(t *testing.T) {
	s, url := startSim(t, sim.Options{Credentials: []sim.Credential{
		{AccessKeyID: "member", SecretAccessKey: "member-secret", ARN: "arn:aws:iam::" + testOrg(t).Accounts[5].ID + ":user/dev"},
		{AccessKeyID: "outsider", SecretAccessKey: "outsider-secret", ARN: "arn:aws:iam::999999999999:user/stranger"},
	}})
	org := s.Org()
	ctx := testCtx(t)
	admin := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	member := organizations.NewFromConfig(awsConfig(url, "member", "member-secret", "", false))
	outsider := organizations.NewFromConfig(awsConfig(url, "outsider", "outsider-secret", "", false))
	missingOU := "ou-" + org.Root.ID[2:] + "-zzzzzzzz"
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown parent", func() error {
			_, err := admin.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(missingOU)})
			return err
		}, "ParentNotFoundException"},
		{"account as parent", func() error {
			_, err := admin.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(org.ManagementAccountID)})
			return err
		}, "InvalidInputException"},
		{"unknown child", func() error {
			_, err := admin.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("123456789012")})
			return err
		}, "ChildNotFoundException"},
		{"unknown OU", func() error {
			_, err := admin.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(missingOU)})
			return err
		}, "OrganizationalUnitNotFoundException"},
		{"unknown account", func() error {
			_, err := admin.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("123456789012")})
			return err
		}, "AccountNotFoundException"},
		{"unknown policy", func() error {
			_, err := admin.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String("p-zzzzzzzz")})
			return err
		}, "PolicyNotFoundException"},
		{"unknown target", func() error {
			_, err := admin.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String("123456789012"), Filter: orgtypes.PolicyTypeServiceControlPolicy})
			return err
		}, "TargetNotFoundException"},
		{"max results too large", func() error {
			_, err := admin.ListRoots(ctx, &organizations.ListRootsInput{MaxResults: aws.Int32(21)})
			return err
		}, "InvalidInputException"},
		{"tampered next token", func() error {
			_, err := admin.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(org.Root.ID), NextToken: aws.String("AAAAAAAAAAAAAAAAAAAAAAAAMQ")})
			return err
		}, "InvalidInputException"},
		{"bad child type", func() error {
			_, err := admin.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String(org.Root.ID), ChildType: "POLICY"})
			return err
		}, "InvalidInputException"},
		{"member account", func() error {
			_, err := member.ListRoots(ctx, &organizations.ListRootsInput{})
			return err
		}, "AccessDeniedException"},
		{"member may describe the organization", func() error {
			_, err := member.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
			return err
		}, ""},
		{"outside the organization", func() error {
			_, err := outsider.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
			return err
		}, "AWSOrganizationsNotInUseException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, status := apiError(t, tc.call())
			if code != tc.code {
				t.Errorf("Got(code) = %q; want %q", code, tc.code)
			}
			if tc.code != "" && status != http.StatusBadRequest {
				t.Errorf("Got(status) = %d; want %d", status, http.StatusBadRequest)
			}
		})
	}

	// A token from one call is refused by another call.
	out, err := admin.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(org.Root.ID), MaxResults: aws.Int32(1)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("ListAccountsForParent() = %v, %v; want a next token", out, err)
	}
	_, err = admin.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String(org.Root.ID), ChildType: orgtypes.ChildTypeAccount, NextToken: out.NextToken})
	if code, _ := apiError(t, err); code != "InvalidInputException" {
		t.Errorf("Got(code of a token replayed on another call) = %q; want %q", code, "InvalidInputException")
	}
}

func TestThrottling(t *testing.T) {
	// A slow refill, so the second call is throttled however slow the
	// machine.
	_, url := startSim(t, sim.Options{OrgTPS: 0.01, IAMTPS: 0.01})
	ctx := testCtx(t)
	org := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	if _, err := org.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
		t.Fatalf("first ListRoots() = %v", err)
	}
	_, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	code, status := apiError(t, err)
	// Organizations throttles with HTTP 400, not 429 (botocore's retry table).
	if code != "TooManyRequestsException" || status != http.StatusBadRequest {
		t.Errorf("Got(second ListRoots()) = %q %d; want %q %d", code, status, "TooManyRequestsException", http.StatusBadRequest)
	}
	var tmr *orgtypes.TooManyRequestsException
	if !errors.As(err, &tmr) {
		t.Errorf("Got(error type) = %T; want *types.TooManyRequestsException", err)
	}
	// STS is not throttled by the Organizations bucket.
	stsc := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	if _, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity() = %v; want no throttling", err)
	}
	// The SDK's standard retryer treats the answer as throttling and the
	// call succeeds once the bucket refills.
	_, url = startSim(t, sim.Options{OrgTPS: 1})
	cfg := awsConfig(url, "test", "test", "", true)
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 20) }
	retrying := organizations.NewFromConfig(cfg)
	for i := 0; i < 3; i++ {
		if _, err := retrying.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
			t.Errorf("ListRoots() with retries = %v", err)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	_, url := startSim(t, sim.Options{ErrorRate: 0.5, Seed: 7})
	ctx := testCtx(t)
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	stsc := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	statuses := map[int]int{}
	for i := 0; i < 40; i++ {
		var err error
		if i%2 == 0 {
			_, err = client.ListRoots(ctx, &organizations.ListRootsInput{})
		} else {
			_, err = stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}
		code, status := apiError(t, err)
		statuses[status]++
		switch status {
		case 200:
		case 500:
			if code != "InternalFailure" {
				t.Errorf("Got(code of an injected 500) = %q; want %q", code, "InternalFailure")
			}
		case 503:
			if code != "ServiceUnavailable" {
				t.Errorf("Got(code of an injected 503) = %q; want %q", code, "ServiceUnavailable")
			}
		default:
			t.Errorf("Got(status) = %d (%s); want 200, 500 or 503", status, code)
		}
	}
	if statuses[200] == 0 || statuses[500] == 0 || statuses[503] == 0 {
		t.Errorf("Got(statuses) = %v; want some 200, 500 and 503 at an error rate of 0.5", statuses)
	}
	// The standard retryer rides over injected faults.
	cfg := awsConfig(url, "test", "test", "", true)
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 10) }
	retrying := organizations.NewFromConfig(cfg)
	for i := 0; i < 5; i++ {
		if _, err := retrying.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
			t.Errorf("ListRoots() with retries = %v", err)
		}
	}
}

func TestAssumeRoleAndCallerIdentity(t *testing.T) {
	s, url := startSim(t, sim.Options{})
	org := s.Org()
	ctx := testCtx(t)
	admin := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	id, err := admin.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity() = %v", err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:iam::"+org.ManagementAccountID+":user/admin"; got != want {
		t.Errorf("Got(caller Arn) = %q; want %q", got, want)
	}
	member := org.Accounts[10].ID
	roleARN := "arn:aws:iam::" + member + ":role/OrgAuditReport"
	out, err := admin.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("orgaudit")})
	if err != nil {
		t.Fatalf("AssumeRole() = %v", err)
	}
	c := out.Credentials
	if got := aws.ToString(c.AccessKeyId); len(got) != 20 || got[:4] != "ASIA" {
		t.Errorf("Got(AccessKeyId) = %q; want ASIA… of 20 characters", got)
	}
	if d := time.Until(aws.ToTime(c.Expiration)); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("Got(Expiration in) = %v; want about 1h", d)
	}
	wantARN := "arn:aws:sts::" + member + ":assumed-role/OrgAuditReport/orgaudit"
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != wantARN {
		t.Errorf("Got(AssumedRoleUser.Arn) = %q; want %q", got, wantARN)
	}
	session := sts.NewFromConfig(awsConfig(url, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), false))
	id, err = session.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity() with the session = %v", err)
	}
	if aws.ToString(id.Arn) != wantARN || aws.ToString(id.Account) != member || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("Got(session identity) = %s %s %s; want %s %s %s", aws.ToString(id.Arn), aws.ToString(id.Account), aws.ToString(id.UserId), wantARN, member, aws.ToString(out.AssumedRoleUser.AssumedRoleId))
	}

	tests := []struct {
		name   string
		client *sts.Client
		in     sts.AssumeRoleInput
		code   string
		status int
	}{
		{"session name too short", admin, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("x")}, "ValidationError", 400},
		{"session name bad characters", admin, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("a b")}, "ValidationError", 400},
		{"duration too short", admin, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(899)}, "ValidationError", 400},
		{"duration too long", admin, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(43201)}, "ValidationError", 400},
		{"not a role arn", admin, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":user/bob"), RoleSessionName: aws.String("ok")}, "ValidationError", 400},
		{"account outside the organization", admin, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/R"), RoleSessionName: aws.String("ok")}, "AccessDenied", 403},
		{"session assumes a role in another account", session, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + org.ManagementAccountID + ":role/R"), RoleSessionName: aws.String("ok")}, "AccessDenied", 403},
		{"role chaining beyond an hour", session, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/Other"), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(7200)}, "ValidationError", 400},
		{"role chaining in the same account", session, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/Other"), RoleSessionName: aws.String("ok")}, "", 200},
		{"longest duration", admin, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("long"), DurationSeconds: aws.Int32(43200)}, "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.AssumeRole(ctx, &tc.in)
			code, status := apiError(t, err)
			if code != tc.code || status != tc.status {
				t.Errorf("Got(AssumeRole) = %q %d; want %q %d", code, status, tc.code, tc.status)
			}
		})
	}
}

func TestSCPDisabledRoot(t *testing.T) {
	org := testOrg(t)
	org.SCPDisabled = true
	_, url := startSim(t, sim.Options{Org: org})
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	roots, err := client.ListRoots(testCtx(t), &organizations.ListRootsInput{})
	if err != nil {
		t.Fatalf("ListRoots() = %v", err)
	}
	if got := len(roots.Roots[0].PolicyTypes); got != 0 {
		t.Errorf("Got(len(Root.PolicyTypes) with SCPs disabled) = %d; want %d", got, 0)
	}
}

// TestEveryPolicyType lists policies of every PolicyType the SDK's model
// knows: SCPs are there, any other type is an empty list (the calls have no
// PolicyTypeNotEnabledException), and only a value outside the model is
// refused.
func TestEveryPolicyType(t *testing.T) {
	s, url := startSim(t, sim.Options{})
	org := s.Org()
	ctx := testCtx(t)
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	for _, pt := range orgtypes.PolicyType("").Values() {
		all, err := client.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: pt})
		if err != nil {
			t.Errorf("ListPolicies(%s) = %v; want an answer", pt, err)
			continue
		}
		attached, err := client.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(org.Root.ID), Filter: pt})
		if err != nil {
			t.Errorf("ListPoliciesForTarget(root, %s) = %v; want an answer", pt, err)
			continue
		}
		wantAll, wantAttached := 0, 0
		if pt == orgtypes.PolicyTypeServiceControlPolicy {
			wantAll, wantAttached = len(org.Policies), len(org.Attachments[org.Root.ID])
		}
		if len(all.Policies) != wantAll || len(attached.Policies) != wantAttached {
			t.Errorf("Got(%s policies, on the root) = %d, %d; want %d, %d", pt, len(all.Policies), len(attached.Policies), wantAll, wantAttached)
		}
	}
	_, err := client.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: "NO_SUCH_POLICY"})
	if code, status := apiError(t, err); code != "InvalidInputException" || status != http.StatusBadRequest {
		t.Errorf("Got(ListPolicies(NO_SUCH_POLICY)) = %q %d; want InvalidInputException 400", code, status)
	}
}
