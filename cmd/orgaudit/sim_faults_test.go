package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// serveSim runs `orgaudit sim` with args on a free port until the test
// ends and returns its endpoint.
func serveSim(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, append([]string{"sim", "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("orgaudit sim %v exited %d before serving: %s", args, code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("orgaudit sim %v printed no endpoint: %q", args, stdout.String())
		}
	}
}

// TestSimFaultFlags: --reset-rate resets connections without an answer
// and --stuck-entity keeps that entity's report jobs IN_PROGRESS.
func TestSimFaultFlags(t *testing.T) {
	ctx := context.Background()
	cfg := func(endpoint string, retries int) aws.Config {
		c := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
		c.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), retries) }
		return c
	}
	t.Run("reset rate", func(t *testing.T) {
		endpoint := serveSim(t, "--ous", "2", "--accounts", "3", "--depth", "1", "--reset-rate", "1")
		_, err := sts.NewFromConfig(cfg(endpoint, 1)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		var sendErr *smithyhttp.RequestSendError
		if !errors.As(err, &sendErr) {
			t.Errorf("Got(GetCallerIdentity at --reset-rate 1) = %v; want a connection failure", err)
		}
	})
	t.Run("stuck entity", func(t *testing.T) {
		endpoint := serveSim(t, "--org", "../../testdata/org-small.json", "--time-scale", "0.001", "--stuck-entity", "ou-ab12-sandbox1")
		c := iam.NewFromConfig(cfg(endpoint, 3))
		out, err := c.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String("o-a1b2c3d4e5/r-ab12/ou-ab12-sandbox1")})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // a normal job takes at most 8 ms at this scale
		got, err := c.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: out.JobId})
		if err != nil || got.JobStatus != iamtypes.JobStatusTypeInProgress {
			t.Errorf("Got(stuck job) = %v, %v; want IN_PROGRESS", got, err)
		}
		// With --max-jobs 1 it holds the account's only slot.
		_, err = c.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String("o-a1b2c3d4e5/r-ab12/ou-ab12-workload")})
		var limit *iamtypes.ReportGenerationLimitExceededException
		if !errors.As(err, &limit) {
			t.Errorf("Got(another job beside the stuck one) = %v; want ReportGenerationLimitExceeded", err)
		}
	})
}
