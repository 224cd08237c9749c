package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/scpplan"
	"github.com/orgaudit/orgaudit/internal/sim"
)

func TestSCPPlanUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("exceptions:\n  - entity: ou-ex12-none0001\n    services: [{service: s3, reason: x}]\n"), 0o644)
	base := []string{"scp", "--out", "testdata", "--prefix", ""}
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"format without plan", []string{"--format", "json", "ou-ex12-prod0001"}, exitUsage, "need --plan"},
		{"bad format", []string{"--plan", "--format", "yaml"}, exitUsage, `--format "yaml"`},
		{"bad strategy", []string{"--plan", "--strategy", "both"}, exitUsage, `--strategy "both"`},
		{"bad exemption", []string{"--plan", "--exempt-principal", "BreakGlass"}, exitUsage, `--exempt-principal "BreakGlass"`},
		{"two entities", []string{"--plan", "r-ex12", "ou-ex12-prod0001"}, exitUsage, "at most 1 argument"},
		{"missing exceptions file", []string{"--plan", "--exceptions", "nope.yaml"}, exitUsage, "nope.yaml"},
		{"unknown entity in exceptions", []string{"--plan", "--exceptions", bad}, exitFailure, `"ou-ex12-none0001"`},
		{"unknown entity", []string{"--plan", "ou-ex12-none0001"}, exitFailure, `"ou-ex12-none0001"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append(slices.Clone(base), tc.args...)...)
			if code != tc.want || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("Got(exit, stderr) = %d, %q; want %d and %q", code, stderr, tc.want, tc.wantErr)
			}
		})
	}
}

// TestSCPPlanOfARun audits the small organization with accounts and their
// SCPs, then plans on the run in every format: the JSON plan is within the
// quotas and never targets the management account, and --out-dir writes
// plan.json and one file per policy.
func TestSCPPlanOfARun(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	out := t.TempDir()
	if code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", "p1", "--include-accounts", "--include-policies", "--progress", "none"); code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	base := []string{"scp", "--out", out, "--prefix", "orgaudit/", "--plan"}
	code, stdout, stderr := runCLI(t, append(base, "--format", "json", "--exempt-principal", "arn:aws:iam::*:role/BreakGlass")...)
	if code != exitOK {
		t.Fatalf("Got(exit) = %d; want 0\n%s", code, stderr)
	}
	var p struct {
		Policies []scpplan.Policy `json:"policies"`
		Stopped  []scpplan.Stop   `json:"stopped"`
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || len(p.Policies) == 0 {
		t.Fatalf("Got(plan.json) = %v, %d policies\n%s", err, len(p.Policies), stdout)
	}
	perTarget := map[string]int{}
	for _, pol := range p.Policies {
		if len(pol.Content) > scpplan.MaxPolicySize || !strings.Contains(pol.Content, `"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/BreakGlass"]}`) {
			t.Errorf("Got(%s) = %d characters %s; want within the quota, with the exemption", pol.Name, len(pol.Content), pol.Content)
		}
		for _, tg := range pol.Targets {
			perTarget[tg]++
			if tg == org.ManagementAccountID {
				t.Errorf("Got(%s targets the management account); want never", pol.Name)
			}
		}
	}
	for tg, n := range perTarget {
		if have := len(org.PoliciesFor(tg)); n+have > scpplan.MaxPoliciesPerTarget {
			t.Errorf("Got(%d planned + %d attached at %s); want <= 5", n, have, tg)
		}
	}
	code, stdout, stderr = runCLI(t, base...)
	if code != exitOK || !strings.Contains(stdout, "Attachments: the run's policies.json") || !strings.Contains(stdout, "POLICY") ||
		!strings.Contains(stdout, "The management account "+org.ManagementAccountID+" is never a target") {
		t.Errorf("Got(plan summary) = %d\n%s\n%s", code, stdout, stderr)
	}
	for _, format := range scpplan.Formats {
		dir := filepath.Join(t.TempDir(), format)
		code, _, stderr := runCLI(t, append(base, "--strategy", "allow", "--format", format, "--out-dir", dir)...)
		if code != exitOK {
			t.Fatalf("Got(--out-dir %s) = %d\n%s", format, code, stderr)
		}
		entries, _ := os.ReadDir(dir)
		b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
		var idx struct{ Policies []scpplan.Policy }
		if err != nil || json.Unmarshal(b, &idx) != nil || len(idx.Policies) == 0 {
			t.Fatalf("Got(%s/plan.json) = %v", format, err)
		}
		extra := 1
		if format == scpplan.FormatCLI {
			extra = 2 // detach-replaced.sh
		}
		if len(entries) != len(idx.Policies)+extra {
			t.Errorf("Got(%d files in %s); want plan.json and one per policy (%d)", len(entries), dir, len(idx.Policies))
		}
	}
}

// TestWhatifCheckCatchesABreak hands the what-if check a plan that denies
// everything at an OU whose accounts use services: it must refuse it, and
// accept the plan the planner made.
func TestWhatifCheckCatchesABreak(t *testing.T) {
	store := objstore.NewDir("testdata", "")
	run, err := loadRun(context.Background(), store, "20261125T030000Z", 90, 90)
	if err != nil {
		t.Fatal(err)
	}
	nodes, _, pols, err := planNodes(context.Background(), store, "20261125T030000Z", run)
	if err != nil {
		t.Fatal(err)
	}
	good, err := scpplan.Make(scpplan.Input{Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	if err := whatifCheck(good, run, pols); err != nil {
		t.Errorf("Got(whatifCheck of the planner's plan) = %v; want SAFE", err)
	}
	bad := &scpplan.Plan{Policies: []scpplan.Policy{{Name: "deny-all", Strategy: scpplan.Deny, Targets: []string{"ou-ex12-prod0001"},
		Content: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`}}}
	if err := whatifCheck(bad, run, pols); err == nil || !strings.Contains(err.Error(), "BREAKS") {
		t.Errorf("Got(whatifCheck of a deny-all) = %v; want BREAKS", err)
	}
}

