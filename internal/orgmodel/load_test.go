package orgmodel_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

func TestLoadSmall(t *testing.T) {
	o := loadSmall(t)
	tests := []struct {
		what      string
		got, want int
	}{
		{"ous", len(o.OUs), 6},
		{"accounts", len(o.Accounts), 10},
		{"policies", len(o.Policies), 6},
		{"accounts under root", len(o.AccountsUnder("r-ab12")), 10},
		{"accounts under Workloads", len(o.AccountsUnder("ou-ab12-workload")), 4},
		{"count under Workloads", o.CountAccountsUnder("ou-ab12-workload"), 4},
		{"count under root", o.CountAccountsUnder("r-ab12"), 10},
		{"count under an account", o.CountAccountsUnder("444444444444"), 1},
		{"child OUs of Workloads", len(o.ChildOUs("ou-ab12-workload")), 2},
		{"targets of p-corebase1", len(o.TargetsFor("p-corebase1")), 3},
		{"targets of p-staging01", len(o.TargetsFor("p-staging01")), 0},
		{"entities", len(o.Entities()), 17},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("Got(%q) = %d; want %d", tc.what, tc.got, tc.want)
		}
	}
	if got := o.Ancestors("444444444444"); strings.Join(got, ",") != "r-ab12,ou-ab12-workload,ou-ab12-prod0001,ou-ab12-payments" {
		t.Errorf("Got(Ancestors(444444444444)) = %v", got)
	}
	if got := strings.Join(o.AllowedServices("ou-ab12-sandbox1"), ","); got != "ec2,lambda,s3,sts" {
		t.Errorf("Got(AllowedServices(Sandbox)) = %s; want ec2,lambda,s3,sts", got)
	}
	if !o.PolicyApplies("p-corebase1", "777777777777") || o.PolicyApplies("p-corebase1", "555555555555") {
		t.Errorf("Got(PolicyApplies(p-corebase1)) wrong for 777777777777 or 555555555555")
	}
}

