package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// frozenClock is the simulator clock of tests that compare bytes: job
// creation and completion dates then depend only on the modelled latency.
var frozenClock = func() time.Time { return time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC) }

// startSim serves a simulator for org on a loopback port for the test's
// lifetime and points the AWS environment of this process at it, as a user
// would with AWS_ENDPOINT_URL.
func startSim(t *testing.T, opts sim.Options) *sim.Simulator {
	t.Helper()
	if opts.IAM.TimeScale == 0 {
		opts.IAM.TimeScale = 0.005
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	endpoint, stop, err := sim.Serve(ctx, "127.0.0.1:0", s)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); cancel() })
	setAWSEnv(t, endpoint, sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey)
	return s
}

// setAWSEnv gives the process credentials and an endpoint and nothing
// else from the developer's machine.
func setAWSEnv(t *testing.T, endpoint, key, secret string) {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_ACCESS_KEY_ID":           key,
		"AWS_SECRET_ACCESS_KEY":       secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"ORGAUDIT_BUCKET":             "",
		"ORGAUDIT_PREFIX":             "",
		"ORGAUDIT_REPORT_ROLE_ARN":    "",
		"ORGAUDIT_UNUSED_DAYS":        "",
	} {
		t.Setenv(k, v)
	}
}

func smallOrg(t *testing.T) *orgmodel.Org {
	t.Helper()
	org, err := orgmodel.LoadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatal(err)
	}
	return org
}

