// Package iamreports is the simulator's IAM side for Organizations access
// reports: GenerateOrganizationsAccessReport and GetOrganizationsAccessReport
// over the IAM Query protocol, with asynchronous jobs, the per-account job
// limit, reuse of a recent identical job, job ownership, short pages and
// injected job failures. The report content comes from orgmodel.
//
// Answers, as IAM gave them when captured or, where no capture says, as
// IAM's documentation and API model suggest:
//   - Input that breaks the API model's constraints is ValidationError
//     (400), every violation in one message: a missing EntityPath or JobId,
//     an EntityPath outside 19..427 characters or not starting with
//     o-<org>/r-<root>, an OrganizationsPolicyId (empty included) not
//     matching p-<id>, a JobId not 36 long, MaxItems outside 1..1000, an
//     unknown SortKey, a Marker that cannot be decoded ("Invalid Marker.").
//     A Marker of another job or sort key is InvalidInput.
//   - Only principals of the management account may generate reports;
//     others get AccessDenied (403), as does a path in another
//     organization.
//   - A well-formed path to nothing (an unknown OU or account, a trailing
//     slash), an unknown policy id, or a caller without Organizations
//     permissions is accepted: the job ends FAILED with
//     INVALID_ORGANIZATIONS_ENTITY_PATH, INVALID_ORGANIZATIONS_POLICY or
//     ORGANIZATIONS_REPORT_ACCESS_DENIED. Injected failures end FAILED with
//     ServiceFailure.
//   - Too many running jobs for the caller's account, whoever started
//     them, is ReportGenerationLimitExceeded (409) "Maximum number of
//     concurrent jobs exceeded".
//   - An identical request (same owner, path, policy id) within 60 s of a
//     job's creation returns that job, running, completed or FAILED. The
//     report is the snapshot taken at creation.
//   - A job is readable only by its owner (NoSuchEntity otherwise): the
//     principal, or under Options.JobOwner OwnerSession the credentials,
//     that created it.
//   - An IN_PROGRESS answer carries JobStatus, JobCreationDate and
//     IsTruncated false only; a never-accessed row carries ServiceName,
//     ServiceNamespace and TotalAuthenticatedEntities 0 (and on iam the
//     Region us-east-1).
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
	"net/url"
	"regexp"
	"strings"
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
	// JobOwner says who may read a job: OwnerPrincipal (the default) or
	// OwnerSession.
	JobOwner string
}

// Job ownership models. Under OwnerPrincipal a job belongs to the IAM
// principal (user, or role session ARN) that created it: another access key
// of the same user reads it, another user gets NoSuchEntity. Under
// OwnerSession it belongs to the credentials that created it: a role
// session's temporary access key, so that another session, even of the
// same role and session name, or a refreshed set of credentials, gets
// NoSuchEntity.
const (
	OwnerPrincipal = "principal"
	OwnerSession   = "session"
)

