package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/orgaudit/orgaudit/internal/accessreport"
)

// CountingIAM wraps the IAM API and tells polls (MaxItems 1, as
// accessreport.Client.Poll asks) from page reads.
type CountingIAM struct {
	accessreport.API
	polls, pages atomic.Int64

	// Record, when set, keeps a timeline of the calls (for diagnosis).
	Record bool
	mu     sync.Mutex
	events []Event
}

// Event is one call of the timeline: when it returned, what it was, the
// job it concerned and the status IAM answered.
type Event struct {
	At     time.Time
	Op     string // generate | poll | page
	JobID  string
	Status string
}

// Events returns the recorded timeline.
func (c *CountingIAM) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

func (c *CountingIAM) record(op, job, status string) {
	if !c.Record {
		return
	}
	c.mu.Lock()
	c.events = append(c.events, Event{At: time.Now(), Op: op, JobID: job, Status: status})
	c.mu.Unlock()
}

// GenerateOrganizationsAccessReport passes the call on and records it.
func (c *CountingIAM) GenerateOrganizationsAccessReport(ctx context.Context, in *iam.GenerateOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GenerateOrganizationsAccessReportOutput, error) {
	out, err := c.API.GenerateOrganizationsAccessReport(ctx, in, optFns...)
	if err == nil {
		c.record("generate", aws.ToString(out.JobId), "")
	} else {
		c.record("generate", "", "error")
	}
	return out, err
}

// GetOrganizationsAccessReport counts the call and passes it on.
func (c *CountingIAM) GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error) {
	op := "page"
	if aws.ToInt32(in.MaxItems) == 1 {
		op = "poll"
		c.polls.Add(1)
	} else {
		c.pages.Add(1)
	}
	out, err := c.API.GetOrganizationsAccessReport(ctx, in, optFns...)
	if err == nil {
		c.record(op, aws.ToString(in.JobId), string(out.JobStatus))
	}
	return out, err
}

// Polls returns the status reads so far.
func (c *CountingIAM) Polls() int64 { return c.polls.Load() }

// Pages returns the page reads so far.
func (c *CountingIAM) Pages() int64 { return c.pages.Load() }