// runCLI runs `orgaudit args…` in-process and returns its exit code and
// output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := dispatch(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunAuditsEveryEntityOnce(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", "r1", "--include-accounts", "--progress", "none")
	if code != exitOK {
		t.Fatalf("exit code = %d; want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
	}
	sum := readSummary(t, filepath.Join(out, "orgaudit"), "r1")
	want := 1 + len(org.OUs) + len(org.Accounts) // root, OUs, accounts
	if sum.Entities.Total != want || sum.Entities.Succeeded != want || len(sum.Reports) != want {
		t.Errorf("summary entities = %+v with %d reports; want %d of each", sum.Entities, len(sum.Reports), want)
	}
	seen := map[string]bool{}
	for _, r := range sum.Reports {
		if seen[r.EntityID] {
			t.Errorf("entity %s listed twice", r.EntityID)
		}
		seen[r.EntityID] = true
		if _, err := os.Stat(filepath.Join(out, "orgaudit", r.Key)); err != nil {
			t.Errorf("report of %s: %v", r.EntityID, err)
		}
	}
	for _, s := range []string{"Run r1 of " + org.ID + ": SUCCEEDED", "ENTITIES", "report.html"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
}

func readSummary(t *testing.T, root, runID string) *reportdoc.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, reportdoc.SummaryKey(runID)))
	if err != nil {
		t.Fatal(err)
	}
	var s reportdoc.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestRunExplainsUsersMistakes(t *testing.T) {
	noSCP := smallOrg(t)
	noSCP.SCPDisabled = true
	if err := noSCP.Index(); err != nil {
		t.Fatal(err)
	}
	member := smallOrg(t)
	var memberAccount string
	for _, a := range member.Accounts {
		if a.ID != member.ManagementAccountID {
			memberAccount = a.ID
			break
		}
	}
	tests := []struct {
		name     string
		org      *orgmodel.Org
		creds    []sim.Credential
		key      string // access key to use instead of test/test
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{name: "no credentials", org: smallOrg(t), env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
			wantCode: exitFailure, want: "no AWS credentials found: use --profile NAME"},
		{name: "unknown access key", org: smallOrg(t), key: "AKIAUNKNOWNKEY000000",
			wantCode: exitFailure, want: "AWS refused the credentials (InvalidClientTokenId)"},
		{name: "not the management account", org: member,
			creds:    []sim.Credential{{AccessKeyID: "AKIAMEMBER0000000001", SecretAccessKey: "member-secret", ARN: "arn:aws:iam::" + memberAccount + ":user/dev"}},
			key:      "AKIAMEMBER0000000001",
			wantCode: exitFailure, want: "is not the management account"},
		{name: "SCPs not enabled", org: noSCP,
			wantCode: exitFailure, want: "service control policies are not enabled on root " + noSCP.Root.ID},
		{name: "bucket not found", org: smallOrg(t), args: []string{"--bucket", "no-such-bucket"},
			wantCode: exitFailure, want: `bucket "no-such-bucket" does not exist`},
		{name: "entity path does not exist", org: smallOrg(t),
			args:     []string{"--entity-path", smallOrg(t).ID + "/" + smallOrg(t).Root.ID + "/ou-zzzz-doesnotexist"},
			wantCode: exitUsage, want: "ou-zzzz-doesnotexist"},
		{name: "malformed entity path", org: smallOrg(t), args: []string{"--entity-path", "not-a-path"},
			wantCode: exitUsage, want: "--entity-path"},
		{name: "role ARN not an ARN", org: smallOrg(t), args: []string{"--role-arn", "not-an-arn"},
			wantCode: exitUsage, want: `--role-arn "not-an-arn" is not an IAM role ARN`},
		{name: "role ARN of a user", org: smallOrg(t), env: map[string]string{"ORGAUDIT_REPORT_ROLE_ARN": "arn:aws:iam::111122223333:user/bob"},
			wantCode: exitUsage, want: `ORGAUDIT_REPORT_ROLE_ARN "arn:aws:iam::111122223333:user/bob" is not an IAM role ARN: resource "user/bob", want role/<name>`},
		{name: "bad flag value", org: smallOrg(t), args: []string{"--progress", "sometimes"},
			wantCode: exitUsage, want: `--progress "sometimes": want auto, bar, log or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			startSim(t, sim.Options{Org: tt.org, Credentials: tt.creds, Buckets: []string{"audit-bucket"}})
			if tt.key != "" {
				secret := "wrong"
				for _, c := range tt.creds {
					if c.AccessKeyID == tt.key {
						secret = c.SecretAccessKey
					}
				}
				t.Setenv("AWS_ACCESS_KEY_ID", tt.key)
				t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out := t.TempDir()
			args := append([]string{"run", "--out", out, "--progress", "none"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d; want %d\nstderr: %s", code, tt.wantCode, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tt.want) {
				t.Errorf("last stderr line = %q; want it to contain %q", last, tt.want)
			}
			if len(lines) > 2 {
				t.Errorf("stderr has %d lines; want the mistake in one:\n%s", len(lines), stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q; want nothing on a failed start", stdout)
			}
			if tt.wantCode != exitOK {
				if entries, _ := os.ReadDir(filepath.Join(out, "orgaudit", "runs")); len(entries) > 0 {
					t.Errorf("a failed start wrote %d run folders; want none", len(entries))
				}
			}
		})
	}
}

// listFiles returns the files under dir, relative to it, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestRunRidesOutThrottlingAndFaults runs against a simulator that throttles
// Organizations to two requests a second and fails a fifth of all requests
// with 500 or 503: the checks before the run and the run itself retry, and
// every entity still gets its report.
func TestRunRidesOutThrottlingAndFaults(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org, OrgTPS: 2, ErrorRate: 0.2, Seed: 3})
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", "bumpy", "--progress", "none")
	if code != exitOK {
		t.Fatalf("exit code = %d; want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
	}
	sum := readSummary(t, filepath.Join(out, "orgaudit"), "bumpy")
	if want := 1 + len(org.OUs); sum.Entities.Succeeded != want {
		t.Errorf("succeeded = %d; want %d (root and OUs)", sum.Entities.Succeeded, want)
	}
}

// TestRunJSONPrintsTheSummary: with --json, stdout is exactly the stored
// summary.json (indented) and the progress goes to stderr.
func TestRunJSONPrintsTheSummary(t *testing.T) {
	startSim(t, sim.Options{Org: smallOrg(t)})
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", "j1", "--json", "--progress", "log")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var got, want map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	b, err := os.ReadFile(filepath.Join(out, "orgaudit", "runs", "j1", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Got(stdout) %s; want the stored summary.json %s", stdout, b)
	}
	if !strings.Contains(stderr, "progress: ") || strings.Contains(stdout, "progress: ") {
		t.Errorf("progress on stderr %v, on stdout %v; want stderr only", strings.Contains(stderr, "progress: "), strings.Contains(stdout, "progress: "))
	}
}

// TestRunEntityPathTakesIDsAndNames restricts a run by an OU's id and by
// an account's name: the run audits what the full paths would, and an
// unknown name is refused naming the flag.
func TestRunEntityPathTakesIDsAndNames(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	var ou orgmodel.OU
	for _, o := range org.OUs {
		if o.ParentID != org.Root.ID {
			ou = o // an OU two levels down
			break
		}
	}
	var parent orgmodel.OU
	for _, o := range org.OUs {
		if o.ID == ou.ParentID {
			parent = o
		}
	}
	var account orgmodel.Account
	for _, a := range org.Accounts {
		if a.ParentID == org.Root.ID && a.ID != org.ManagementAccountID {
			account = a
		}
	}
	if ou.ID == "" || account.ID == "" {
		t.Fatal("the test organization needs a nested OU and a member account under the root")
	}
	// The oracle: the paths written out from the organization file.
	wantPaths := map[string]bool{
		org.ID + "/" + org.Root.ID + "/" + parent.ID + "/" + ou.ID: true,
		org.ID + "/" + org.Root.ID + "/" + account.ID:              true,
	}
	out := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--out", out, "--run-id", "byref", "--progress", "none", "--include-accounts",
		"--entity-path", ou.ID, "--entity-path", account.Name)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	m := readManifest(t, out, "byref")
	got := map[string]bool{}
	for _, p := range m.Settings.EntityPaths {
		got[p] = true
	}
	if !reflect.DeepEqual(got, wantPaths) {
		t.Errorf("Got(entity paths of the run) %v; want %v", m.Settings.EntityPaths, wantPaths)
	}

	code, _, stderr = runCLI(t, "run", "--out", out, "--progress", "none", "--entity-path", "No Such Team")
	if code != exitUsage || !strings.Contains(stderr, `--entity-path "No Such Team" is not the id or the name of the root, an OU or an account of `+org.ID) {
		t.Errorf("unknown name: exit %d, %q; want %d naming --entity-path", code, stderr, exitUsage)
	}
}

// TestStartEntityPathTakesIDsAndNames: start looks names up in the
// organization before it calls Step Functions (here the simulator, which
// has no state machine).
func TestStartEntityPathTakesIDsAndNames(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	sm := "arn:aws:states:us-east-1:" + org.ManagementAccountID + ":stateMachine:nowhere"
	ou := org.OUs[0]
	_, _, stderr := runCLI(t, "start", "--state-machine", sm, "--entity-path", ou.Name)
	if want := "--entity-path " + ou.Name + ": " + org.ID + "/" + org.Root.ID + "/" + ou.ID + "\n"; ou.ParentID != org.Root.ID || !strings.HasPrefix(stderr, want) {
		t.Errorf("start --entity-path %s: stderr %q; want it to begin %q", ou.Name, stderr, want)
	}
	code, _, stderr := runCLI(t, "start", "--state-machine", sm, "--entity-path", "No Such Team")
	if code != exitUsage || !strings.Contains(stderr, `orgaudit start: --entity-path "No Such Team" is not the id or the name`) {
		t.Errorf("start with an unknown name: exit %d, %q; want %d naming --entity-path", code, stderr, exitUsage)
	}
}

// TestRunCarriesUnchangedAccounts: later runs on the same output, with
// nothing used in between, carries the account reports unchanged and says
// so in its table: fresh, unchanged and stale reports, and the jobs asked.
func TestRunCarriesUnchangedAccounts(t *testing.T) {
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org})
	out := t.TempDir()
	for _, id := range []string{"r1", "r2"} {
		if code, stdout, stderr := runCLI(t, "run", "--out", out, "--run-id", id, "--include-accounts", "--progress", "none"); code != exitOK {
			t.Fatalf("run %s: exit code = %d; want %d\nstdout:\n%s\nstderr:\n%s", id, code, exitOK, stdout, stderr)
		}
	}
	code, stdout, _ := runCLI(t, "run", "--out", out, "--run-id", "r3", "--include-accounts", "--progress", "none")
	if code != exitOK {
		t.Fatalf("run r3: exit code = %d", code)
	}
	sum := readSummary(t, filepath.Join(out, "orgaudit"), "r3")
	groups, accounts := 1+len(org.OUs), len(org.Accounts)
	// Every account but the management account (nothing proves it) is
	// carried; the root's, OUs' and management account's jobs are asked.
	if f := sum.Freshness; f.Fresh != groups+1 || f.Unchanged != accounts-1 || f.Stale != 0 {
		t.Errorf("Got(summary freshness) = %+v; want %d fresh, %d unchanged", f, groups+1, accounts-1)
	}
	row := fmt.Sprintf(`(?m)^ENTITIES\s+SUCCEEDED\s+FAILED\s+FRESH\s+UNCHANGED\s+STALE\s+JOBS\n%d\s+%d\s+0\s+%d\s+%d\s+0\s+%d\n`,
		groups+accounts, groups+accounts, groups+1, accounts-1, groups+1)
	if !regexp.MustCompile(row).MatchString(stdout) || !strings.Contains(stdout, fmt.Sprintf("%d account reports unchanged", accounts-1)) {
		t.Errorf("Got(stdout):\n%s\nwant the table row %s and the carried line", stdout, row)
	}
}

// TestResumeHintReachesTheSameRun: the command printed after Ctrl-C names
// the store, the credentials' flags and the simulated organization's shape
// given, so that it resumes the same run against the same organization.
func TestResumeHintReachesTheSameRun(t *testing.T) {
	in := runFlags{out: "/tmp/audit", demo: demoFlags{enabled: true},
		values: map[string]string{"demo": "true", "demo-ous": "10", "demo-accounts": "40", "prefix": "my runs/", "progress": "log"}}
	if got, want := resumeHint(in), " --out /tmp/audit --prefix 'my runs/' --demo --demo-ous 10 --demo-accounts 40"; got != want {
		t.Errorf("resumeHint = %q; want %q", got, want)
	}
	in = runFlags{out: "orgaudit-out", bucket: "audit", values: map[string]string{"bucket": "audit", "profile": "mgmt", "demo": "false"}}
	if got, want := resumeHint(in), " --bucket audit --profile mgmt"; got != want {
		t.Errorf("resumeHint = %q; want %q", got, want)
	}
}
