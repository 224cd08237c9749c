package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// lockedBuffer collects a command's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

func TestSimCommandServesUntilInterrupted(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(credsFile, []byte(`[{"accessKeyId":"AKIAEXTRA","secretAccessKey":"extra-secret","arn":"arn:aws:iam::999999999999:user/auditor"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--ous", "6", "--accounts", "25", "--depth", "2", "--seed", "3",
			"--bucket", "audit", "--credentials", credsFile, "--time-scale", "0.01", "--log-level", "warn"}, &stdout, &stderr)
	}()
	var endpoint string
	deadline := time.Now().Add(20 * time.Second)
	for endpoint == "" {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			endpoint = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("orgaudit sim exited %d before serving: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("orgaudit sim printed no endpoint: %q", stdout.String())
		}
	}
	for _, want := range []string{"export AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "aws organizations list-roots", "25 accounts"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("Got(banner) = %q; want it to contain %q", stdout.String(), want)
		}
	}

	// The banner's exports are all a client needs: load the SDK's default
	// configuration from exactly them, in an otherwise empty environment.
	home := t.TempDir()
	for _, kv := range []string{"HOME=" + home, "AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_ENDPOINT_URL_S3=", "AWS_ENDPOINT_URL_STS=", "AWS_EC2_METADATA_DISABLED=true"} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	exports := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
			exports++
		}
	}
	if exports < 5 {
		t.Fatalf("Got(exported variables in the banner) = %d; want at least 5", exports)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatalf("LoadDefaultConfig() = %v", err)
	}
	roots, err := organizations.NewFromConfig(cfg).ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Errorf("ListRoots() = %v, %v; want one root", roots, err)
	}
	if _, err := s3.NewFromConfig(cfg).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("audit")}); err != nil {
		t.Errorf("HeadBucket(audit) = %v; want the --bucket created", err)
	}
	extra := cfg.Copy()
	extra.Credentials = credentials.NewStaticCredentialsProvider("AKIAEXTRA", "extra-secret", "")
	id, err := sts.NewFromConfig(extra).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:iam::999999999999:user/auditor" {
		t.Errorf("GetCallerIdentity() with --credentials = %v, %v; want the auditor", id, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("Got(exit code after interrupt) = %d; want %d (stderr %q)", code, exitOK, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("orgaudit sim did not stop after its context ended")
	}
}

func TestSimCommandRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	orgFile := filepath.Join(dir, "org.json")
	if err := os.WriteFile(orgFile, []byte(`{"id": "nope"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in the one-line error
	}{
		{"unknown flag", []string{"--nope"}, "unknown flag --nope (see orgaudit sim --help)"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"bad number", []string{"--ous", "many"}, `--ous "many": want a whole number`},
		{"too many OUs", []string{"--ous", "1001"}, "ous must be"},
		{"too deep", []string{"--depth", "6"}, "depth must be"},
		{"org and generator", []string{"--org", orgFile, "--accounts", "5"}, "exclude each other"},
		{"bad org file", []string{"--org", orgFile}, orgFile},
		{"missing org file", []string{"--org", filepath.Join(dir, "missing.json")}, "missing.json"},
		{"error rate", []string{"--error-rate", "1.5"}, "--error-rate"},
		{"reset rate", []string{"--reset-rate", "2"}, "--reset-rate"},
		{"fail jobs", []string{"--fail-jobs", "-0.1"}, "--fail-jobs"},
		{"time scale", []string{"--time-scale", "0"}, "--time-scale"},
		{"max jobs", []string{"--max-jobs", "0"}, "--max-jobs"},
		{"job owner", []string{"--job-owner", "role"}, `--job-owner "role": want principal or session`},
		{"negative tps", []string{"--iam-tps", "-1"}, "--iam-tps"},
		{"listen", []string{"--listen", "4566"}, "--listen"},
		{"bucket name", []string{"--bucket", "Bad_Bucket"}, "Bad_Bucket"},
		{"credentials file", []string{"--credentials", filepath.Join(dir, "none.json")}, "none.json"},
		{"as-of", []string{"--as-of", "yesterday"}, "--as-of"},
		{"log level", []string{"--log-level", "loud"}, "--log-level"},
		{"negative latency", []string{"--latency", "-30ms"}, "--latency"},
		{"jitter over latency", []string{"--latency", "30ms", "--latency-jitter", "50ms"}, "--latency-jitter 50ms is more than --latency 30ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), append([]string{"sim"}, tc.args...), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("Got(exit code of %v) = %d; want %d", tc.args, code, exitUsage)
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "orgaudit sim: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("Got(stderr of %v) = %q; want one line with %q", tc.args, stderr.String(), tc.want)
			}
		})
	}
}

