// Package accessreport drives IAM's Organizations access report jobs:
// GenerateOrganizationsAccessReport starts one, GetOrganizationsAccessReport
// polls it and, once COMPLETED, reads it page by page. Throttling and
// server errors are retried here with backoff; the concurrency limit
// (ReportGenerationLimitExceeded, HTTP 409) is returned to the caller as
// ErrLimitExceeded, because the caller is the one that knows when a slot
// frees and can keep polling its running jobs meanwhile.
package accessreport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// API is the part of *iam.Client the package uses.
type API interface {
	GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error)
	GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error)
}

var _ API = (*iam.Client)(nil)

// IAM error codes the pipeline reacts to.
const (
	CodeLimitExceeded = "ReportGenerationLimitExceeded"
	CodeNoSuchEntity  = "NoSuchEntity"
)

// ErrLimitExceeded wraps IAM's ReportGenerationLimitExceeded: too many
// report jobs are running for the account.
var ErrLimitExceeded = errors.New("report generation limit exceeded")

// MaxItems is the page size of a report read, IAM's maximum.
const MaxItems = 1000

// maxPages bounds one report read: a report lists ~450 services, so even
// pages of one item end well before this; more means a marker loop.
const maxPages = 2000

// Job statuses.
const (
	StatusInProgress = string(types.JobStatusTypeInProgress)
	StatusCompleted  = string(types.JobStatusTypeCompleted)
	StatusFailed     = string(types.JobStatusTypeFailed)
)

// Client wraps the IAM API with retries.
type Client struct {
	API API
	// Backoff and Attempts govern retries of throttled and failed calls
	// (defaults backoff.Default, 8).
	Backoff  backoff.Policy
	Attempts int
	// OnRetry, when set, is called for every throttled or failed call
	// that is retried (progress counters).
	OnRetry func(err error)
}

// Status is a job's state as one poll saw it.
type Status struct {
	Status      string // IN_PROGRESS | COMPLETED | FAILED
	CreatedAt   time.Time
	CompletedAt time.Time
	Error       *reportdoc.Error // ErrorDetails of a FAILED job
}

// Report is a COMPLETED job's full report, every page merged, services
// sorted by namespace.
type Report struct {
	Status
	Accessible  int
	NotAccessed int
	Services    []reportdoc.Service
}

func (c *Client) retry(ctx context.Context, fn func() error) error {
	p, n := c.Backoff, c.Attempts
	if p.Base == 0 {
		p = backoff.Default
	}
	if n == 0 {
		n = 8
	}
	return backoff.Retry(ctx, p, n, func() error {
		err := fn()
		if err != nil && c.OnRetry != nil && backoff.IsTransient(err) {
			c.OnRetry(err)
		}
		return err
	})
}

// Generate starts a report job for entityPath (and the SCP policyID when
// not empty) and returns its id. A 409 is returned at once as
// ErrLimitExceeded (wrapped with IAM's error); throttling is retried.
func (c *Client) Generate(ctx context.Context, entityPath, policyID string) (string, error) {
	in := &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(entityPath)}
	if policyID != "" {
		in.OrganizationsPolicyId = aws.String(policyID)
	}
	var out *iam.GenerateOrganizationsAccessReportOutput
	err := c.retry(ctx, func() (err error) {
		out, err = c.API.GenerateOrganizationsAccessReport(ctx, in)
		return err
	})
	if err != nil {
		if backoff.Code(err) == CodeLimitExceeded {
			err = errors.Join(ErrLimitExceeded, err)
		}
		return "", fmt.Errorf("generate report for %s: %w", describe(entityPath, policyID), err)
	}
	if aws.ToString(out.JobId) == "" {
		return "", fmt.Errorf("generate report for %s: no job id in the answer", describe(entityPath, policyID))
	}
	return aws.ToString(out.JobId), nil
}

// Poll returns the job's status, reading as little of the report as IAM
// allows.
func (c *Client) Poll(ctx context.Context, jobID string) (Status, error) {
	var out *iam.GetOrganizationsAccessReportOutput
	err := c.retry(ctx, func() (err error) {
		out, err = c.API.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: aws.String(jobID), MaxItems: aws.Int32(1)})
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("poll report job %s: %w", jobID, err)
	}
	return statusOf(out), nil
}

