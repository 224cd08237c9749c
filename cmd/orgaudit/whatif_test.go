package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// recordPolicies checks that the run wrote runs/<runID>/policies.json, as
// every run does at the end of its organization walk.
func recordPolicies(t *testing.T, out, runID string) {
	t.Helper()
	store := objstore.NewDir(out, "orgaudit/")
	if _, err := policyset.Load(context.Background(), store, runID); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
}

// auditSmall audits testdata/org-small.json into a fresh directory: run a1
// with account reports, run o1 without. The simulator's clock is frozen,
// so the days-ago figures are fixed.
func auditSmall(t *testing.T) string {
	t.Helper()
	startSim(t, sim.Options{Org: smallOrg(t), IAM: iamreports.Options{TimeScale: 0.005, Now: frozenClock}})
	out := t.TempDir()
	for _, r := range []struct {
		id   string
		args []string
	}{{"o1", nil}, {"a1", []string{"--include-accounts"}}} {
		args := append([]string{"run", "--out", out, "--run-id", r.id, "--progress", "none"}, r.args...)
		if code, stdout, stderr := runCLI(t, args...); code != exitOK {
			t.Fatalf("run %s: exit %d\n%s\n%s", r.id, code, stdout, stderr)
		}
		recordPolicies(t, out, r.id)
	}
	return out
}

