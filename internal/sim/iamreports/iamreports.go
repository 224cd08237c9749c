// Package iamreports is the simulator's IAM side for Organizations access
// reports: GenerateOrganizationsAccessReport and GetOrganizationsAccessReport
// over the IAM Query protocol, with asynchronous jobs, the per-account job
// limit, reuse of a recent identical job, job ownership, short pages and
// injected job failures. The report content comes from orgmodel.
//
// Answers, where IAM's documentation leaves room:
//   - Only principals of the management account may generate reports;
//     others get AccessDenied (403).
//   - A malformed entity path or policy id is InvalidInput (400); one that
//     names nothing is NoSuchEntity (404); constraint violations of the
//     API shapes (missing EntityPath or JobId, a JobId not 36 long,
//     MaxItems outside 1..1000, an unknown SortKey) are ValidationError
//     (400); too many running jobs for the caller's account is
//     ReportGenerationLimitExceeded (409). An altered marker, or one from
//     another job or sort key, is InvalidInput.
//   - An identical request (caller account, path, policy id) within 60 s of
//     a job's creation returns that job's id, running or not, even to
//     another principal of the account, who still cannot read it: a job is
//     readable only by the ARN that created it (NoSuchEntity otherwise).
//   - FAILED jobs carry ErrorDetails with code ServiceFailure.
//   - Sorting by last-authenticated time treats never-accessed services as
//     the oldest: first ascending, last descending; ties in namespace order.
package iamreports

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
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
	// zero means 1, what IAM allows in practice.
	MaxJobs int
	// FailRate is the fraction of jobs that end FAILED, chosen
	// deterministically from the job id.
	FailRate float64
	// FailEntities are entity ids or paths whose jobs always end FAILED.
	FailEntities []string
	// StuckEntities are entity ids or paths whose jobs never leave
	// IN_PROGRESS; like any running job they hold a slot of MaxJobs.
	StuckEntities []string
	// ShortPageRate is the fraction of pages returned with fewer than
	// MaxItems items while IsTruncated is true, as IAM may do.
	ShortPageRate float64
	// Now is the clock of reported dates and of the 60-second reuse
	// window; nil means time.Now. Jobs run in real time whatever it says.
	Now func() time.Time
	// Latency overrides the modelled job latency (before TimeScale).
	Latency func(accountsInScope int) time.Duration
}

// Stats counts what the service did.
type Stats struct {
	JobsCreated   int // jobs started (a reused job is not counted again)
	JobsCompleted int // jobs whose latency has passed and that succeeded
	JobsFailed    int // jobs whose latency has passed and that FAILED
	// JobDuration is the sum of the scaled durations of the created jobs:
	// with one job at a time, the least time a client spends waiting.
	JobDuration   time.Duration
	GenerateCalls int
	GetCalls      int
	LimitExceeded int // 409 ReportGenerationLimitExceeded answers
}

// Job states of IAM.
const (
	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// reuseWindow is how long IAM answers an identical request with the job it
// already started.
const reuseWindow = 60 * time.Second

// Error details of FAILED jobs. IAM documents only that ErrorDetails
// carries a code and a message; ServiceFailure is IAM's code for its own
// failures.
const (
	failedCode    = "ServiceFailure"
	failedMessage = "The service last accessed report could not be generated. Try again later."
)

// Service serves the access-report actions of IAM. It is safe for
// concurrent use.
type Service struct {
	org       *orgmodel.Org
	opts      Options
	markerKey []byte

	mu      sync.Mutex
	seq     uint64
	jobs    map[string]*job
	recent  map[string]*job   // caller account + path + policy -> latest job
	running map[string][]*job // caller account -> jobs not known to be done
	stats   Stats
}

type job struct {
	id       string
	account  string // caller account
	arn      string // the only principal that may read the job
	path     string
	policyID string
	created  time.Time // Options.Now at creation
	started  time.Time // wall clock at creation, for the real wait
	duration time.Duration
	failed   bool

	once   sync.Once
	report *orgmodel.Report
	err    error
	sortMu sync.Mutex
	sorted map[string][]orgmodel.ServiceAccess
}

func (j *job) status(now time.Time) string {
	switch {
	case now.Sub(j.started) < j.duration:
		return StatusInProgress
	case j.failed:
		return StatusFailed
	default:
		return StatusCompleted
	}
}

// New returns a service answering for org.
func New(org *orgmodel.Org, opts Options) *Service {
	if opts.TimeScale <= 0 {
		opts.TimeScale = 1
	}
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := sha256.Sum256([]byte("orgaudit iamreports marker " + org.ID))
	return &Service{
		org:       org,
		opts:      opts,
		markerKey: key[:],
		jobs:      map[string]*job{},
		recent:    map[string]*job{},
		running:   map[string][]*job{},
	}
}

// Stats returns the counters so far.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	now := time.Now()
	for _, j := range s.jobs {
		switch j.status(now) {
		case StatusCompleted:
			st.JobsCompleted++
		case StatusFailed:
			st.JobsFailed++
		}
	}
	return st
}

// apiError is an IAM error answer.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func validationError(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", "1 validation error detected: " + msg}
}

