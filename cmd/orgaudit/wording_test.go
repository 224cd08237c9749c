package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestKeepRefusesUnknownNamespaces(t *testing.T) {
	store := []string{"--out", "testdata", "--prefix", ""}
	tests := []struct{ keep, want string }{
		{"nonsense", `orgaudit scp: --keep "nonsense" is not a service namespace orgaudit knows`},
		{"s3,ssoo", `--keep "ssoo" is not a service namespace orgaudit knows; did you mean sso?`},
	}
	for _, tt := range tests {
		for _, plan := range [][]string{nil, {"--plan"}} {
			args := append(append([]string{"scp", "--keep", tt.keep}, plan...), append(store, "ou-ex12-prod0001")...)
			code, stdout, stderr := cli(args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("orgaudit %v: exit %d, %q; want %d containing %q", args, code, stderr, exitUsage, tt.want)
			}
		}
	}
	if code, _, stderr := cli(append([]string{"scp", "--keep", "glue, s3"}, append(store, "ou-ex12-prod0001")...)...); code != exitOK {
		t.Errorf("scp --keep glue, s3: exit %d, %q; want 0", code, stderr)
	}
}

// TestSummaryLeavesOutNeverDenyServices: organizations, sso and support
// lead no "unused" ranking; the line after the table says they were left
// out. Counts of one read in the singular.
func TestSummaryLeavesOutNeverDenyServices(t *testing.T) {
	counts := []unusedService{
		{Namespace: "organizations", Name: "AWS Organizations", Allowed: 10, Entities: 9},
		{Namespace: "sso", Name: "AWS IAM Identity Center", Allowed: 10, Entities: 9},
		{Namespace: "support", Name: "AWS Support", Allowed: 10, Entities: 10},
		{Namespace: "sagemaker", Name: "Amazon SageMaker", Allowed: 10, Entities: 7},
		{Namespace: "glue", Name: "AWS Glue", Allowed: 1, Entities: 1},
	}
	var b bytes.Buffer
	printUnused(&b, counts, 1)
	out := b.String()
	table := out[strings.Index(out, "Top unused"):strings.Index(out, "(Left out")]
	for _, ns := range []string{"organizations", "sso", "support"} {
		if strings.Contains(table, ns) || strings.Contains(out[:strings.Index(out, "Top unused")], ns) {
			t.Errorf("a ranking lists the never-deny service %s:\n%s", ns, out)
		}
	}
	for _, want := range []string{
		"1 service is unused for 1 day in every report that lists it, e.g. glue.",
		"not accessed in 1 day",
		"sagemaker  7 of 10 reports",
		"(Left out: 3 unused services on the never-deny list, e.g. organizations, sso, support; orgaudit never suggests denying them.)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestSimLogsWarningsByDefault: a request leaves no line on stderr unless
// --log-level info asks for one.
func TestSimLogsWarningsByDefault(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantLines bool
	}{{nil, false}, {[]string{"--log-level", "info"}, true}} {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr lockedBuffer
		done := make(chan int, 1)
		go func() {
			done <- dispatch(ctx, append([]string{"sim", "--listen", "127.0.0.1:0", "--ous", "2", "--accounts", "3", "--depth", "1"}, tc.args...), &stdout, &stderr)
		}()
		var endpoint string
		for deadline := time.Now().Add(20 * time.Second); endpoint == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
				endpoint = m[1]
			}
		}
		if endpoint == "" {
			cancel()
			t.Fatalf("orgaudit sim %v printed no endpoint: %q %q", tc.args, stdout.String(), stderr.String())
		}
		for range 3 {
			if resp, err := http.Get(endpoint + "/"); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
		<-done
		if got := strings.Contains(stderr.String(), "request"); got != tc.wantLines {
			t.Errorf("orgaudit sim %v: request lines on stderr %v (%q); want %v", tc.args, got, stderr.String(), tc.wantLines)
		}
	}
}

// TestStoredRunCommandsCheckUnusedDays: a threshold out of range is
// refused when parsed, not ignored for the run's own.
func TestStoredRunCommandsCheckUnusedDays(t *testing.T) {
	for _, args := range [][]string{
		{"diff", "20261124T030000Z", "20261125T030000Z"},
		{"report", "--html", "-", "latest"},
		{"scp", "ou-ex12-prod0001"},
		{"whatif", "--policy", "p-FullAWSAccess", "--target", "ou-ex12-prod0001"},
	} {
		for _, days := range []string{"-5", "100000"} {
			a := append(append([]string{}, args...), "--out", "testdata", "--prefix", "", "--unused-days", days)
			code, stdout, stderr := cli(a...)
			want := `--unused-days "` + days + `": want a number of days in 1..400`
			if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
				t.Errorf("orgaudit %v: exit %d, %q; want %d containing %q", a, code, stderr, exitUsage, want)
			}
		}
		a := append(append([]string{}, args...), "--out", "testdata", "--prefix", "", "--unused-days", "30")
		if code, _, stderr := cli(a...); code == exitUsage {
			t.Errorf("orgaudit %v: exit %d, %q; want 30 days accepted", a, code, stderr)
		}
	}
}
