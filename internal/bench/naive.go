package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/orgwalk"
)

// NaiveResult is what one naive run did.
type NaiveResult struct {
	Wall     time.Duration
	Entities int
	Polls    int // GetOrganizationsAccessReport calls that found the job running
}

// IAMAPI is the part of the IAM client the naive script uses.
type IAMAPI interface {
	GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error)
	GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// Naive audits the organization the way a short script would: list the
// entities, then for each one generate a report, sleep poll, ask until the
// job is done (sleeping poll between asks), read every page and write the
// report to dir. It relies on the SDK's retries for throttling and sleeps
// poll after ReportGenerationLimitExceeded.
func Naive(ctx context.Context, orgs orgwalk.API, client IAMAPI, includeAccounts bool, poll time.Duration, dir string) (NaiveResult, error) {
	var res NaiveResult
	begin := time.Now()
	w := &orgwalk.Walker{API: orgs}
	org, err := w.Begin(ctx)
	if err != nil {
		return res, err
	}
	org.Plan([]orgwalk.Entity{org.Root()}, true, includeAccounts, false)
	if err := w.Run(ctx, org); err != nil {
		return res, err
	}
	for _, e := range org.Entities {
		var jobID string
		for {
			out, err := client.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(e.Path)})
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ReportGenerationLimitExceeded" {
				time.Sleep(poll)
				continue
			}
			if err != nil {
				return res, fmt.Errorf("generate report for %s: %w", e.Path, err)
			}
			jobID = aws.ToString(out.JobId)
			break
		}
		var services []types.AccessDetail
		var marker *string
		for {
			if marker == nil {
				time.Sleep(poll)
			}
			out, err := client.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: aws.String(jobID), MaxItems: aws.Int32(1000), Marker: marker})
			if err != nil {
				return res, fmt.Errorf("get report %s: %w", jobID, err)
			}
			if out.JobStatus == types.JobStatusTypeInProgress {
				res.Polls++
				continue
			}
			services = append(services, out.AccessDetails...)
			if !out.IsTruncated {
				break
			}
			marker = out.Marker
		}
		b, err := json.Marshal(map[string]any{"path": e.Path, "jobId": jobID, "services": services})
		if err != nil {
			return res, err
		}
		if err := os.WriteFile(filepath.Join(dir, e.ID+".json"), b, 0o644); err != nil {
			return res, err
		}
		res.Entities++
	}
	res.Wall = time.Since(begin)
	return res, nil
}