func Example_simHelp() {
	dispatch(context.Background(), []string{"sim", "--help"}, os.Stdout, os.Stdout)
	// Output:
	// Usage: orgaudit sim [flags]
	//
	// Serves a simulated AWS Organization on one loopback endpoint that speaks the
	// real wire protocols of AWS Organizations, IAM access reports, STS and S3, so
	// the AWS CLI, the AWS SDKs and orgaudit itself run against it unchanged. It
	// prints the endpoint and the environment to use, then serves until interrupted.
	//
	// Credentials: access key "test", secret "test" (the management account's
	// administrator), every set AssumeRole issues, and those of --credentials FILE,
	// a JSON list: [{"accessKeyId": "…", "secretAccessKey": "…",
	// "arn": "arn:aws:iam::<account>:user/<name>"}].
	//
	// Flags:
	//   -accounts int
	//     	generated organization: number of accounts, the management account included (default 300)
	//   -as-of string
	//     	generated organization: the day its activity starts moving with the clock, YYYY-MM-DD (default: today, UTC)
	//   -bucket value
	//     	S3 bucket to create at start (repeatable)
	//   -credentials string
	//     	JSON file of extra credentials (see above)
	//   -daily-activity
	//     	generated organization: its activity moves on with the clock after --as-of, a fifth of the accounts active on a given day (false: it stands still at --as-of) (default true)
	//   -depth int
	//     	generated organization: OU levels under the root (1..5) (default 4)
	//   -error-rate float
	//     	fraction of requests answered with an injected 500 or 503 (0..1)
	//   -fail-entity value
	//     	entity id or path whose report jobs always end FAILED (repeatable)
	//   -fail-jobs float
	//     	fraction of report jobs that end FAILED (0..1)
	//   -iam-tps float
	//     	IAM requests per second before Throttling (0: unlimited)
	//   -job-owner string
	//     	who may read a report job: principal (the IAM user or role session ARN that created it) or session (only the credentials that created it) (default "principal")
	//   -latency duration
	//     	network round trip added to every request of every service, half each way (e.g. 30ms; 0: loopback)
	//   -latency-jitter duration
	//     	with --latency: each half varies uniformly within ±half of this (at most --latency)
	//   -listen string
	//     	address to listen on, host:port (port 0 picks a free one) (default "127.0.0.1:4566")
	//   -log-level string
	//     	log on stderr: debug, info (one line per request), warn (faults and refusals), error (default "warn")
	//   -max-jobs int
	//     	report jobs one account may have in progress, across callers, before ReportGenerationLimitExceeded (default 1)
	//   -org string
	//     	organization file to serve (JSON, see testdata/); default: generate one
	//   -org-tps float
	//     	Organizations requests per second before TooManyRequestsException (0: unlimited)
	//   -ous int
	//     	generated organization: number of OUs (0..1000) (default 40)
	//   -reset-rate float
	//     	fraction of requests whose connection is reset without an answer, half of them after the service acted (0..1)
	//   -seed int
	//     	generated organization and fault injection: seed (default 1)
	//   -short-pages float
	//     	fraction of report pages returned short with IsTruncated (0..1)
	//   -stuck-entity value
	//     	entity id or path whose report jobs never leave IN_PROGRESS (repeatable)
	//   -time-scale float
	//     	factor on IAM's realistic report job latency, about 2-11 s (0.01 for fast tests) (default 1)
	//
	// Examples:
	//   orgaudit sim
	//   orgaudit sim --listen 127.0.0.1:4566 --ous 200 --accounts 2000 --depth 5 --seed 42
	//   orgaudit sim --org testdata/org-small.json --time-scale 0.05 --bucket audit
	//   orgaudit sim --iam-tps 2 --org-tps 5 --error-rate 0.02 --reset-rate 0.01 --fail-jobs 0.1
	//
	// Exit codes: 0 stopped by SIGINT or SIGTERM, 1 could not serve, 2 usage error.
}
