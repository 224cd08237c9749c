package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orgaudit/orgaudit/internal/sim"
)

// s3Fixture serves the simulator's S3 on a loopback port, points this
// process's AWS environment at it, and uploads the testdata runs under
// prefix with the real SDK client.
func s3Fixture(t *testing.T, bucket, prefix string) *s3.Client {
	t.Helper()
	startSim(t, sim.Options{Org: smallOrg(t), Buckets: []string{bucket}})
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg)
	err = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		key := prefix + filepath.ToSlash(strings.TrimPrefix(p, "testdata"+string(filepath.Separator)))
		_, err = client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestCommandsReadS3 runs scp, diff and report against S3 and checks that
// they print what they print for the same runs in a local directory.
func TestCommandsReadS3(t *testing.T) {
	const bucket, prefix = "audit-bucket", "team/orgaudit/"
	client := s3Fixture(t, bucket, prefix)
	tests := []struct {
		name string
		args []string
	}{
		{"scp", []string{"scp", "ou-ex12-prod0001"}},
		{"scp keep json", []string{"scp", "--keep", "glue", "--json", "--run", "20261124T030000Z", "r-ex12"}},
		{"diff", []string{"diff", "20261124T030000Z", "20261125T030000Z"}},
		{"report html", []string{"report", "--html", "-", "--previous", "20261124T030000Z", "20261125T030000Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var local, remote, errb bytes.Buffer
			if code := dispatch(context.Background(), append([]string{tc.args[0], "--out", "testdata", "--prefix", ""}, tc.args[1:]...), &local, &errb); code != exitOK {
				t.Fatalf("Got(local exit) = %d; want 0\n%s", code, errb.String())
			}
			if code := dispatch(context.Background(), append([]string{tc.args[0], "--bucket", bucket, "--prefix", prefix}, tc.args[1:]...), &remote, &errb); code != exitOK {
				t.Fatalf("Got(S3 exit) = %d; want 0\n%s", code, errb.String())
			}
			if !bytes.Equal(local.Bytes(), remote.Bytes()) {
				t.Errorf("Got(S3 output) = %q; want the local output %q", remote.String(), local.String())
			}
		})
	}
	t.Run("report writes back", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), []string{"report", "--bucket", bucket, "--prefix", prefix, "20261125T030000Z"}, &out, &errb); code != exitOK {
			t.Fatalf("Got(exit) = %d; want 0\n%s", code, errb.String())
		}
		want := "s3://" + bucket + "/" + prefix + "runs/20261125T030000Z/report.html"
		if got := strings.TrimSpace(out.String()); got != want {
			t.Errorf("Got(location) = %q; want %q", got, want)
		}
		key := prefix + "runs/20261125T030000Z/report.html"
		obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: strPtr(bucket), Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Body.Close()
		b, _ := io.ReadAll(obj.Body)
		if !bytes.Contains(b, []byte("20261125T030000Z")) || obj.ContentType == nil || !strings.HasPrefix(*obj.ContentType, "text/html") {
			t.Errorf("Got(stored page) = %d bytes, content type %v; want the run's HTML", len(b), obj.ContentType)
		}
	})
}

func strPtr(s string) *string { return &s }
