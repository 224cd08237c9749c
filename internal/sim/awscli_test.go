package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// awsCLI runs the real AWS CLI against a simulator served by sim.Serve,
// with a clean configuration: only the environment a user of the
// simulator sets (docs/simulator.md).
type awsCLI struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
	dir      string
}

func newAWSCLI(t *testing.T, s *sim.Simulator) *awsCLI {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the aws CLI is not on PATH: %v", err)
		}
		t.Skipf("the aws CLI is not on PATH: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	endpoint, stop, err := sim.Serve(ctx, "127.0.0.1:0", s)
	if err != nil {
		cancel()
		t.Fatalf("Serve() = %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := stop(); err != nil {
			t.Errorf("stop() = %v", err)
		}
	})
	home := t.TempDir()
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOME="+home,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+config,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)
	return &awsCLI{t: t, bin: bin, endpoint: endpoint, env: env, dir: home}
}

// run runs `aws --endpoint-url … args…` with extra environment and
// returns its standard output; a failure is fatal.
func (c *awsCLI) run(extraEnv []string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.try(extraEnv, args...)
	if err != nil {
		c.t.Fatalf("aws %s = %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (c *awsCLI) try(extraEnv []string, args ...string) (string, string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if extraEnv == nil {
		args = append([]string{"--endpoint-url", c.endpoint}, args...)
	}
	cmd := exec.CommandContext(ctx, c.bin, append(args, "--output", "json")...)
	cmd.Env = append(append([]string{}, c.env...), extraEnv...)
	cmd.Dir = c.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

func TestAWSCLIOrganizationsAndSTS(t *testing.T) {
	s, err := sim.New(sim.Options{Org: testOrg(t)})
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	cli := newAWSCLI(t, s)
	org := s.Org()

	var desc struct {
		Organization struct{ ID, MasterAccountID string }
	}
	decodeJSON(t, cli.run(nil, "organizations", "describe-organization"), &desc)
	if desc.Organization.ID != org.ID || desc.Organization.MasterAccountID != org.ManagementAccountID {
		t.Errorf("Got(describe-organization) = %+v; want %s %s", desc.Organization, org.ID, org.ManagementAccountID)
	}

	var roots struct {
		Roots []struct {
			ID          string `json:"Id"`
			PolicyTypes []struct{ Type, Status string }
		}
	}
	decodeJSON(t, cli.run(nil, "organizations", "list-roots"), &roots)
	if len(roots.Roots) != 1 || roots.Roots[0].ID != org.Root.ID || len(roots.Roots[0].PolicyTypes) != 1 {
		t.Errorf("Got(list-roots) = %+v; want root %s with SCPs enabled", roots, org.Root.ID)
	}

	// The CLI follows NextToken itself: --page-size 3 pages through all.
	type ouList struct {
		OrganizationalUnits []struct {
			ID string `json:"Id"`
		}
		NextToken string
	}
	want := len(org.ChildOUs(org.Root.ID))
	var all ouList
	decodeJSON(t, cli.run(nil, "organizations", "list-organizational-units-for-parent", "--parent-id", org.Root.ID, "--page-size", "3"), &all)
	if len(all.OrganizationalUnits) != want {
		t.Errorf("Got(len(OUs with --page-size 3)) = %d; want %d", len(all.OrganizationalUnits), want)
	}
	// --max-items stops early and hands back a token to resume from.
	var first, rest ouList
	decodeJSON(t, cli.run(nil, "organizations", "list-organizational-units-for-parent", "--parent-id", org.Root.ID, "--max-items", "2", "--page-size", "1"), &first)
	if len(first.OrganizationalUnits) != 2 || first.NextToken == "" {
		t.Fatalf("Got(--max-items 2) = %d OUs, token %q; want 2 and a token", len(first.OrganizationalUnits), first.NextToken)
	}
	decodeJSON(t, cli.run(nil, "organizations", "list-organizational-units-for-parent", "--parent-id", org.Root.ID, "--starting-token", first.NextToken), &rest)
	if got := len(first.OrganizationalUnits) + len(rest.OrganizationalUnits); got != want {
		t.Errorf("Got(OUs across --max-items and --starting-token) = %d; want %d", got, want)
	}
	if len(rest.OrganizationalUnits) > 0 && rest.OrganizationalUnits[0].ID == first.OrganizationalUnits[0].ID {
		t.Errorf("Got(first OU after --starting-token) = %s; want the third", rest.OrganizationalUnits[0].ID)
	}

	// An error reaches the CLI with its code.
	_, errOut, err := cli.try(nil, "organizations", "describe-account", "--account-id", "123456789012")
	if err == nil || !strings.Contains(errOut, "AccountNotFoundException") {
		t.Errorf("Got(describe-account of a missing account) = %v %q; want AccountNotFoundException", err, errOut)
	}

	// STS through AWS_ENDPOINT_URL alone, as the docs tell users.
	var id struct{ UserID, Account, Arn string }
	decodeJSON(t, cli.run([]string{"AWS_ENDPOINT_URL=" + cli.endpoint}, "sts", "get-caller-identity"), &id)
	if id.Arn != "arn:aws:iam::"+org.ManagementAccountID+":user/admin" {
		t.Errorf("Got(get-caller-identity Arn) = %q; want the admin user", id.Arn)
	}
	var assumed struct {
		Credentials     struct{ AccessKeyID, SecretAccessKey, SessionToken, Expiration string }
		AssumedRoleUser struct{ Arn string }
	}
	role := "arn:aws:iam::" + org.Accounts[3].ID + ":role/OrgAuditReport"
	decodeJSON(t, cli.run(nil, "sts", "assume-role", "--role-arn", role, "--role-session-name", "cli", "--duration-seconds", "900"), &assumed)
	if want := "arn:aws:sts::" + org.Accounts[3].ID + ":assumed-role/OrgAuditReport/cli"; assumed.AssumedRoleUser.Arn != want {
		t.Errorf("Got(assume-role Arn) = %q; want %q", assumed.AssumedRoleUser.Arn, want)
	}
	// The CLI signs with the session credentials and token.
	decodeJSON(t, cli.run([]string{
		"AWS_ENDPOINT_URL=" + cli.endpoint,
		"AWS_ACCESS_KEY_ID=" + assumed.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + assumed.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + assumed.Credentials.SessionToken,
	}, "sts", "get-caller-identity"), &id)
	if id.Arn != assumed.AssumedRoleUser.Arn {
		t.Errorf("Got(get-caller-identity with the session) = %q; want %q", id.Arn, assumed.AssumedRoleUser.Arn)
	}
}

func TestAWSCLIS3(t *testing.T) {
	s, err := sim.New(sim.Options{Org: testOrg(t), Buckets: []string{"audit"}})
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	cli := newAWSCLI(t, s)
	src := filepath.Join(cli.dir, "report.json")
	if err := os.WriteFile(src, []byte(`{"schemaVersion":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cli.run(nil, "s3api", "put-object", "--bucket", "audit", "--key", "runs/r1/summary.json", "--body", src)
	dst := filepath.Join(cli.dir, "got.json")
	cli.run(nil, "s3api", "get-object", "--bucket", "audit", "--key", "runs/r1/summary.json", dst)
	if b, err := os.ReadFile(dst); err != nil || string(b) != `{"schemaVersion":1}` {
		t.Errorf("Got(get-object body) = %q, %v; want the uploaded document", b, err)
	}
	// High-level `aws s3 cp` (it streams with UNSIGNED-PAYLOAD or chunked
	// signing depending on size) into a key with a space.
	cli.run(nil, "s3", "cp", src, "s3://audit/runs/r1/report copy.json")
	var list struct {
		Contents []struct {
			Key  string
			Size int
		}
	}
	decodeJSON(t, cli.run(nil, "s3api", "list-objects-v2", "--bucket", "audit", "--prefix", "runs/"), &list)
	if len(list.Contents) != 2 || list.Contents[0].Key != "runs/r1/report copy.json" || list.Contents[1].Size != 19 {
		t.Errorf("Got(list-objects-v2) = %+v; want the 2 uploaded objects", list)
	}
	// A URL presigned by the CLI is honoured without credentials.
	url := strings.TrimSpace(cli.run(nil, "s3", "presign", "s3://audit/runs/r1/summary.json", "--expires-in", "60"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s = %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"schemaVersion":1}` {
		t.Errorf("Got(GET presigned URL) = %d %q; want 200 and the document", resp.StatusCode, b)
	}
	for _, tampered := range []string{strings.Replace(url, "Signature=", "Signature=A", 1), strings.Replace(url, "summary.json", "other.json", 1)} {
		resp, err := http.Get(tampered)
		if err != nil {
			t.Fatalf("GET %s = %v", tampered, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>SignatureDoesNotMatch</Code>") {
			t.Errorf("Got(GET tampered presigned URL %s) = %d %s; want 403 SignatureDoesNotMatch", tampered, resp.StatusCode, b)
		}
	}
}

func TestAWSCLIIAMAccessReport(t *testing.T) {
	s, err := sim.New(sim.Options{Org: testOrg(t), IAM: iamreports.Options{TimeScale: 0.001}})
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	cli := newAWSCLI(t, s)
	org := s.Org()
	ou := org.ChildOUs(org.Root.ID)[0]
	path := org.ID + "/" + org.Root.ID + "/" + ou
	var gen struct{ JobID string }
	decodeJSON(t, cli.run(nil, "iam", "generate-organizations-access-report", "--entity-path", path), &gen)
	if gen.JobID == "" {
		t.Fatal("Got(JobId) = \"\"; want a job id")
	}
	var report struct {
		JobStatus                   string
		NumberOfServicesAccessible  int
		NumberOfServicesNotAccessed int
		AccessDetails               []struct{ ServiceNamespace string }
	}
	for i := 0; i < 5; i++ {
		// The CLI has no paginator for this call; one page of 1000 is all.
		decodeJSON(t, cli.run(nil, "iam", "get-organizations-access-report", "--job-id", gen.JobID, "--max-items", "1000"), &report)
		if report.JobStatus != "IN_PROGRESS" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if report.JobStatus != "COMPLETED" || len(report.AccessDetails) == 0 || report.NumberOfServicesAccessible == 0 {
		t.Errorf("Got(report of %s) = %s, %d services, %d accessible; want COMPLETED with services", path, report.JobStatus, len(report.AccessDetails), report.NumberOfServicesAccessible)
	}
	_, errOut, err := cli.try(nil, "iam", "get-organizations-access-report", "--job-id", "00000000-0000-0000-0000-000000000000")
	if err == nil || !strings.Contains(errOut, "NoSuchEntity") {
		t.Errorf("Got(report of an unknown job) = %v %q; want NoSuchEntity", err, errOut)
	}
}

// countsOrg has a quiet OU with no activity under FullAWSAccess, a busy OU
// whose account used two services, and a 3-service SCP attached nowhere.
const countsOrg = `{
  "id": "o-countsorg1", "managementAccountId": "111111111111", "asOf": "2026-11-01T00:00:00Z",
  "root": {"id": "r-cnt1", "name": "Root"},
  "ous": [{"id": "ou-cnt1-quiet000", "name": "Quiet", "parentId": "r-cnt1"},
          {"id": "ou-cnt1-busy0000", "name": "Busy", "parentId": "r-cnt1"}],
  "accounts": [
    {"id": "111111111111", "name": "management", "email": "m@example.com", "parentId": "r-cnt1", "joined": "2020-01-01T00:00:00Z"},
    {"id": "222222222222", "name": "quiet", "email": "q@example.com", "parentId": "ou-cnt1-quiet000", "joined": "2020-01-01T00:00:00Z"},
    {"id": "333333333333", "name": "busy", "email": "b@example.com", "parentId": "ou-cnt1-busy0000", "joined": "2020-01-01T00:00:00Z"}],
  "policies": [
    {"id": "p-FullAWSAccess", "name": "FullAWSAccess", "awsManaged": true, "allow": ["*"]},
    {"id": "p-threesvc1", "name": "Three", "allow": ["ec2", "s3", "sts"]}],
  "attachments": {"r-cnt1": ["p-FullAWSAccess"], "ou-cnt1-quiet000": ["p-FullAWSAccess"], "ou-cnt1-busy0000": ["p-FullAWSAccess"],
    "111111111111": ["p-FullAWSAccess"], "222222222222": ["p-FullAWSAccess"], "333333333333": ["p-FullAWSAccess"]},
  "activity": {"333333333333": {"s3": {"time": "2026-10-01T00:00:00Z", "region": "eu-west-1"},
                                "ec2": {"time": "2026-10-02T00:00:00Z", "region": "eu-west-1"}}}
}`

// TestAWSCLIReportCounts checks, through the AWS CLI, what a full report
// lists and how it counts: NumberOfServicesAccessible is the number of
// services the SCPs allow (every row listed), NumberOfServicesNotAccessed
// those rows with no access; a full report lists the 455 services of IAM's
// own list under IAM's names (read here from the list itself).
func TestAWSCLIReportCounts(t *testing.T) {
	org, err := orgmodel.Load(strings.NewReader(countsOrg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.001, MaxJobs: 10}})
	if err != nil {
		t.Fatalf("sim.New() = %v", err)
	}
	cli := newAWSCLI(t, s)
	iamList := readIAMList(t)
	type detail struct {
		ServiceName, ServiceNamespace, Region, EntityPath, LastAuthenticatedTime string
		TotalAuthenticatedEntities                                               *int
	}
	type report struct {
		JobStatus                   string
		NumberOfServicesAccessible  int
		NumberOfServicesNotAccessed int
		AccessDetails               []detail
	}
	fetch := func(args ...string) report {
		t.Helper()
		var gen struct{ JobID string }
		decodeJSON(t, cli.run(nil, append([]string{"iam", "generate-organizations-access-report"}, args...)...), &gen)
		var r report
		for i := 0; i < 50; i++ {
			r = report{}
			decodeJSON(t, cli.run(nil, "iam", "get-organizations-access-report", "--job-id", gen.JobID, "--max-items", "1000"), &r)
			if r.JobStatus != "IN_PROGRESS" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r.JobStatus != "COMPLETED" {
			t.Fatalf("Got(status of %q) = %s; want COMPLETED", args, r.JobStatus)
		}
		return r
	}
	base := "o-countsorg1/r-cnt1"
	tests := []struct {
		name                string
		args                []string
		listed, notAccessed int
		wantFullListOfNames bool
	}{
		{"OU with no activity", []string{"--entity-path", base + "/ou-cnt1-quiet000"}, 455, 455, true},
		{"OU whose account used two services", []string{"--entity-path", base + "/ou-cnt1-busy0000"}, 455, 453, true},
		{"management account", []string{"--entity-path", base + "/111111111111"}, 455, 455, true},
		{"3-service SCP attached nowhere", []string{"--entity-path", base + "/ou-cnt1-quiet000", "--organizations-policy-id", "p-threesvc1"}, 3, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fetch(tc.args...)
			if len(r.AccessDetails) != tc.listed || r.NumberOfServicesAccessible != tc.listed || r.NumberOfServicesNotAccessed != tc.notAccessed {
				t.Errorf("Got(listed, Accessible, NotAccessed) = %d, %d, %d; want %d, %d, %d",
					len(r.AccessDetails), r.NumberOfServicesAccessible, r.NumberOfServicesNotAccessed, tc.listed, tc.listed, tc.notAccessed)
			}
			unused := 0
			for _, d := range r.AccessDetails {
				if d.LastAuthenticatedTime == "" {
					unused++
					// A never-accessed row: name, namespace, a zero count, and
					// only on iam the Region us-east-1.
					wantRegion := ""
					if d.ServiceNamespace == "iam" {
						wantRegion = "us-east-1"
					}
					if d.TotalAuthenticatedEntities == nil || *d.TotalAuthenticatedEntities != 0 || d.EntityPath != "" || d.Region != wantRegion {
						t.Errorf("Got(never-accessed row %s) = %+v; want a zero count, no path, region %q", d.ServiceNamespace, d, wantRegion)
					}
				}
				if tc.wantFullListOfNames && iamList[d.ServiceNamespace] != d.ServiceName {
					t.Errorf("Got(name of %s) = %q; want IAM's %q", d.ServiceNamespace, d.ServiceName, iamList[d.ServiceNamespace])
				}
			}
			if unused != r.NumberOfServicesNotAccessed {
				t.Errorf("Got(rows without access) = %d; want NumberOfServicesNotAccessed %d", unused, r.NumberOfServicesNotAccessed)
			}
			if tc.wantFullListOfNames && len(r.AccessDetails) != len(iamList) {
				t.Errorf("Got(%d rows); want IAM's %d", len(r.AccessDetails), len(iamList))
			}
		})
	}
}

// readIAMList reads the list of services IAM returned for a full report.
func readIAMList(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../catalog/iam-services.tsv")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		ns, name, _ := strings.Cut(l, "\t")
		out[ns] = name
	}
	if len(out) != 455 {
		t.Fatalf("Got(services in IAM's list) = %d; want 455", len(out))
	}
	return out
}