// ServeHTTP handles one authenticated IAM Query request: a form-encoded
// POST (or GET) with Action and Version.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		wire.WriteQueryError(w, r, wire.IAMNamespace, http.StatusBadRequest, "MalformedQueryString", "the request body could not be parsed")
		return
	}
	action, version := r.Form.Get("Action"), r.Form.Get("Version")
	if version != "" && version != "2010-05-08" {
		wire.WriteQueryError(w, r, wire.IAMNamespace, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", action, version))
		return
	}
	caller, ok := wire.CallerFrom(r.Context())
	if !ok {
		wire.WriteQueryError(w, r, wire.IAMNamespace, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	var (
		result any
		err    error
	)
	switch action {
	case "GenerateOrganizationsAccessReport":
		result, err = s.generate(caller, r.Form.Get("EntityPath"), r.Form.Has("EntityPath"), r.Form.Get("OrganizationsPolicyId"))
	case "GetOrganizationsAccessReport":
		result, err = s.get(caller, r.Form)
	default:
		if version == "" {
			version = "2010-05-08"
		}
		err = &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, version)}
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		wire.WriteQueryError(w, r, wire.IAMNamespace, ae.status, ae.code, ae.message)
	case err != nil:
		wire.WriteQueryError(w, r, wire.IAMNamespace, http.StatusInternalServerError, "ServiceFailure", err.Error())
	default:
		writeResult(w, r, action, result)
	}
}

// orgError maps an orgmodel error to IAM's answer.
func orgError(err error) error {
	var oe *orgmodel.Error
	if !errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, orgmodel.ErrNoSuchEntity) {
		return &apiError{http.StatusNotFound, "NoSuchEntity", oe.Message}
	}
	return &apiError{http.StatusBadRequest, "InvalidInput", oe.Message}
}

func (s *Service) generate(caller wire.Caller, path string, hasPath bool, policyID string) (any, error) {
	s.mu.Lock()
	s.stats.GenerateCalls++
	s.mu.Unlock()
	if !hasPath {
		return nil, validationError("Value null at 'entityPath' failed to satisfy constraint: Member must not be null")
	}
	if caller.Account != s.org.ManagementAccountID {
		return nil, &apiError{http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: %s is not authorized to perform: iam:GenerateOrganizationsAccessReport: only the management account of the organization can generate Organizations access reports", caller.ARN)}
	}
	n, err := s.org.CheckReportInput(path, policyID)
	if err != nil {
		return nil, orgError(err)
	}
	inScope := s.org.CountAccountsUnder(n.ID)

	s.mu.Lock()
	defer s.mu.Unlock()
	now, wall := s.opts.Now(), time.Now()
	key := caller.Account + "\x00" + path + "\x00" + policyID
	if j, ok := s.recent[key]; ok && now.Sub(j.created) < reuseWindow {
		return generateResult{JobID: j.id}, nil
	}
	active := s.running[caller.Account][:0]
	for _, j := range s.running[caller.Account] {
		if j.status(wall) == StatusInProgress {
			active = append(active, j)
		}
	}
	s.running[caller.Account] = active
	if len(active) >= s.opts.MaxJobs {
		s.stats.LimitExceeded++
		return nil, &apiError{http.StatusConflict, "ReportGenerationLimitExceeded",
			"The request failed because the maximum number of concurrent requests for this account are already running."}
	}
	s.seq++
	id := jobID(s.seq, caller.Account, path, policyID)
	j := &job{
		id: id, account: caller.Account, arn: caller.ARN, path: path, policyID: policyID,
		created: now, started: wall,
		duration: s.latency(id, inScope),
		failed:   s.fails(id, n),
	}
	stuck := names(s.opts.StuckEntities, n)
	if stuck {
		j.duration = stuckFor
	}
	s.jobs[id] = j
	s.recent[key] = j
	s.running[caller.Account] = append(active, j)
	s.stats.JobsCreated++
	if !stuck {
		s.stats.JobDuration += j.duration
	}
	return generateResult{JobID: id}, nil
}

// jobID derives a UUID-shaped id from the request and the service's job
// sequence, so that equal simulators given equal requests agree.
func jobID(seq uint64, account, path, policyID string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s", seq, account, path, policyID)
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// unit maps a string to [0, 1) deterministically.
func unit(parts ...string) float64 {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return float64(binary.BigEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

// latency is the scaled time a job runs: by default 1 s plus up to 7 s
// growing with the logarithm of the accounts in scope (8 s at 10,000),
// with a deterministic jitter of ±5%, clamped to IAM's 1–8 s.
func (s *Service) latency(id string, accounts int) time.Duration {
	var d time.Duration
	if s.opts.Latency != nil {
		d = s.opts.Latency(accounts)
	} else {
		frac := math.Min(1, math.Log10(1+float64(accounts))/4)
		sec := (1 + 7*frac) * (0.95 + 0.1*unit("latency", id))
		d = time.Duration(math.Max(1, math.Min(8, sec)) * float64(time.Second))
	}
	return time.Duration(float64(d) * s.opts.TimeScale)
}

func (s *Service) fails(id string, n orgmodel.Node) bool {
	return names(s.opts.FailEntities, n) || (s.opts.FailRate > 0 && unit("fail", id) < s.opts.FailRate)
}

// stuckFor is how long a stuck job runs: longer than any run.
const stuckFor = 10000 * time.Hour

// names reports whether list holds n's id or path.
func names(list []string, n orgmodel.Node) bool {
	for _, e := range list {
		if e == n.ID || e == n.Path {
			return true
		}
	}
	return false
}