// Fetch reads a job's report, every page (MaxItems 1000; IAM may return
// fewer with IsTruncated set). A job that is not COMPLETED comes back with
// its status and no services.
func (c *Client) Fetch(ctx context.Context, jobID string) (*Report, error) {
	var r *Report
	var marker *string
	seen := map[string]bool{}
	markers := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("read report job %s: more than %d pages", jobID, maxPages)
		}
		in := &iam.GetOrganizationsAccessReportInput{JobId: aws.String(jobID), MaxItems: aws.Int32(MaxItems), Marker: marker}
		var out *iam.GetOrganizationsAccessReportOutput
		err := c.retry(ctx, func() (err error) {
			out, err = c.API.GetOrganizationsAccessReport(ctx, in)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read report job %s page %d: %w", jobID, page+1, err)
		}
		st := statusOf(out)
		if r == nil {
			r = &Report{Status: st, Accessible: int(aws.ToInt32(out.NumberOfServicesAccessible)), NotAccessed: int(aws.ToInt32(out.NumberOfServicesNotAccessed))}
			if st.Status != StatusCompleted {
				return r, nil
			}
		} else if st.Status != StatusCompleted {
			return nil, fmt.Errorf("read report job %s page %d: status changed to %s", jobID, page+1, st.Status)
		}
		for _, d := range out.AccessDetails {
			ns := aws.ToString(d.ServiceNamespace)
			if seen[ns] {
				// A page boundary must not repeat a service; keep the first.
				continue
			}
			seen[ns] = true
			r.Services = append(r.Services, serviceOf(d))
		}
		if !out.IsTruncated {
			break
		}
		m := aws.ToString(out.Marker)
		if m == "" || markers[m] {
			return nil, fmt.Errorf("read report job %s page %d: truncated without a new marker", jobID, page+1)
		}
		markers[m] = true
		marker = aws.String(m)
	}
	sort.Slice(r.Services, func(i, j int) bool { return r.Services[i].Namespace < r.Services[j].Namespace })
	return r, nil
}

func statusOf(out *iam.GetOrganizationsAccessReportOutput) Status {
	s := Status{Status: string(out.JobStatus), CreatedAt: aws.ToTime(out.JobCreationDate), CompletedAt: aws.ToTime(out.JobCompletionDate)}
	if out.JobStatus == types.JobStatusTypeFailed {
		e := &reportdoc.Error{Code: "JobFailed", Message: "the report job failed without details"}
		if d := out.ErrorDetails; d != nil {
			if c := aws.ToString(d.Code); c != "" {
				e.Code = c
			}
			if m := aws.ToString(d.Message); m != "" {
				e.Message = m
			}
		}
		s.Error = e
	}
	return s
}

func serviceOf(d types.AccessDetail) reportdoc.Service {
	s := reportdoc.Service{
		Namespace:                  aws.ToString(d.ServiceNamespace),
		Name:                       aws.ToString(d.ServiceName),
		Region:                     nonEmpty(d.Region),
		EntityPath:                 nonEmpty(d.EntityPath),
		TotalAuthenticatedEntities: int(aws.ToInt32(d.TotalAuthenticatedEntities)),
	}
	if d.LastAuthenticatedTime != nil {
		s.LastAuthenticated = reportdoc.NewTime(*d.LastAuthenticatedTime)
	}
	return s
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	v := *s
	return &v
}

func describe(path, policyID string) string {
	if policyID == "" {
		return path
	}
	return path + " with " + policyID
}

// IsNoSuchEntity reports whether err is IAM's NoSuchEntity: for a job id,
// the job does not exist for this principal (another principal created it,
// or it expired).
func IsNoSuchEntity(err error) bool { return backoff.Code(err) == CodeNoSuchEntity }

// ErrorOf turns err into the recorded form: the AWS error code when there
// is one, else "InternalError", and the message.
func ErrorOf(err error) *reportdoc.Error {
	code := backoff.Code(err)
	if code == "" {
		code = "InternalError"
	}
	return &reportdoc.Error{Code: code, Message: err.Error()}
}

// Pin returns api bound to one set of credentials, fetched afresh now, so
// that every call of a step signs with the same session: IAM may scope a
// report job to the credentials that created it, so a job must be
// generated, polled and read with one set, and a credential refresh in the
// middle of a step would orphan its jobs. api is returned as it is when it
// is not an *iam.Client (a test double) or has no credentials.
func Pin(ctx context.Context, api API) (API, error) {
	c, ok := api.(*iam.Client)
	if !ok {
		return api, nil
	}
	o := c.Options()
	if o.Credentials == nil {
		return api, nil
	}
	// A cached set may be close to its expiry; a fresh one lasts the step
	// (an assumed role's session lasts 15 minutes at least, a step less).
	if cache, ok := o.Credentials.(*aws.CredentialsCache); ok {
		cache.Invalidate()
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials for IAM: %w", err)
	}
	o.Credentials = pinned{creds}
	return iam.New(o), nil
}

// PinOnFirstCall returns api that pins its credentials (Pin) at its first
// call and uses that set for every later one, so that a step that makes no
// IAM call fetches none. A failure to fetch them falls back to api itself,
// whose calls then report the error.
func PinOnFirstCall(api API) API { return &lazyPin{api: api} }

type lazyPin struct {
	api    API
	once   sync.Once
	pinned API
}

func (l *lazyPin) get(ctx context.Context) API {
	l.once.Do(func() {
		l.pinned = l.api
		if p, err := Pin(ctx, l.api); err == nil {
			l.pinned = p
		}
	})
	return l.pinned
}

func (l *lazyPin) GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error) {
	return l.get(ctx).GenerateOrganizationsAccessReport(ctx, in, optFns...)
}

func (l *lazyPin) GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error) {
	return l.get(ctx).GetOrganizationsAccessReport(ctx, in, optFns...)
}

// pinned is a credentials provider that always answers one set.
type pinned struct{ creds aws.Credentials }

func (p pinned) Retrieve(context.Context) (aws.Credentials, error) { return p.creds, nil }
