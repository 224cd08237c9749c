package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func cli(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestRunAliases: "latest" and "previous" give what the run ids they
// stand for give (testdata's latest.json names 20261125T030000Z; the run
// before it is 20261124T030000Z).
func TestRunAliases(t *testing.T) {
	store := []string{"--out", "testdata", "--prefix", ""}
	tests := []struct{ alias, ids []string }{
		{[]string{"diff", "previous", "latest"}, []string{"diff", "20261124T030000Z", "20261125T030000Z"}},
		{[]string{"scp", "--run", "previous", "ou-ex12-prod0001"}, []string{"scp", "--run", "20261124T030000Z", "ou-ex12-prod0001"}},
		{[]string{"scp", "--run", "latest", "--json", "ou-ex12-prod0001"}, []string{"scp", "--run", "20261125T030000Z", "--json", "ou-ex12-prod0001"}},
		{[]string{"report", "--html", "-", "latest", "--previous", "previous"}, []string{"report", "--html", "-", "20261125T030000Z", "--previous", "20261124T030000Z"}},
		{[]string{"whatif", "--run", "previous", "--policy", "p-FullAWSAccess", "--detach", "p-FullAWSAccess", "--target", "ou-ex12-prod0001"},
			[]string{"whatif", "--run", "20261124T030000Z", "--policy", "p-FullAWSAccess", "--detach", "p-FullAWSAccess", "--target", "ou-ex12-prod0001"}},
	}
	for _, tt := range tests {
		ca, oa, ea := cli(append(tt.alias, store...)...)
		ci, oi, ei := cli(append(tt.ids, store...)...)
		if ca != ci || oa != oi || ea != ei {
			t.Errorf("orgaudit %v: exit %d, %q, %q; want what orgaudit %v gives: %d, %q, %q", tt.alias, ca, cut(oa), ea, tt.ids, ci, cut(oi), ei)
		}
		if oi == "" && ei == "" {
			t.Errorf("orgaudit %v printed nothing", tt.ids)
		}
	}
	if code, _, stderr := cli(append([]string{"diff", "previous", "latest"}, "--out", t.TempDir())...); code != exitFailure || !strings.Contains(stderr, "no finished run yet") {
		t.Errorf("diff previous latest of an empty store: exit %d, %q; want %d, no finished run yet", code, stderr, exitFailure)
	}
}

func cut(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// TestDiffChecksItsRuns: two organizations are refused; the same run
// twice, or the newer run first, are compared with a warning.
func TestDiffChecksItsRuns(t *testing.T) {
	code, stdout, stderr := cli("diff", "--out", "testdata", "--prefix", "", "latest", "latest")
	if code != exitOK || !strings.Contains(stderr, "warning: RUN_A and RUN_B are the same run, 20261125T030000Z") || !strings.Contains(stdout, "No changes.") {
		t.Errorf("diff latest latest: exit %d, stderr %q; want 0 with a warning", code, stderr)
	}
	code, _, stderr = cli("diff", "--out", "testdata", "--prefix", "", "20261125T030000Z", "20261124T030000Z")
	if code != exitOK || !strings.Contains(stderr, "warning: run 20261125T030000Z started after run 20261124T030000Z") {
		t.Errorf("diff newer older: exit %d, stderr %q; want 0 with a warning", code, stderr)
	}
	code, _, stderr = cli("diff", "--out", "testdata", "--prefix", "", "20261124T030000Z", "20261125T030000Z")
	if code != exitOK || stderr != "" {
		t.Errorf("diff older newer: exit %d, stderr %q; want 0 and no warning", code, stderr)
	}

	// A copy of the older run, as if another organization's.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "runs", "20261124T030000Z", "summary.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"o-exampleorg1"`)) {
		t.Fatal("testdata's summary does not name o-exampleorg1")
	}
	if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte(`"o-exampleorg1"`), []byte(`"o-otherorg222"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli("diff", "--out", dir, "--prefix", "", "20261124T030000Z", "20261125T030000Z")
	want := "orgaudit diff: run 20261124T030000Z audits organization o-otherorg222 and run 20261125T030000Z audits o-exampleorg1: compare two runs of one organization\n"
	if code != exitUsage || stderr != want || stdout != "" {
		t.Errorf("diff of two organizations: exit %d, stdout %q, stderr %q; want %d, %q", code, stdout, stderr, exitUsage, want)
	}
}

// TestSCPTakesANameOrSaysWhichItMeans: an OU's unique name gives what its
// id gives; a name two entities bear lists both.
func TestSCPTakesANameOrSaysWhichItMeans(t *testing.T) {
	ci, oi, ei := cli("scp", "--out", "testdata", "--prefix", "", "--json", "ou-ex12-prod0001")
	cn, on, en := cli("scp", "--out", "testdata", "--prefix", "", "--json", "Production")
	if ci != exitOK || cn != ci || on != oi || en != ei {
		t.Errorf("scp Production: exit %d, %q; want what scp ou-ex12-prod0001 gives (exit %d)", cn, en, ci)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "runs", "20261125T030000Z", "reports", "ou-ex12-sand0001.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	rep["entity"].(map[string]any)["name"] = "Production"
	b, _ = json.Marshal(rep)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli("scp", "--out", dir, "--prefix", "", "Production")
	if code != exitUsage || !strings.Contains(stderr, `"Production" names 2 entities`) || !strings.Contains(stderr, "ou-ex12-prod0001 (") || !strings.Contains(stderr, "ou-ex12-sand0001 (") {
		t.Errorf("scp of a shared name: exit %d, %q; want %d listing both OUs", code, stderr, exitUsage)
	}
}