// owner is whom a job of caller belongs to under the ownership model.
func (s *Service) owner(c wire.Caller) string {
	if s.opts.JobOwner == OwnerSession {
		return c.AccessKeyID
	}
	return c.ARN
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
	// SlotIdle sums, over the jobs created while none of their caller
	// account's jobs ran, the time since its last job ended: how long the
	// account's job slot sat idle between jobs (before the first job it is
	// not counted). Handovers counts those jobs.
	SlotIdle  time.Duration
	Handovers int
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

// injectedFailure is the ErrorDetails of the jobs Options.FailRate and
// Options.FailEntities fail: IAM's code for its own failures.
var injectedFailure = errorDetails{Code: "ServiceFailure", Message: "The service last accessed report could not be generated. Try again later."}

// Service serves the access-report actions of IAM. It is safe for
// concurrent use.
type Service struct {
	org       *orgmodel.Org
	opts      Options
	markerKey []byte

	mu      sync.Mutex
	seq     uint64
	jobs    map[string]*job
	recent  map[string]*job      // caller account + path + policy -> latest job
	running map[string][]*job    // caller account -> jobs not known to be done
	freeAt  map[string]time.Time // caller account -> wall clock its last job ends
	stats   Stats
}

type job struct {
	id       string
	account  string // caller account
	arn      string // the principal that created the job
	owner    string // who may read the job: see Service.owner
	path     string
	policyID string
	created  time.Time // Options.Now at creation
	started  time.Time // wall clock at creation, for the real wait
	duration time.Duration
	failure  *errorDetails // set: the job ends FAILED with these details

	report *orgmodel.Report // computed at creation: the job's snapshot
	sortMu sync.Mutex
	sorted map[string][]orgmodel.ServiceAccess
}

func (j *job) status(now time.Time) string {
	switch {
	case now.Sub(j.started) < j.duration:
		return StatusInProgress
	case j.failure != nil:
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
	if opts.JobOwner == "" {
		opts.JobOwner = OwnerPrincipal
	}
	key := sha256.Sum256([]byte("orgaudit iamreports marker " + org.ID))
	return &Service{
		org:       org,
		opts:      opts,
		markerKey: key[:],
		jobs:      map[string]*job{},
		recent:    map[string]*job{},
		running:   map[string][]*job{},
		freeAt:    map[string]time.Time{},
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
		result, err = s.generate(caller, r.Form)
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

// IAM's input constraints of GenerateOrganizationsAccessReport, from the API
// model. The path pattern is not anchored at the end: IAM accepts any
// suffix after a well-formed root segment, a trailing slash included, and
// fails the job instead.
var (
	entityPathPattern = regexp.MustCompile(`^o-[0-9a-z]{10,32}/r-[0-9a-z]{4,32}[0-9a-z-/]*`)
	policyIDPattern   = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)
)

const (
	entityPathPatternText = `^o-[0-9a-z]{10,32}\/r-[0-9a-z]{4,32}[0-9a-z-\/]*`
	policyIDPatternText   = `^p-[0-9a-zA-Z_]{8,128}$`
	minEntityPath         = 19
	maxEntityPath         = 427
)

// validateGenerate checks the request against the API model's constraints,
// reporting every violation in one ValidationError as IAM does.
func validateGenerate(path string, hasPath bool, policyID string, hasPolicy bool) error {
	if !hasPath {
		return validationError("Value null at 'entityPath' failed to satisfy constraint: Member must not be null")
	}
	var errs []string
	switch {
	case len(path) < minEntityPath:
		errs = append(errs, fmt.Sprintf("Value '%s' at 'entityPath' failed to satisfy constraint: Member must have length greater than or equal to %d", path, minEntityPath))
	case len(path) > maxEntityPath:
		errs = append(errs, fmt.Sprintf("Value '%s' at 'entityPath' failed to satisfy constraint: Member must have length less than or equal to %d", path, maxEntityPath))
	}
	if !entityPathPattern.MatchString(path) {
		errs = append(errs, fmt.Sprintf("Value '%s' at 'entityPath' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", path, entityPathPatternText))
	}
	// An empty policy id is a value, not an absent one.
	if hasPolicy && !policyIDPattern.MatchString(policyID) {
		errs = append(errs, fmt.Sprintf("Value '%s' at 'organizationsPolicyId' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", policyID, policyIDPatternText))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return validationError(errs[0])
	default:
		return &apiError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("%d validation errors detected: %s", len(errs), strings.Join(errs, "; "))}
	}
}

// Error details of jobs IAM accepts and then fails, as IAM words them.
var (
	failedPath   = errorDetails{Code: "INVALID_ORGANIZATIONS_ENTITY_PATH", Message: "The entity with the specified path does not exist in your organization."}
	failedPolicy = errorDetails{Code: "INVALID_ORGANIZATIONS_POLICY", Message: "The specified policy does not exist in your organization."}
	failedAccess = errorDetails{Code: "ORGANIZATIONS_REPORT_ACCESS_DENIED", Message: "You do not have the Organizations permissions required to generate this report."}
)

func (s *Service) generate(caller wire.Caller, form url.Values) (any, error) {
	s.mu.Lock()
	s.stats.GenerateCalls++
	s.mu.Unlock()
	path, policyID := form.Get("EntityPath"), form.Get("OrganizationsPolicyId")
	if err := validateGenerate(path, form.Has("EntityPath"), policyID, form.Has("OrganizationsPolicyId")); err != nil {
		return nil, err
	}
	if caller.Account != s.org.ManagementAccountID {
		return nil, &apiError{http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: %s is not authorized to perform: iam:GenerateOrganizationsAccessReport: only the management account of the organization can generate Organizations access reports", caller.ARN)}
	}
	if orgID, _, _ := strings.Cut(path, "/"); orgID != s.org.ID {
		return nil, &apiError{http.StatusForbidden, "AccessDenied", "The organization ID in the specified entity path is different than your organization ID."}
	}
	if s.org.SCPDisabled {
		return nil, &apiError{http.StatusBadRequest, "InvalidInput", "Service control policies are not enabled for the organization root."}
	}
	// What IAM finds out only while the job runs ends it FAILED: an
	// entity or policy that does not exist, or a caller who may not read
	// the organization. The report itself is the snapshot of now.
	var failure *errorDetails
	var report *orgmodel.Report
	s.org.AdvanceTo(s.opts.Now()) // an organization with a daily model lives on with the clock
	n, err := s.org.ResolvePath(path)
	switch {
	case err != nil:
		failure = &failedPath
	case caller.NoOrganizationsAccess:
		failure = &failedAccess
	default:
		if report, err = s.org.AccessReport(path, policyID); err != nil {
			failure = &failedPolicy // the path resolved, so the policy is what is missing
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now, wall := s.opts.Now(), time.Now()
	key := s.owner(caller) + "\x00" + path + "\x00" + policyID
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
		return nil, &apiError{http.StatusConflict, "ReportGenerationLimitExceeded", "Maximum number of concurrent jobs exceeded"}
	}
	s.seq++
	id := jobID(s.seq, caller.Account, path, policyID)
	j := &job{
		id: id, account: caller.Account, arn: caller.ARN, owner: s.owner(caller), path: path, policyID: policyID,
		created: now, started: wall, report: report, failure: failure,
	}
	switch {
	case failure != nil:
		j.duration = s.scale(failedJobLatency)
	default:
		j.duration = s.latency(id, len(report.Services), s.org.CountAccountsUnder(n.ID))
		if s.fails(id, n) {
			j.failure = &injectedFailure
		}
	}
	stuck := failure == nil && names(s.opts.StuckEntities, n)
	if stuck {
		j.duration = stuckFor
	}
	s.jobs[id] = j
	s.recent[key] = j
	if free, ok := s.freeAt[caller.Account]; ok && len(active) == 0 {
		s.stats.SlotIdle += max(wall.Sub(free), 0)
		s.stats.Handovers++
	}
	s.running[caller.Account] = append(active, j)
	s.stats.JobsCreated++
	if !stuck {
		s.stats.JobDuration += j.duration
		if end := wall.Add(j.duration); end.After(s.freeAt[caller.Account]) {
			s.freeAt[caller.Account] = end
		}
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

// latency is the scaled time a job runs. By default it grows with the
// services the report lists and, less, with the accounts whose data it
// reads, as IAM's jobs were seen to take: about 2 s for a 3-service policy
// report, 8 s for the management account (every service, one account) and
// 11 s for a 455-service OU report; a deterministic jitter of ±5% on top.
func (s *Service) latency(id string, services, accounts int) time.Duration {
	if s.opts.Latency != nil {
		return s.scale(s.opts.Latency(accounts))
	}
	svc := math.Min(1, float64(services)/455)
	acct := math.Min(1, math.Log10(1+float64(accounts))/1.5) // saturates at about 30 accounts
	sec := (1.6 + svc*(6.4+3*acct)) * (0.95 + 0.1*unit("latency", id))
	return s.scale(time.Duration(sec * float64(time.Second)))
}

// failedJobLatency is how long a job IAM accepted for an entity or policy
// that does not exist runs before it is FAILED.
const failedJobLatency = time.Second

func (s *Service) scale(d time.Duration) time.Duration {
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