func Example_scpPlan() {
	// The latest run, planned from the root with an exceptions file: glue
	// is kept in Production until 2099; Sandbox's exception has expired
	// (reported on stderr and in the summary, not applied).
	dispatch(context.Background(), []string{"scp", "--out", "testdata", "--prefix", "", "--unused-days", "90",
		"--plan", "--exceptions", "testdata/exceptions.yaml"}, os.Stdout, io.Discard)
	// Output:
	// SCP plan for Root (r-ex12, ROOT) and everything under it
	// o-exampleorg1/r-ex12
	// Run 20261125T030000Z, unused means not accessed for 90 days; strategy deny.
	// Attachments: not recorded by the run: every target is assumed to have FullAWSAccess only. The organization holds 1 SCP before the plan.
	//
	// POLICY                                 TARGETS           SERVICES  SIZE
	// orgaudit-deny-unused-ou-ex12-prod0001  ou-ex12-prod0001  3         141
	// orgaudit-deny-unused-ou-ex12-sand0001  ou-ex12-sand0001  5         166
	//
	// 2 policies, 2 attachments.
	//
	// orgaudit-deny-unused-ou-ex12-prod0001 denies: dynamodb, lambda, rds
	//
	// orgaudit-deny-unused-ou-ex12-sand0001 denies: athena, dynamodb, ec2, lambda, sagemaker
	//
	// Exceptions applied:
	//   ou-ex12-prod0001 keeps glue (yearly compliance export, until 2099-12-31)
	//
	// Exceptions expired, not applied:
	//   ou-ex12-sand0001 kept sagemaker until 2020-06-30 (model evaluation pilot)
	//
	// Write it with --format json|terraform|cloudformation|cli, or --out-dir DIR for one file per policy.
	//
	// Caveats:
	//   - Access data covers about the last 400 days, and only Regions where IAM tracks service last accessed data; activity elsewhere is not counted.
	//   - Access attempts include denied requests: a service listed as accessed may only have been tried.
	//   - Root and OU reports exclude the management account: a service unused at the OU level may still be needed by the management account (which SCPs do not restrict).
	//   - Reports cover SCP-allowed services only; a service missing from a report is already denied by an SCP.
}
