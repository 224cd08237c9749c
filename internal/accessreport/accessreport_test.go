package accessreport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// pagedAPI answers GetOrganizationsAccessReport from a list of pages keyed
// by marker ("" is the first page) and Generate from a list of errors.
type pagedAPI struct {
	pages    map[string]*iam.GetOrganizationsAccessReportOutput
	genErrs  []error
	gets     int
	maxItems []int32
}

func (a *pagedAPI) GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, _ ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error) {
	if len(a.genErrs) > 0 {
		err := a.genErrs[0]
		a.genErrs = a.genErrs[1:]
		return nil, err
	}
	return &iam.GenerateOrganizationsAccessReportOutput{JobId: aws.String("job-1")}, nil
}

func (a *pagedAPI) GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, _ ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error) {
	a.gets++
	a.maxItems = append(a.maxItems, aws.ToInt32(in.MaxItems))
	p, ok := a.pages[aws.ToString(in.Marker)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "InvalidInput", Message: "bad marker"}
	}
	return p, nil
}

func detail(ns string) types.AccessDetail {
	return types.AccessDetail{ServiceNamespace: aws.String(ns), ServiceName: aws.String(strings.ToUpper(ns)), TotalAuthenticatedEntities: aws.Int32(0)}
}

func page(status types.JobStatusType, truncated bool, marker string, ns ...string) *iam.GetOrganizationsAccessReportOutput {
	out := &iam.GetOrganizationsAccessReportOutput{JobStatus: status, IsTruncated: truncated, JobCreationDate: aws.Time(time.Unix(100, 0)), JobCompletionDate: aws.Time(time.Unix(105, 0)),
		NumberOfServicesAccessible: aws.Int32(1), NumberOfServicesNotAccessed: aws.Int32(3)}
	if marker != "" {
		out.Marker = aws.String(marker)
	}
	for _, n := range ns {
		out.AccessDetails = append(out.AccessDetails, detail(n))
	}
	return out
}

func fastClient(api API) *Client {
	return &Client{API: api, Backoff: backoff.Policy{Base: time.Millisecond, Cap: time.Millisecond}}
}

func TestFetchMergesShortPages(t *testing.T) {
	api := &pagedAPI{pages: map[string]*iam.GetOrganizationsAccessReportOutput{
		"":   page(types.JobStatusTypeCompleted, true, "m1", "s3", "ec2"),
		"m1": page(types.JobStatusTypeCompleted, true, "m2", "iam"),
		"m2": page(types.JobStatusTypeCompleted, false, "", "athena", "ec2"),
	}}
	r, err := fastClient(api).Fetch(context.Background(), "job-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Services {
		got = append(got, s.Namespace)
	}
	if want := "athena,ec2,iam,s3"; strings.Join(got, ",") != want {
		t.Errorf("Got(services) = %v; want %s (merged, sorted, no repeat)", got, want)
	}
	if r.Accessible != 1 || r.NotAccessed != 3 || !r.CompletedAt.Equal(time.Unix(105, 0)) {
		t.Errorf("Got(report) = %+v", r.Status)
	}
	for _, m := range api.maxItems {
		if m != MaxItems {
			t.Errorf("Got(MaxItems) = %d; want %d", m, MaxItems)
		}
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name  string
		pages map[string]*iam.GetOrganizationsAccessReportOutput
		want  string
	}{
		{"marker loop", map[string]*iam.GetOrganizationsAccessReportOutput{
			"":  page(types.JobStatusTypeCompleted, true, "a", "s3"),
			"a": page(types.JobStatusTypeCompleted, true, "a", "ec2"),
		}, "without a new marker"},
		{"truncated without marker", map[string]*iam.GetOrganizationsAccessReportOutput{
			"": page(types.JobStatusTypeCompleted, true, "", "s3"),
		}, "without a new marker"},
		{"status changes", map[string]*iam.GetOrganizationsAccessReportOutput{
			"":  page(types.JobStatusTypeCompleted, true, "a", "s3"),
			"a": page(types.JobStatusTypeFailed, false, ""),
		}, "status changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fastClient(&pagedAPI{pages: tt.pages}).Fetch(context.Background(), "job-1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Got(Fetch) error %v; want one saying %q", err, tt.want)
			}
		})
	}
}

func TestFetchNotCompleted(t *testing.T) {
	failed := page(types.JobStatusTypeFailed, false, "")
	failed.ErrorDetails = &types.ErrorDetails{Code: aws.String("ServiceFailure"), Message: aws.String("boom")}
	r, err := fastClient(&pagedAPI{pages: map[string]*iam.GetOrganizationsAccessReportOutput{"": failed}}).Fetch(context.Background(), "job-1")
	if err != nil || r.Status.Status != StatusFailed || r.Error == nil || r.Error.Code != "ServiceFailure" || len(r.Services) != 0 {
		t.Errorf("Got(Fetch of a FAILED job) = %+v, %v; want FAILED with ServiceFailure", r, err)
	}
}

func TestGenerateErrors(t *testing.T) {
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	limit := &smithy.GenericAPIError{Code: CodeLimitExceeded, Message: "too many"}
	retries := 0
	c := fastClient(&pagedAPI{genErrs: []error{throttle, throttle}})
	c.OnRetry = func(error) { retries++ }
	id, err := c.Generate(context.Background(), "o-abcdefghij/r-ab12", "")
	if err != nil || id != "job-1" || retries != 2 {
		t.Errorf("Got(Generate after throttling) = %q, %v, %d retries; want job-1 after 2", id, err, retries)
	}
	_, err = fastClient(&pagedAPI{genErrs: []error{limit}}).Generate(context.Background(), "o-abcdefghij/r-ab12", "p-12345678")
	if !errors.Is(err, ErrLimitExceeded) || backoff.Code(err) != CodeLimitExceeded {
		t.Errorf("Got(Generate at the limit) = %v; want ErrLimitExceeded with the IAM code", err)
	}
	nse := &smithy.GenericAPIError{Code: CodeNoSuchEntity, Message: "no"}
	_, err = fastClient(&pagedAPI{genErrs: []error{nse}}).Generate(context.Background(), "o-abcdefghij/r-ab12", "")
	if !IsNoSuchEntity(err) || ErrorOf(err).Code != CodeNoSuchEntity {
		t.Errorf("Got(Generate NoSuchEntity) = %v; want it recognised", err)
	}
}