func TestLoadErrors(t *testing.T) {
	b, err := os.ReadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown field", `"asOf"`, `"asof2": 1, "asOf"`, `unknown field "asof2"`},
		{"bad org id", `"id": "o-a1b2c3d4e5"`, `"id": "o-A1"`, `id "o-A1"`},
		{"bad root id", `"root": {"id": "r-ab12"`, `"root": {"id": "root"`, `root.id "root"`},
		{"bad OU id", `"ou-ab12-security", "name"`, `"ou-security", "name"`, `ous[0].id "ou-security"`},
		{"bad account id", `"id": "222222222222"`, `"id": "22222"`, `accounts[1].id "22222"`},
		{"unknown parent", `"parentId": "ou-ab12-security", "joined": "2018-01-10T09:05:00Z"`, `"parentId": "ou-ab12-nothere1", "joined": "2018-01-10T09:05:00Z"`, `parent "ou-ab12-nothere1"`},
		{"account as parent", `{"id": "ou-ab12-payments", "name": "Payments",  "parentId": "ou-ab12-prod0001"}`, `{"id": "ou-ab12-payments", "name": "Payments",  "parentId": "555555555555"}`, `parent "555555555555" is not the root or an OU`},
		{"parent cycle", `"name": "Workloads", "parentId": "r-ab12"`, `"name": "Workloads", "parentId": "ou-ab12-payments"`, `not reachable`},
		{"management account missing", `"managementAccountId": "111111111111"`, `"managementAccountId": "123456789012"`, `management account "123456789012"`},
		{"unknown namespace in SCP", `"allow": ["ec2", "lambda", "s3", "sts"]`, `"allow": ["ec2", "lambda", "s3", "nosuchservice"]`, `"nosuchservice" is not a service namespace`},
		{"undefined SCP attached", `"ou-ab12-sandbox1": ["p-sandbox01"]`, `"ou-ab12-sandbox1": ["p-sandbox99"]`, `attached policy "p-sandbox99" is not defined`},
		{"six SCPs on a target", `"ou-ab12-sandbox1": ["p-sandbox01"]`, `"ou-ab12-sandbox1": ["p-sandbox01", "p-corebase1", "p-workload1", "p-staging01", "p-FullAWSAccess", "p-sandbox01"]`, `at most 5 SCPs`},
		{"unknown namespace in activity", `"rekognition":`, `"rekog":`, `"rekog" is not a service namespace`},
		{"activity after asOf", `"2026-10-31T23:59:59Z"`, `"2026-11-02T00:00:00Z"`, `is after asOf`},
		{"activity of a non-account", `"activity": {`, `"activity": {"ou-ab12-security": {},`, `activity for "ou-ab12-security", which is not an account`},
		{"trailing data", "\n}\n", "\n}\n{}", `data after the top-level object`},
		{"content and allow", `"name": "StagedGuardrails",`, `"name": "StagedGuardrails", "allow": ["s3"],`, `policies[5] (p-guardrail1): give content or allow, not both`},
		{"neither content nor allow", `"allow": ["athena", "glue", "s3", "sts"]`, `"awsManaged": false`, `policies[4] (p-staging01): content (the SCP document) or allow`},
		{"empty allow", `"allow": ["athena", "glue", "s3", "sts"]`, `"allow": []`, `policies[4] (p-staging01): allow is empty`},
		{"content neither string nor object", `"content": {`, `"content": ["x"], "c2": {`, `want the policy document as a JSON object or a string`},
		{"content refused", `"Effect": "Deny", "NotAction"`, `"Effect": "Deny", "Principal": "*", "NotAction"`, `policy p-guardrail1 (StagedGuardrails): content: Statement[1]: Principal is not allowed in an SCP`},
		{"content string refused", `"allow": ["athena", "glue", "s3", "sts"]`, `"content": "{\"Version\": \"2012-10-17\"}"`, `policy p-staging01 (StagedDataPlatform): content: Statement is missing`},
		{"policy attached twice", `"ou-ab12-sandbox1": ["p-sandbox01"]`, `"ou-ab12-sandbox1": ["p-sandbox01", "p-sandbox01"]`, `policy p-sandbox01 is attached twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("test input: %q not in org-small.json", tc.old)
			}
			in := strings.Replace(good, tc.old, tc.new, 1)
			_, err := orgmodel.Load(strings.NewReader(in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Got(%s) = %v; want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestLoadDeepOUs(t *testing.T) {
	in := `{"id": "o-a1b2c3d4e5", "managementAccountId": "111111111111", "asOf": "2026-11-01T00:00:00Z",
 "root": {"id": "r-ab12", "name": "Root"},
 "ous": [
  {"id": "ou-ab12-aaaaaaa1", "name": "L1", "parentId": "r-ab12"},
  {"id": "ou-ab12-aaaaaaa2", "name": "L2", "parentId": "ou-ab12-aaaaaaa1"},
  {"id": "ou-ab12-aaaaaaa3", "name": "L3", "parentId": "ou-ab12-aaaaaaa2"},
  {"id": "ou-ab12-aaaaaaa4", "name": "L4", "parentId": "ou-ab12-aaaaaaa3"},
  {"id": "ou-ab12-aaaaaaa5", "name": "L5", "parentId": "ou-ab12-aaaaaaa4"},
  {"id": "ou-ab12-aaaaaaa6", "name": "L6", "parentId": "ou-ab12-aaaaaaa5"}],
 "accounts": [{"id": "111111111111", "name": "management", "email": "m@example.com", "parentId": "r-ab12", "joined": "2020-01-01T00:00:00Z"}],
 "policies": [], "attachments": {}, "activity": {}}`
	_, err := orgmodel.Load(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "ou-ab12-aaaaaaa6: OUs nest at most 5 levels") {
		t.Errorf("Got(six levels) = %v; want the nesting error for ou-ab12-aaaaaaa6", err)
	}
}

// TestLoadContent checks both forms of a document in a file: a string kept
// byte for byte, an object kept without the white space between tokens.
func TestLoadContent(t *testing.T) {
	o := loadSmall(t)
	p, ok := o.Policy("p-guardrail1")
	if !ok {
		t.Fatal("Got(Policy(p-guardrail1)) missing")
	}
	if want := `{"Version":"2012-10-17","Statement":[{"Sid":"DenyUnapprovedServices","Effect":"Deny","Action":["gamelift:*","lightsail:*"],"Resource":"*"},`; !strings.HasPrefix(p.Text(), want) {
		t.Errorf("Got(object content) = %s; want it compacted, keys in order: %s…", p.Text(), want)
	}
	// The staged guardrails allow nothing, and remove gamelift and
	// lightsail (the region deny is conditional) wherever they are
	// attached.
	if got := o.PolicyServices("p-guardrail1"); len(got) != 0 {
		t.Errorf("Got(PolicyServices(p-guardrail1)) = %v; want none", got)
	}
	if err := o.AttachPolicy("ou-ab12-security", orgmodel.Policy{ID: "p-guardrail1"}); err != nil {
		t.Fatalf("AttachPolicy(Security, p-guardrail1) = %v", err)
	}
	if got := o.AllowedServices("ou-ab12-security"); contains(got, "gamelift") || contains(got, "lightsail") || !contains(got, "ec2") {
		t.Errorf("Got(AllowedServices(Security)) with gamelift or lightsail, or without ec2; want only those two removed")
	}

	const text = "{ \"Version\": \"2012-10-17\",\n\t\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"} }\n"
	b, err := os.ReadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(text)
	in := strings.Replace(string(b), `"allow": ["athena", "glue", "s3", "sts"]`, `"content": `+string(quoted), 1)
	o, err = orgmodel.Load(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Load(string content) = %v", err)
	}
	p, _ = o.Policy("p-staging01")
	if p.Text() != text || string(p.Content) != text {
		t.Errorf("Got(string content) = %q; want %q byte for byte", p.Text(), text)
	}
	if got := o.PolicyServices("p-staging01"); len(got) != 1 || got[0] != "s3" {
		t.Errorf("Got(PolicyServices(p-staging01)) = %v; want [s3]", got)
	}
	// Marshalled back, a document is a string, which loads the same.
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := orgmodel.Load(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Load(Marshal(org)) = %v", err)
	}
	if q, _ := back.Policy("p-staging01"); q.Text() != text {
		t.Errorf("Got(round trip) = %q; want %q", q.Text(), text)
	}
}