func writePolicy(t *testing.T, dir, name, doc string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type whatifJSON struct {
	Verdict string           `json:"verdict"`
	Target  reportdoc.Entity `json:"target"`
	Days    int              `json:"days"`
	Breaks  []struct {
		EntityID          string `json:"entityId"`
		EntityPath        string `json:"entityPath"`
		Namespace         string `json:"namespace"`
		Denial            string `json:"denial"`
		LastAuthenticated string `json:"lastAuthenticated"`
		DaysAgo           int    `json:"daysAgo"`
		Accounts          int    `json:"accounts"`
	} `json:"breaks"`
	NewlyDenied struct {
		Whole   []string `json:"whole"`
		Partial []string `json:"partial"`
	} `json:"newlyDenied"`
	Caveats []string `json:"caveats"`
}

func breakSet(r whatifJSON) []string {
	var out []string
	for _, b := range r.Breaks {
		out = append(out, b.EntityID+":"+b.Namespace+":"+b.Denial)
	}
	sort.Strings(out)
	return out
}

func TestWhatif(t *testing.T) {
	out := auditSmall(t)
	dir := t.TempDir()
	denyS3 := writePolicy(t, dir, "deny-s3.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`)
	denyEC2 := writePolicy(t, dir, "deny-ec2.json", `{"Statement":{"Effect":"Deny","Action":["ec2:*","rekognition:*"]}}`)
	regionDeny := writePolicy(t, dir, "region.json", `{"Statement":[{"Effect":"Deny","NotAction":["iam:*","sts:*","organizations:*"],"Resource":"*",
		"Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1"]}}}]}`)
	store := []string{"--out", out, "--prefix", "orgaudit/"}
	cases := []struct {
		name   string
		args   []string
		code   int
		breaks []string
		whole  []string
	}{
		{"deny S3 on Security breaks both accounts", []string{"--run", "a1", "--policy", denyS3, "--target", "ou-ab12-security"}, exitBreaks,
			[]string{"222222222222:s3:whole"}, []string{"s3"}},
		// Sandbox allows ec2 (last used 121 days before the report) but not
		// rekognition: denying rekognition again denies nothing new.
		{"a service unused within the window is safe to deny", []string{"--run", "a1", "--policy", denyEC2, "--target", "Sandbox", "--days", "90"}, exitOK,
			nil, []string{"ec2"}},
		{"the window decides", []string{"--run", "a1", "--policy", denyEC2, "--target", "Sandbox", "--days", "200"}, exitBreaks,
			[]string{"888888888888:ec2:whole"}, []string{"ec2"}},
		{"the management account is never affected", []string{"--run", "a1", "--policy", denyS3, "--target", "o-a1b2c3d4e5/r-ab12"}, exitBreaks,
			[]string{"222222222222:s3:whole", "444444444444:s3:whole", "555555555555:s3:whole", "666666666666:s3:whole", "777777777777:s3:whole"}, []string{"s3"}},
		{"an allow list replacing FullAWSAccess", []string{"--run", "a1", "--policy", "p-sandbox01", "--target", "ou-ab12-security", "--detach", "p-FullAWSAccess"}, exitBreaks,
			[]string{"222222222222:cloudtrail:whole", "222222222222:kms:whole", "333333333333:guardduty:whole", "333333333333:iam:whole", "333333333333:securityhub:whole"},
			nil},
		{"a region deny is partial", []string{"--run", "a1", "--policy", regionDeny, "--target", "ou-ab12-security"}, exitBreaks,
			[]string{"222222222222:cloudtrail:partial", "222222222222:kms:partial", "222222222222:s3:partial", "333333333333:guardduty:partial", "333333333333:securityhub:partial"},
			[]string{}},
		{"from OU reports when the run has no accounts", []string{"--run", "o1", "--policy", denyS3, "--target", "ou-ab12-workload"}, exitBreaks,
			// Prod's last S3 access is Payments' (444444444444): reported once, at Payments.
			[]string{"ou-ab12-nonprod1:s3:whole", "ou-ab12-payments:s3:whole"}, []string{"s3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"whatif", "--json"}, store...), c.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("Got(exit) = %d; want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			var r whatifJSON
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("Got(--json) not JSON: %v\n%s", err, stdout)
			}
			if got := breakSet(r); !reflect.DeepEqual(got, c.breaks) && !(len(got) == 0 && len(c.breaks) == 0) {
				t.Errorf("Got(breaks) = %v; want %v", got, c.breaks)
			}
			if c.whole != nil {
				for _, ns := range c.whole {
					if !contains(r.NewlyDenied.Whole, ns) {
						t.Errorf("Got(newlyDenied.whole) = %v; want it to hold %s", r.NewlyDenied.Whole, ns)
					}
				}
				if len(c.whole) == 0 && len(r.NewlyDenied.Whole) != 0 {
					t.Errorf("Got(newlyDenied.whole) = %v; want none", r.NewlyDenied.Whole)
				}
			}
			want := "SAFE"
			if c.code == exitBreaks {
				want = "BREAKS"
			}
			if r.Verdict != want || r.Caveats == nil {
				t.Errorf("Got(verdict %q, caveats %v); want %q and caveats", r.Verdict, r.Caveats, want)
			}
		})
	}

	// The JSON has exactly the documented keys.
	_, stdout, _ := runCLI(t, append(append([]string{"whatif", "--json"}, store...), "--run", "a1", "--policy", denyS3, "--target", "ou-ab12-security")...)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(raw); !reflect.DeepEqual(got, []string{"breaks", "caveats", "days", "newlyDenied", "target", "verdict"}) {
		t.Errorf("Got(keys) = %v; want the documented ones", got)
	}
	var breaks []map[string]json.RawMessage
	json.Unmarshal(raw["breaks"], &breaks)
	if len(breaks) == 0 {
		t.Fatal("Got(no breaks); want one")
	}
	if got := sortedKeys(breaks[0]); !reflect.DeepEqual(got, []string{"accounts", "daysAgo", "denial", "entityId", "entityPath", "lastAuthenticated", "namespace"}) {
		t.Errorf("Got(break keys) = %v; want the documented ones", got)
	}
	var r whatifJSON
	json.Unmarshal([]byte(stdout), &r)
	b := r.Breaks[0]
	if b.EntityPath != "o-a1b2c3d4e5/r-ab12/ou-ab12-security/222222222222" || b.LastAuthenticated != "2026-10-31T23:00:00Z" || b.DaysAgo != 1 || b.Accounts != 1 || r.Days != 90 {
		t.Errorf("Got(break %+v, days %d); want 222222222222's S3 use of 2026-10-31, a day before the report, in a 90-day window", b, r.Days)
	}

	// The management account is named in the caveats when under the target.
	_, stdout, _ = runCLI(t, append(append([]string{"whatif", "--json"}, store...), "--run", "a1", "--policy", denyS3, "--target", "r-ab12")...)
	if !strings.Contains(stdout, "management account 111111111111") {
		t.Errorf("Got(no caveat on the management account):\n%s", stdout)
	}
	// OU mode says so.
	_, stdout, _ = runCLI(t, append(append([]string{"whatif", "--json"}, store...), "--run", "o1", "--policy", denyS3, "--target", "ou-ab12-workload")...)
	if !strings.Contains(stdout, "no account reports") || !strings.Contains(stdout, `"entityPath": "o-a1b2c3d4e5/r-ab12/ou-ab12-workload/ou-ab12-prod0001/ou-ab12-payments/444444444444"`) {
		t.Errorf("Got(OU-mode answer without its caveat or the accessor's path):\n%s", stdout)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestWhatifTextAndMarkdown(t *testing.T) {
	out := auditSmall(t)
	denyS3 := writePolicy(t, t.TempDir(), "deny-s3.json", `{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	code, stdout, _ := runCLI(t, "whatif", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "--policy", denyS3, "--target", "Security")
	for _, want := range []string{"Attach " + denyS3 + " to Security (ou-ab12-security), ORGANIZATIONAL_UNIT", "BREAKS: 1 service in use would be denied.",
		"log-archive (222222222222)  s3       whole", "eu-west-1", "Newly denied, whole: s3", "Caveats:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("Got(text) without %q:\n%s", want, stdout)
		}
	}
	if code != exitBreaks {
		t.Errorf("Got(exit) = %d; want %d", code, exitBreaks)
	}
	_, stdout, _ = runCLI(t, "whatif", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "--policy", denyS3, "--target", "Security", "--markdown")
	for _, want := range []string{"### orgaudit whatif: BREAKS", "| Entity | Service | Denial |", "| log-archive (222222222222) | `s3` Amazon S3 | whole | 2026-10-31T23:00:00Z | 1 |", "<details><summary>Caveats</summary>"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("Got(markdown) without %q:\n%s", want, stdout)
		}
	}
	// Standard input, SAFE.
	whatifStdin = strings.NewReader(`{"Statement":{"Effect":"Deny","Action":"gamelift:*"}}`)
	defer func() { whatifStdin = os.Stdin }()
	code, stdout, _ = runCLI(t, "whatif", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "--policy", "-", "--target", "r-ab12", "--markdown")
	if code != exitOK || !strings.Contains(stdout, "### orgaudit whatif: SAFE") {
		t.Errorf("Got(exit %d, markdown):\n%s; want SAFE", code, stdout)
	}
}

func TestWhatifBadInput(t *testing.T) {
	out := auditSmall(t)
	dir := t.TempDir()
	good := writePolicy(t, dir, "good.json", `{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	// A run made before runs recorded their SCPs.
	noPolicies := filepath.Join(t.TempDir())
	if err := os.CopyFS(noPolicies, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(noPolicies, "orgaudit", "runs", "a1", "policies.json"))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not JSON", []string{"--policy", writePolicy(t, dir, "bad.json", "{\n \"Statement\": [}")}, exitUsage, "line 2, column 16"},
		{"too long", []string{"--policy", writePolicy(t, dir, "long.json", `{"Statement":{"Effect":"Deny","Action":"s3:*","Sid":"`+strings.Repeat("A", 5100)+`"}}`)}, exitUsage, "at most 5120"},
		{"Principal", []string{"--policy", writePolicy(t, dir, "principal.json", `{"Statement":{"Effect":"Deny","Principal":"*","Action":"*"}}`)}, exitUsage, "Principal"},
		{"no such file", []string{"--policy", filepath.Join(dir, "missing.json")}, exitUsage, "missing.json"},
		{"unknown policy id", []string{"--policy", "p-nosuchpol1"}, exitUsage, "recorded no such SCP"},
		{"unknown target", []string{"--policy", good, "--target", "ou-zz99-nothing1"}, exitUsage, "no entity of run a1"},
		{"target not in the run", []string{"--policy", good, "--target", "o-a1b2c3d4e5/r-ab12/ou-ab12-workload/ou-ab12-prod0001/ou-ab12-payments/444444444444", "--run", "o1"}, exitUsage, "not in run o1"},
		{"target the run does not know", []string{"--policy", good, "--target", "444444444444", "--run", "o1"}, exitUsage, "no entity of run o1"},
		{"require accounts", []string{"--policy", good, "--run", "o1", "--require-accounts"}, exitUsage, "no account reports"},
		{"detach not attached", []string{"--policy", good, "--detach", "p-sandbox01"}, exitUsage, "not attached to ou-ab12-security"},
		{"already attached", []string{"--policy", "p-FullAWSAccess"}, exitUsage, "already attached"},
		{"no policy", []string{"--policy", ""}, exitUsage, "--policy is required"},
		{"bad days", []string{"--policy", good, "--days", "500"}, exitUsage, "--days 500"},
		{"json and markdown", []string{"--policy", good, "--json", "--markdown"}, exitUsage, "exclude each other"},
		{"stray argument", []string{"--policy", good, "extra"}, exitUsage, "want 0 argument"},
		{"no run", []string{"--policy", good, "--run", "nope"}, exitFailure, `no run "nope"`},
		{"run without policies", []string{"--policy", good, "--out", noPolicies}, exitFailure, "does not record its SCPs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"whatif", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "--target", "ou-ab12-security"}, c.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
				t.Errorf("Got(exit %d, stderr %q, stdout %q); want exit %d and one line with %q", code, stderr, stdout, c.code, c.want)
			}
		})
	}
}

