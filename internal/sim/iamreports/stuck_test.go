package iamreports_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestStuckJobs: a stuck entity's job stays IN_PROGRESS and holds its
// slot; other entities' jobs run as usual beside it when the limit allows.
func TestStuckJobs(t *testing.T) {
	tests := []struct {
		name  string
		stuck string
	}{
		{"by id", "ou-ab12-sandbox1"},
		{"by path", sandbox},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, iamreports.Options{MaxJobs: 2, StuckEntities: []string{tt.stuck},
				Latency: func(int) time.Duration { return 8 * time.Second }}) // 80 ms

			c := e.client("admin")
			stuck := generate(t, c, sandbox, "")
			if out := wait(t, c, generate(t, c, root, "")); out.JobStatus != types.JobStatusTypeCompleted {
				t.Errorf("Got(root job beside a stuck one) = %s; want COMPLETED", out.JobStatus)
			}
			out, err := c.GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(stuck)})
			if err != nil {
				t.Fatalf("GetOrganizationsAccessReport(stuck) = %v", err)
			}
			if out.JobStatus != types.JobStatusTypeInProgress || out.JobCompletionDate != nil || out.AccessDetails != nil {
				t.Errorf("Got(stuck job) = %s, completed %v, %d details; want IN_PROGRESS and nothing else", out.JobStatus, out.JobCompletionDate, len(out.AccessDetails))
			}
			// It holds one of the two slots.
			generate(t, c, payments, "")
			_, err = c.GenerateOrganizationsAccessReport(context.Background(), &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(prod)})
			if code, status := apiErr(t, err); code != "ReportGenerationLimitExceeded" || status != http.StatusConflict {
				t.Errorf("Got(third job beside a stuck and a running one) = %s %d; want ReportGenerationLimitExceeded 409", code, status)
			}
			if st := e.svc.Stats(); st.JobsCreated != 3 || st.JobDuration != 160*time.Millisecond {
				t.Errorf("Got(Stats) = %+v; want 3 jobs, the stuck one not in JobDuration", st)
			}
		})
	}
}
