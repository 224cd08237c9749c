package sim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestIAMThroughTheFrame checks what the frame adds to the IAM service:
// the caller it authenticated (jobs belong to their creator), throttling
// and the Query error shape.
func TestIAMThroughTheFrame(t *testing.T) {
	s, url := startSim(t, sim.Options{IAM: iamreports.Options{TimeScale: 0.001}})
	org := s.Org()
	ctx := testCtx(t)
	admin := iam.NewFromConfig(awsConfig(url, "test", "test", "", false))
	rootPath := org.ID + "/" + org.Root.ID
	gen, err := admin.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(rootPath)})
	if err != nil {
		t.Fatalf("GenerateOrganizationsAccessReport(%s) = %v", rootPath, err)
	}
	var report *iam.GetOrganizationsAccessReportOutput
	for deadline := time.Now().Add(20 * time.Second); ; {
		report, err = admin.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: gen.JobId, MaxItems: aws.Int32(1000)})
		if err != nil {
			t.Fatalf("GetOrganizationsAccessReport() = %v", err)
		}
		if report.JobStatus != iamtypes.JobStatusTypeInProgress || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if report.JobStatus != iamtypes.JobStatusTypeCompleted || len(report.AccessDetails) == 0 {
		t.Errorf("Got(report) = %s with %d services; want COMPLETED with services", report.JobStatus, len(report.AccessDetails))
	}

	// A session of another principal cannot read the admin's job.
	out, err := sts.NewFromConfig(awsConfig(url, "test", "test", "", false)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + org.ManagementAccountID + ":role/Reader"), RoleSessionName: aws.String("reader")})
	if err != nil {
		t.Fatalf("AssumeRole() = %v", err)
	}
	c := out.Credentials
	reader := iam.NewFromConfig(awsConfig(url, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), false))
	_, err = reader.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: gen.JobId})
	if code, status := apiError(t, err); code != "NoSuchEntity" || status != http.StatusNotFound {
		t.Errorf("Got(another principal reads the job) = %q %d; want %q %d", code, status, "NoSuchEntity", http.StatusNotFound)
	}

	// Unsigned and wrongly signed IAM requests are refused in the Query shape.
	_, err = iam.NewFromConfig(awsConfig(url, "test", "nope", "", false)).GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: gen.JobId})
	if code, status := apiError(t, err); code != "SignatureDoesNotMatch" || status != http.StatusForbidden {
		t.Errorf("Got(wrong secret) = %q %d; want %q %d", code, status, "SignatureDoesNotMatch", http.StatusForbidden)
	}
}

func TestIAMThrottling(t *testing.T) {
	_, url := startSim(t, sim.Options{IAMTPS: 0.01, IAM: iamreports.Options{TimeScale: 0.001}})
	ctx := testCtx(t)
	client := iam.NewFromConfig(awsConfig(url, "test", "test", "", false))
	in := &iam.GetOrganizationsAccessReportInput{JobId: aws.String("00000000-0000-0000-0000-000000000000")}
	_, first := client.GetOrganizationsAccessReport(ctx, in)
	if code, _ := apiError(t, first); code == "Throttling" {
		t.Fatalf("Got(first call) = %q; want it through the bucket", code)
	}
	_, err := client.GetOrganizationsAccessReport(ctx, in)
	if code, status := apiError(t, err); code != "Throttling" || status != http.StatusBadRequest {
		t.Errorf("Got(second call at 0.01 TPS) = %q %d; want %q %d", code, status, "Throttling", http.StatusBadRequest)
	}
}
