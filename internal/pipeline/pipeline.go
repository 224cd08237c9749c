// Package pipeline is the audit itself: the three steps the state machine
// (and the CLI) call in a loop — Start, then Check and Store until Store
// says done. Each step loads the run manifest, does as much as its budget
// allows, saves the manifest and returns the small State the state machine
// carries; all data lives in the store.
//
// Decisions that shape the output:
//   - Scope: without entityPaths, the root and every OU, plus every account
//     with includeAccounts. With entityPaths, exactly the listed entities,
//     plus, with includeAccounts, every account in their subtrees (an OU
//     path with includeAccounts audits the OU and its accounts).
//   - includePolicies adds one report per (entity in scope, SCP attached to
//     it directly), FullAWSAccess included: IAM treats it like any SCP, and
//     its report shows the use of everything it lets through at that
//     attachment. The management account gets no policy reports, since IAM
//     ignores the policy id for it (SCPs do not limit it); its plain report
//     lists every service.
//   - Every entity ends with exactly one report file: a failed job (or one
//     that could not run) gets a report with job.status FAILED, job.error
//     and no services, and is listed in the summary's errors.
//   - A run id that already has a manifest resumes that run: its settings
//     must match (else InvalidInput naming the field), entities already
//     stored keep their reports, failed ones are tried again, and the final
//     step rewrites the same documents.
//   - latest.json only ever moves forward (a run that finished earlier than
//     the one it points to does not replace it) and is not moved by a FAILED
//     run.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

// State is the Step Functions payload between steps: small, it never grows
// with the organization.
type State struct {
	RunID       string `json:"runId"`
	ManifestKey string `json:"manifestKey"`
	Total       int    `json:"total"`
	Completed   int    `json:"completed"`
	Failed      int    `json:"failed"`
	Running     int    `json:"running"`
	Queued      int    `json:"queued"`
	// Throttled counts throttled and 409 answers so far.
	Throttled int `json:"throttled"`
	// WaitSeconds is how long the Wait state should wait before Check.
	WaitSeconds int  `json:"waitSeconds"`
	Done        bool `json:"done"`
	// Walking says the organization walk is not finished: the state
	// machine calls Start again (after WaitSeconds) before any Check.
	// WalkedOUs, WalkedAccounts and WalkCalls tell how far it got.
	Walking        bool `json:"walking"`
	WalkedOUs      int  `json:"walkedOUs,omitempty"`
	WalkedAccounts int  `json:"walkedAccounts,omitempty"`
	WalkCalls      int  `json:"walkCalls,omitempty"`
	// Error is set by the state machine's Catch (ResultPath $.error).
	Error *StepError `json:"error,omitempty"`
	// Caught is set on the failure path by the state machine's Caught
	// state (ResultPath $.caught): the execution's redrive count when the
	// error was caught, so that the AuditFailed task can tell a redrive of
	// the failed execution from the failure itself.
	Caught *Caught `json:"caught,omitempty"`
	// RecordError is set by RecordFailure's Catch when the FAILED summary
	// could not be written.
	RecordError *StepError `json:"recordError,omitempty"`
}

// Caught is what the state machine's Caught state records.
type Caught struct {
	RedriveCount int `json:"redriveCount"`
}

// StepError is the error object Step Functions' Catch records.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// StartEvent is Start's input: the execution's name and input.
type StartEvent struct {
	ExecutionName string          `json:"executionName"`
	Input         json.RawMessage `json:"input"`
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Orgs   orgwalk.API
	IAM    accessreport.API
	Store  objstore.Store
	Now    func() time.Time // timestamps in documents (startedAt, completedAt); nil: time.Now
	Logger *slog.Logger     // nil: discard
	// Notifier is told, once per run, about the services newly used since
	// the previous run; nil: nobody is.
	Notifier Notifier
}

// Notifier publishes the changes of a finished run (see package notify).
// It returns how many messages it sent.
type Notifier interface {
	FirstUse(ctx context.Context, runID, orgID string, changes *reportdoc.Changes, entries []findings.Entry) (int, error)
}

// Pipeline runs the steps of audit runs.
type Pipeline struct {
	cfg      config.Config
	store    objstore.Store
	walker   *orgwalk.Walker
	reports  *accessreport.Client
	now      func() time.Time
	log      *slog.Logger
	notifier Notifier
	tune     tuning
}

// tuning holds the pacing constants; tests shrink some of them.
type tuning struct {
	pollFloor     time.Duration // shortest wait between polls of a job
	pollCap       time.Duration // longest wait between polls of an overdue job
	firstEstimate time.Duration // job duration assumed before any was seen
	saveEvery     time.Duration // manifest save interval inside a step
	storeBatch    int           // Check hands over to Store once this many reports wait
	storeInCheck  bool          // Check stores finished reports while it waits for running jobs
	partRows      int           // rows per Athena part file (about)
	transientMax  int           // consecutive transient failures before a step gives up
	backoff       backoff.Policy
	writers       int           // parallel report writes in the failure path
	jobTimeout    time.Duration // a job running longer is given up (started again once)
	handOver      bool          // send the next Generate at the running job's predicted end (handover.go)
}

