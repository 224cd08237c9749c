// Package iamreports is the simulator's IAM side for Organizations access
// reports: GenerateOrganizationsAccessReport and GetOrganizationsAccessReport
// over the IAM Query protocol, with asynchronous jobs, the per-account job
// limit, job ownership and injected job failures.
package iamreports

import (
	"net/http"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// Options tune the service.
type Options struct {
	// TimeScale multiplies the modelled job latency: 1 is realistic, 0.01
	// suits tests. Zero means 1.
	TimeScale float64
	// MaxJobs is how many IN_PROGRESS jobs one caller account may have;
	// zero means 1.
	MaxJobs int
	// FailRate is the fraction of jobs that end FAILED, chosen
	// deterministically by job id.
	FailRate float64
	// FailEntities are entity ids or paths whose jobs always end FAILED.
	FailEntities []string
	// ShortPageRate is the fraction of pages returned with fewer than
	// MaxItems items while IsTruncated is true.
	ShortPageRate float64
	// Now is the clock of reported dates; nil means time.Now.
	Now func() time.Time
	// Latency overrides the modelled job latency (before TimeScale).
	Latency func(accountsInScope int) time.Duration
}

// Stats counts what the service did.
type Stats struct {
	JobsCreated   int
	JobsCompleted int
	JobsFailed    int
	// JobDuration is the sum of the (scaled) durations of created jobs:
	// the least time a client must spend waiting for them.
	JobDuration   time.Duration
	GenerateCalls int
	GetCalls      int
	LimitExceeded int // 409 ReportGenerationLimitExceeded answers
}

// Service serves the access-report actions of IAM.
type Service struct {
	org  *orgmodel.Org
	opts Options
}

// New returns a service over org.
func New(org *orgmodel.Org, opts Options) *Service {
	return &Service{org: org, opts: opts}
}

// ServeHTTP handles one authenticated IAM Query request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wire.WriteQueryError(w, r, wire.IAMNamespace, http.StatusBadRequest, "InvalidAction", "not implemented yet")
}

// Stats returns the counters so far.
func (s *Service) Stats() Stats { return Stats{} }