// Every suggestion orgaudit makes is checked by the what-if evaluator and,
// denying only services unused for the threshold, comes out SAFE: in
// `orgaudit scp` for every entity of the run, and in report.html.
func TestSuggestionsAreSafe(t *testing.T) {
	out := auditSmall(t)
	sum := readSummary(t, filepath.Join(out, "orgaudit"), "a1")
	checked := 0
	for _, l := range sum.Reports {
		code, stdout, stderr := runCLI(t, "scp", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "--json", l.EntityID)
		if code != exitOK {
			t.Fatalf("Got(scp %s exit) = %d; want 0\n%s", l.EntityID, code, stderr)
		}
		var r scpResult
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(r.Policies) == 0:
			if r.Verdict != "" {
				t.Errorf("Got(%s verdict %q without a suggestion); want none", l.EntityID, r.Verdict)
			}
		case r.Verdict != "SAFE":
			t.Errorf("Got(%s suggestion verdict %q, breaks %v, unchecked %q); want SAFE", l.EntityID, r.Verdict, r.Breaks, r.Unchecked)
		default:
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("Got(no suggestion checked); want some")
	}
	_, stdout, _ := runCLI(t, "scp", "--out", out, "--prefix", "orgaudit/", "--run", "a1", "ou-ab12-security")
	if !strings.Contains(stdout, "What-if: SAFE, nothing used within 90 days under this entity is denied") {
		t.Errorf("Got(scp text without the verdict):\n%s", stdout)
	}
	// report.html, re-rendered now that the run has its policies document.
	code, stdout, stderr := runCLI(t, "report", "--out", out, "--prefix", "orgaudit/", "--html", "-", "a1")
	if code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stdout, `["SAFE","",[]]`); n != checked {
		t.Errorf("Got(%d SAFE verdicts in report.html); want %d", n, checked)
	}
	if strings.Contains(stdout, `["BREAKS"`) {
		t.Error("Got(a BREAKS verdict in report.html); want every suggestion SAFE")
	}
}