var defaultTuning = tuning{
	pollFloor:     50 * time.Millisecond,
	pollCap:       2 * time.Second,
	firstEstimate: time.Second,
	saveEvery:     2 * time.Second,
	storeBatch:    1000, // large: loop iterations (billed transitions) follow job time, not entity count
	storeInCheck:  true,
	partRows:      100_000,
	transientMax:  6,
	backoff:       backoff.Policy{Base: 500 * time.Millisecond, Cap: 30 * time.Second},
	writers:       16,
	jobTimeout:    30 * time.Minute,
	handOver:      true,
}

// New returns a pipeline for cfg.
func New(cfg config.Config, deps Deps) *Pipeline {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	p := &Pipeline{
		cfg:    cfg,
		store:  deps.Store,
		now:    now,
		log:    log,
		tune:   defaultTuning,
		walker: &orgwalk.Walker{API: deps.Orgs, Logger: log},

		notifier: deps.Notifier,
	}
	p.reports = &accessreport.Client{API: deps.IAM}
	return p
}

// budget returns when a step should stop starting work: the context's
// deadline minus a safety margin (10% plus 5 s, at most half the time
// left) to save the manifest, or Config.StepBudget from now without a
// deadline.
func (p *Pipeline) budget(ctx context.Context) time.Time {
	now := time.Now()
	if d, ok := ctx.Deadline(); ok {
		left := d.Sub(now)
		margin := min(left/10+5*time.Second, left/2)
		return now.Add(max(left-margin, 0))
	}
	b := p.cfg.StepBudget
	if b <= 0 {
		b = config.DefaultStepBudget
	}
	return now.Add(b)
}

// stateOf returns the payload for m.
func stateOf(m *manifest.Manifest, wait int, done bool) State {
	c := m.Counts()
	return State{
		RunID:       m.RunID,
		ManifestKey: m.Key(),
		Total:       c.Total,
		Completed:   c.Completed,
		Failed:      c.Failed,
		Running:     c.Running,
		Queued:      c.Queued,
		Throttled:   m.Throttled,
		WaitSeconds: wait,
		Done:        done,
	}
}

// waitSeconds estimates how long the Wait state should wait: 0 when
// reports wait to be stored (or nothing runs), else the seconds until the
// soonest a running job can be expected to finish, at least 1.
func (p *Pipeline) waitSeconds(m *manifest.Manifest) int {
	c := m.Counts()
	if c.Unstored > 0 || c.Running == 0 {
		return 0
	}
	now := time.Now()
	soonest := time.Duration(math.MaxInt64)
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.State != manifest.StateRunning {
			continue
		}
		left := p.earliest(m, e.PaceKind())
		if e.SentAt > 0 {
			left = time.UnixMilli(e.SentAt).Add(left).Sub(now)
		}
		soonest = min(soonest, left)
	}
	return max(1, int(math.Ceil(soonest.Seconds())))
}

// estimate is the expected duration of a job of the given kind.
func (p *Pipeline) estimate(m *manifest.Manifest, kind string) time.Duration {
	if ms := m.Pace[kind].Millis; ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return p.tune.firstEstimate
}

// earliest is how soon a job of the given kind can be expected to finish:
// the low envelope of those seen, or the first estimate.
func (p *Pipeline) earliest(m *manifest.Manifest, kind string) time.Duration {
	if ms := m.Pace[kind].Low; ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return p.tune.firstEstimate
}

// StepFailed is the error of a step that could not finish: storage or AWS
// failing after retries, or the caller's context ending. Running the step
// again is safe (it resumes from the manifest); the Lambda runtime reports
// the type name as errorType, so the state machine can retry it by name.
type StepFailed struct {
	Step  string // "start", "check" or "store"
	RunID string
	Err   error
}

func (e *StepFailed) Error() string {
	if e.RunID == "" {
		return e.Step + ": " + e.Err.Error()
	}
	return e.Step + " run " + e.RunID + ": " + e.Err.Error()
}

func (e *StepFailed) Unwrap() error { return e.Err }

// stepError returns err as the step's error: nil stays nil, InvalidInput
// stays itself (the state machine matches its name), anything else is a
// *StepFailed.
func stepError(step, runID string, err error) error {
	if err == nil {
		return nil
	}
	var inv *runinput.InvalidInput
	if errors.As(err, &inv) {
		return inv
	}
	var sf *StepFailed
	if errors.As(err, &sf) {
		return sf
	}
	return &StepFailed{Step: step, RunID: runID, Err: err}
}

// saveCtx is the context for the last save of a step: it survives the
// caller's cancellation (the CLI's Ctrl-C) for a few seconds, so progress
// is not lost.
func saveCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}
