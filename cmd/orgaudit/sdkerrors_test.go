package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/sim"
)

// TestStoreErrorsInOneLine reads runs from a bucket that does not exist:
// every command that reads stored runs says so in one line naming the
// bucket, not the SDK's operation error.
func TestStoreErrorsInOneLine(t *testing.T) {
	startSim(t, sim.Options{Org: smallOrg(t), Buckets: []string{"audit"}})
	for _, args := range [][]string{
		{"scp", "--bucket", "nobucket", "ou-ex12-prod0001"},
		{"diff", "--bucket", "nobucket", "r1", "r2"},
		{"report", "--bucket", "nobucket", "r1"},
		{"whatif", "--bucket", "nobucket", "--policy", "p-FullAWSAccess", "--target", "r-ex12"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitFailure || len(lines) != 1 || !strings.Contains(stderr, `bucket "nobucket" does not exist: check --bucket`) ||
			strings.Contains(stderr, "operation error") || stdout != "" {
			t.Errorf("orgaudit %v: exit %d, stderr %q; want %d and one line naming the bucket", args, code, stderr, exitFailure)
		}
	}
}

// TestNoCredentialsInOneLine runs the binary with no credentials anywhere:
// the whole of stderr is one line saying what to do, without the SDK's
// own warnings about the instance metadata service.
func TestNoCredentialsInOneLine(t *testing.T) {
	bin := orgauditBinary(t)
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "ORGAUDIT_") {
			env = append(env, kv)
		}
	}
	// An instance metadata service that refuses a token (as one with IMDSv1
	// blocked does) and has no role: the SDK then logs that it falls back
	// to IMDSv1, on its own logger.
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}))
	defer imds.Close()
	env = append(env, "HOME="+home, "AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds.URL)
	for _, args := range [][]string{
		{"run", "--out", t.TempDir(), "--progress", "none"},
		{"scp", "--bucket", "audit", "ou-ex12-prod0001"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if code := exitCode(err); code != exitFailure || strings.Count(stderr.String(), "\n") != 1 ||
			!strings.Contains(stderr.String(), "no AWS credentials found: use --profile NAME") {
			t.Errorf("orgaudit %v with no credentials: exit %d, stderr %q; want %d and one line", args, code, stderr.String(), exitFailure)
		}
	}
}
