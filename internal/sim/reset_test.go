package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// resetPattern makes 40 calls without retries against a simulator that
// resets a share of connections, and returns which failed ('x') and which
// were answered ('.'). Every failure must be a connection failure with no
// HTTP answer, and there must be as many as the simulator counted.
func resetPattern(t *testing.T, rate float64, seed int64) string {
	t.Helper()
	s, url := startSim(t, sim.Options{ResetRate: rate, Seed: seed})
	ctx := testCtx(t)
	orgs := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	stsc := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	var pattern strings.Builder
	failed := 0
	for i := 0; i < 40; i++ {
		var err error
		if i%2 == 0 {
			_, err = orgs.ListRoots(ctx, &organizations.ListRootsInput{})
		} else {
			_, err = stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}
		if err == nil {
			pattern.WriteByte('.')
			continue
		}
		pattern.WriteByte('x')
		failed++
		var sendErr *smithyhttp.RequestSendError
		var respErr *smithyhttp.ResponseError
		if !errors.As(err, &sendErr) || (errors.As(err, &respErr) && respErr.HTTPStatusCode() != 0) {
			t.Errorf("Got(call %d error) = %T %v; want a connection failure without an HTTP answer", i, err, err)
		}
	}
	if f := s.Faults(); f.Resets != failed || f.Errors != 0 {
		t.Errorf("Got(Faults) = %+v; want %d resets (the failed calls), no errors", f, failed)
	}
	return pattern.String()
}

// TestConnectionResets: the simulator resets a deterministic share of
// connections without an answer; the Go SDK sees a connection failure,
// and its standard retryer rides over it.
func TestConnectionResets(t *testing.T) {
	t.Run("share and determinism", func(t *testing.T) {
		a, b := resetPattern(t, 0.5, 7), resetPattern(t, 0.5, 7)
		if a != b {
			t.Errorf("Got(patterns with one seed) = %s and %s; want equal", a, b)
		}
		if n := strings.Count(a, "x"); n < 8 || n > 32 {
			t.Errorf("Got(resets of 40 at rate 0.5) = %d (%s); want about 20", n, a)
		}
		if none := resetPattern(t, 0, 7); strings.Contains(none, "x") {
			t.Errorf("Got(pattern at rate 0) = %s; want no reset", none)
		}
	})

	t.Run("answers lost after the write", func(t *testing.T) {
		s, url := startSim(t, sim.Options{ResetRate: 1, Seed: 3, Buckets: []string{"audit"}})
		ctx := testCtx(t)
		client := s3.NewFromConfig(awsConfig(url, "test", "test", "", false))
		for i := 0; i < 20; i++ {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(fmt.Sprintf("k%02d", i)), Body: strings.NewReader("body")})
			if err == nil {
				t.Fatalf("Got(PutObject at reset rate 1) succeeded; want a connection failure")
			}
		}
		sim.SetResetRate(s, 0)
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("audit")})
		if err != nil {
			t.Fatal(err)
		}
		f := s.Faults()
		if got := len(out.Contents); got != f.LostAnswers || got == 0 || got == 20 {
			t.Errorf("Got(objects written although the client saw a reset) = %d; want the %d lost answers, some but not all of 20", got, f.LostAnswers)
		}
	})

	t.Run("standard retryer", func(t *testing.T) {
		s, url := startSim(t, sim.Options{ResetRate: 0.3, Seed: 5, Buckets: []string{"audit"}, IAM: iamreports.Options{MaxJobs: 100, TimeScale: 0.001}})
		ctx := testCtx(t)
		cfg := awsConfig(url, "test", "test", "", true)
		cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 10) }
		orgs, objects, reports := organizations.NewFromConfig(cfg), s3.NewFromConfig(cfg), iam.NewFromConfig(cfg)
		org := s.Org()
		for i, ou := range org.OUs[:10] {
			if _, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
				t.Errorf("ListRoots() with retries = %v", err)
			}
			key, body := fmt.Sprintf("k%02d", i), []byte(strings.Repeat(ou.ID, 100))
			if _, err := objects.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Errorf("PutObject(%s) with retries = %v", key, err)
				continue
			}
			got, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
			if err != nil {
				t.Errorf("GetObject(%s) with retries = %v", key, err)
				continue
			}
			b, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil || !bytes.Equal(b, body) {
				t.Errorf("Got(%s) = %d bytes, %v; want the %d written", key, len(b), err, len(body))
			}
			// A Generate whose answer was lost is repeated: IAM hands
			// back the job it started, so none is started twice.
			n, _ := org.Node(ou.ID)
			path := n.Path
			if _, err := reports.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(path)}); err != nil {
				t.Errorf("GenerateOrganizationsAccessReport(%s) with retries = %v", path, err)
			}
		}
		f := s.Faults()
		if f.Resets == 0 || f.LostAnswers == 0 {
			t.Errorf("Got(Faults) = %+v; want resets before and after the service acted", f)
		}
		if st := s.IAM().Stats(); st.JobsCreated != 10 {
			t.Errorf("Got(jobs created) = %d; want 10, one per entity", st.JobsCreated)
		}
	})
}

// TestFaultCounts: throttling and injected errors are counted by kind.
func TestFaultCounts(t *testing.T) {
	s, url := startSim(t, sim.Options{OrgTPS: 0.01, ErrorRate: 0.5, Seed: 7})
	ctx := testCtx(t)
	orgs := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	codes := map[string]int{}
	for i := 0; i < 10; i++ {
		_, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
		code, _ := apiError(t, err)
		codes[code]++
	}
	f := s.Faults()
	throttled := codes["TooManyRequestsException"]
	if f.Throttled["organizations"] != throttled || throttled < 8 || f.Errors != codes["InternalFailure"]+codes["ServiceUnavailable"] {
		t.Errorf("Got(Faults) = %+v; want the answers the client saw: %v", f, codes)
	}
}
