package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/sim"
)

func Example_scp() {
	// The latest run (latest.json), Production by id.
	dispatch(context.Background(), []string{"scp", "--out", "testdata", "--prefix", "", "--unused-days", "90",
		"ou-ex12-prod0001"}, os.Stdout, os.Stderr)
	// Output:
	// Production (ou-ex12-prod0001, ORGANIZATIONAL_UNIT)
	// o-exampleorg1/r-ex12/ou-ex12-prod0001
	// Run 20261125T030000Z, report as of 2026-11-25T03:00:54Z
	//
	// 4 of 12 listed services not accessed for 90 days (2 never accessed):
	//   NAMESPACE  SERVICE          LAST ACCESS
	//   dynamodb   Amazon DynamoDB  never
	//   glue       AWS Glue         never
	//   lambda     AWS Lambda       91 days ago
	//   rds        Amazon RDS       201 days ago
	//
	// Suggested SCP: 1 document, at most 5120 characters.
	// --- policy 1 of 1 (150 characters) ---
	// {"Version":"2012-10-17","Statement":[{"Sid":"DenyUnusedServices","Effect":"Deny","Action":["dynamodb:*","glue:*","lambda:*","rds:*"],"Resource":"*"}]}
	// What-if: not checked (the run does not record its SCPs).
	//
	// Caveats:
	//   - Access data covers about the last 400 days, and only Regions where IAM tracks service last accessed data; activity elsewhere is not counted.
	//   - Access attempts include denied requests: a service listed as accessed may only have been tried.
	//   - Root and OU reports exclude the management account: a service unused at the OU level may still be needed by the management account (which SCPs do not restrict).
	//   - Reports cover SCP-allowed services only; a service missing from a report is already denied by an SCP.
}

func Example_scpKeep() {
	// The first run, Sandbox by entity path, keeping Glue and Lambda:
	// IAM and KMS are on the default never-deny list.
	dispatch(context.Background(), []string{"scp", "--out", "testdata", "--prefix", "", "--unused-days", "90",
		"--run", "20261124T030000Z", "--keep", "glue,lambda", "--json", "o-exampleorg1/r-ex12/ou-ex12-sand0001"}, os.Stdout, os.Stderr)
	// Output:
	// {
	//   "runId": "20261124T030000Z",
	//   "entity": {
	//     "id": "ou-ex12-sand0001",
	//     "type": "ORGANIZATIONAL_UNIT",
	//     "name": "Sandbox",
	//     "path": "o-exampleorg1/r-ex12/ou-ex12-sand0001"
	//   },
	//   "asOf": "2026-11-24T03:01:14Z",
	//   "unusedDays": 90,
	//   "unused": [
	//     "athena",
	//     "cloudtrail",
	//     "dynamodb",
	//     "ec2",
	//     "iam",
	//     "kms",
	//     "lambda",
	//     "sagemaker"
	//   ],
	//   "lastAccessed": [],
	//   "kept": [
	//     "cloudtrail",
	//     "iam",
	//     "kms",
	//     "lambda"
	//   ],
	//   "policies": [
	//     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyUnusedServices\",\"Effect\":\"Deny\",\"Action\":[\"athena:*\",\"dynamodb:*\",\"ec2:*\",\"sagemaker:*\"],\"Resource\":\"*\"}]}"
	//   ],
	//   "caveats": [
	//     "Access data covers about the last 400 days, and only Regions where IAM tracks service last accessed data; activity elsewhere is not counted.",
	//     "Access attempts include denied requests: a service listed as accessed may only have been tried.",
	//     "Root and OU reports exclude the management account: a service unused at the OU level may still be needed by the management account (which SCPs do not restrict).",
	//     "Reports cover SCP-allowed services only; a service missing from a report is already denied by an SCP."
	//   ]
	// }
}

func TestSCPExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"help", []string{"scp", "--help"}, exitOK, ""},
		{"no entity", []string{"scp", "--out", "testdata", "--prefix", ""}, exitUsage, "want 1 argument"},
		{"unknown entity", []string{"scp", "--out", "testdata", "--prefix", "", "ou-ex12-none0001"}, exitFailure, "has no report for entity"},
		{"failed report", []string{"scp", "--out", "testdata", "--prefix", "", "ou-ex12-data0001"}, exitFailure, "IAM could not generate the report"},
		{"no latest run", []string{"scp", "--out", t.TempDir(), "--prefix", "", "ou-ex12-prod0001"}, exitFailure, "no finished run yet"},
		{"root by path", []string{"scp", "--out", "testdata", "--prefix", "", "--json", "o-exampleorg1/r-ex12/"}, exitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := dispatch(context.Background(), tc.args, &out, &errb); got != tc.want {
				t.Errorf("Got(exit of %q) = %d; want %d\nstderr: %s", tc.args, got, tc.want, errb.String())
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("Got(stderr) = %q; want it to contain %q", errb.String(), tc.wantErr)
			}
			if tc.name == "help" && (!strings.HasPrefix(out.String(), "Usage: orgaudit scp") || errb.Len() > 0) {
				t.Errorf("Got(help) stdout %.40q, stderr %q; want the usage on stdout", out.String(), errb.String())
			}
			if tc.name == "root by path" {
				var r scpResult
				if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Entity.ID != "r-ex12" || len(r.Policies) != 1 {
					t.Errorf("Got(root suggestion) = %s (%v); want r-ex12 with one policy", out.String(), err)
				}
			}
		})
	}
}

// TestSCPSkipsTheManagementAccount audits the small organization with its
// accounts and checks every place an entity is listed: the management
// account gets no suggestion, in `orgaudit scp` (text and JSON),
// findings.json and report.html, and each says why.
func TestSCPSkipsTheManagementAccount(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	out := t.TempDir()
	if code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", "m1", "--include-accounts", "--progress", "none"); code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	mgmt := org.ManagementAccountID
	code, stdout, stderr := runCLI(t, "scp", "--out", out, "--prefix", "orgaudit/", mgmt)
	if code != exitOK {
		t.Fatalf("Got(exit of scp %s) = %d; want %d\n%s", mgmt, code, exitOK, stderr)
	}
	for _, want := range []string{"(" + mgmt + ", management account)", "No SCP suggested. " + findings.ManagementAccountNote} {
		if !strings.Contains(stdout, want) {
			t.Errorf("Got(scp %s) without %q:\n%s", mgmt, want, stdout)
		}
	}
	if strings.Contains(stdout, "Suggested SCP") {
		t.Errorf("Got(scp %s) with a suggested SCP; want none:\n%s", mgmt, stdout)
	}
	code, stdout, _ = runCLI(t, "scp", "--out", out, "--prefix", "orgaudit/", "--json", mgmt)
	var r scpResult
	if err := json.Unmarshal([]byte(stdout), &r); code != exitOK || err != nil {
		t.Fatalf("Got(scp --json %s) = %d, %v", mgmt, code, err)
	}
	if !r.ManagementAccount || r.Note != findings.ManagementAccountNote || len(r.Policies) != 0 || len(r.Unused) == 0 {
		t.Errorf("Got(scp --json %s) = managementAccount %v, note %q, %d policies, %d unused; want true, the note, 0 policies, its unused services",
			mgmt, r.ManagementAccount, r.Note, len(r.Policies), len(r.Unused))
	}
	// A member account still gets its suggestion.
	var member string
	for _, a := range org.Accounts {
		if a.ID != mgmt {
			member = a.ID
			break
		}
	}
	if _, stdout, _ = runCLI(t, "scp", "--out", out, "--prefix", "orgaudit/", "--json", member); !strings.Contains(stdout, `"policies": [`+"\n") {
		t.Errorf("Got(scp --json %s) without policies; want a suggestion for a member account:\n%s", member, stdout)
	}

	b, err := os.ReadFile(filepath.Join(out, "orgaudit", "runs", "m1", "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc findings.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ManagementAccountID != mgmt {
		t.Errorf("Got(findings.json managementAccountId) = %q; want %q", doc.ManagementAccountID, mgmt)
	}
	seen := 0
	for _, e := range doc.Entities {
		switch {
		case e.Entity.ID == mgmt:
			seen++
			if !e.ManagementAccount || e.Note != findings.ManagementAccountNote || e.SCP != nil {
				t.Errorf("Got(findings.json %s) = managementAccount %v, note %q, scp %+v; want true, the note, no scp", mgmt, e.ManagementAccount, e.Note, e.SCP)
			}
		case e.ManagementAccount || e.Note != "":
			t.Errorf("Got(findings.json %s) marked as the management account", e.Entity.ID)
		case e.PolicyID == nil && e.SCP == nil:
			t.Errorf("Got(findings.json %s) without an scp summary", e.Entity.ID)
		}
	}
	if seen != 1 {
		t.Errorf("Got(findings.json entries of %s) = %d; want 1", mgmt, seen)
	}
	html, err := os.ReadFile(filepath.Join(out, "orgaudit", "runs", "m1", "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(findings.ManagementAccountNote)
	if !bytes.Contains(html, []byte(`"m":`+string(note))) || !bytes.Contains(html, []byte(`"`+mgmt+`","ACCOUNT"`)) {
		t.Errorf("Got(report.html) without the management account's note or row")
	}
	// `orgaudit report` re-renders from the stored documents and keeps the mark.
	if code, _, stderr := runCLI(t, "report", "--out", out, "--prefix", "orgaudit/", "--html", filepath.Join(out, "again.html"), "m1"); code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	again, _ := os.ReadFile(filepath.Join(out, "again.html"))
	if !bytes.Equal(again, html) {
		t.Errorf("Got(orgaudit report m1) differs from the run's report.html; want the same page")
	}
}
