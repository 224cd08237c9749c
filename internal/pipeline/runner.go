package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/carryover"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// runner is one step's view of a run: the manifest plus the pacing state
// that lives only as long as the step.
type runner struct {
	p       *Pipeline
	m       *manifest.Manifest
	log     *slog.Logger
	reports accessreport.Client // a copy whose OnRetry counts into m

	running map[int]bool
	// queue holds the entities queued for a job in the order their jobs
	// start (initQueue); no queued entity before cursor.
	queue  []int
	cursor int
	// groups indexes the root and OUs for the carry decisions; undecided
	// lists the waiting accounts to look at again.
	groups    *carryover.Groups
	undecided []int
	nextPoll  map[int]time.Time
	lastSeen  map[int]time.Time // last poll that saw the job IN_PROGRESS

	notBefore   time.Time // no Generate before this (409 / throttling backoff)
	limitStreak int
	// floor is the current shortest poll interval: it doubles when IAM
	// throttles and decays back to tune.pollFloor as polls succeed.
	floor time.Duration

	// finished lists entities whose job ended (completed or failed) in
	// the order they did, for Check to store while it waits.
	finished []int

	dirty    bool
	lastSave time.Time
	// failing is set on the failure path: no new jobs start.
	failing bool

	// session names this step's credentials: the jobs it starts are
	// polled and read by it alone (see newRunner).
	session string
	// jobsUntil, when set, is the time by which a job started now must be
	// expected to have finished: a step starts no job it cannot finish.
	jobsUntil time.Time
	started   int // jobs this step started

	// ho is the hand-over to the next job (handover.go).
	ho handOver
}

// maxAbandoned is how many jobs of one entity may be left unfinished by
// the step that started them before the entity fails: a job that outlasts
// every step would otherwise be started again forever.
const maxAbandoned = 4

// newRunner returns the step's runner. IAM may scope a report job to the
// credentials that created it (a role session's key), so a step pins one
// set of credentials for all its IAM calls (pin) and touches no job another
// step started: such a job, still running or finished but not yet read, is
// started again by this step (IAM hands back the same job to the same
// principal within a minute, so this costs little where jobs belong to the
// principal).
func (p *Pipeline) newRunner(m *manifest.Manifest, log *slog.Logger) *runner {
	r := &runner{
		p: p, m: m, log: log,
		running:  map[int]bool{},
		nextPoll: map[int]time.Time{},
		lastSeen: map[int]time.Time{},
		lastSave: time.Now(),
		floor:    p.tune.pollFloor,
		session:  newSessionID(),
	}
	r.reports = *p.reports
	r.reports.OnRetry = func(err error) {
		r.ho.retries++
		if backoff.IsThrottle(err) {
			m.Throttled++
			r.dirty = true
			r.floor = min(2*r.floor, p.tune.pollCap)
		}
	}
	r.initQueue()
	for i := range m.Entities {
		switch e := &m.Entities[i]; e.State {
		case manifest.StateCompleted:
			if e.Freshness != "" {
				r.finished = append(r.finished, i) // carried: a copy to store, no job
				continue
			}
			r.abandoned(i)
		case manifest.StateRunning:
			// Another step's job: start it again here.
			r.abandoned(i)
		case manifest.StateFailed:
			r.finished = append(r.finished, i)
		}
	}
	return r
}

// pin binds the step's IAM calls to one set of credentials, fetched at
// the first of them: called before the step's first IAM call by the step
// that makes them (Check).
func (r *runner) pin() { r.reports.API = accessreport.PinOnFirstCall(r.reports.API) }

// abandoned requeues entity i, whose job another step started and did not
// finish reading; after maxAbandoned such jobs the entity fails.
func (r *runner) abandoned(i int) {
	e := &r.m.Entities[i]
	if e.Attempts >= maxAbandoned {
		r.fail(i, &reportdoc.Error{Code: codeJobNotFinished, Message: fmt.Sprintf(
			"report job %s was not finished by the step that started it, %d times: a job took longer than a step allows", e.JobID, e.Attempts)})
		return
	}
	r.entityLog(i).Info("report job of an earlier step; starting it again", "job_id", e.JobID, "state", e.State)
	prev := e.JobID
	r.requeue(i)
	// The old id stays: if IAM hands the same job back (same principal
	// within a minute), it is not another attempt.
	e.JobID, e.CreatedAt, e.CompletedAt = prev, nil, nil
}

// codeJobNotFinished is the error code of an entity whose jobs kept
// outlasting the steps that started them.
const codeJobNotFinished = "JobNotFinished"

func newSessionID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// opContext bounds the calls of a step: past the budget, but short of the
// caller's deadline so that the final save still fits.
func (r *runner) opContext(ctx context.Context, budget time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, budget.Add(d.Sub(budget)/2))
	}
	return context.WithCancel(ctx)
}

// stopped reports whether err ended the step's work: the caller's context
// is done (returned as the error) or the step's budget is (not an error).
func stopped(ctx, opCtx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	if opCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true, nil
	}
	return false, nil
}

func (r *runner) entityLog(i int) *slog.Logger {
	e := &r.m.Entities[i]
	l := r.log.With("entity", e.ID)
	if e.PolicyID != "" {
		l = l.With("policy_id", e.PolicyID)
	}
	return l
}

// nextQueued returns the index of the next queued entity in queue order,
// or -1.
func (r *runner) nextQueued() int {
	for ; r.cursor < len(r.queue); r.cursor++ {
		if i := r.queue[r.cursor]; r.m.Entities[i].State == manifest.StateQueued {
			return i
		}
	}
	return -1
}

func (r *runner) requeue(i int) {
	e := &r.m.Entities[i]
	e.State, e.JobID, e.SentAt, e.Error = manifest.StateQueued, "", 0, nil
	delete(r.running, i)
	delete(r.nextPoll, i)
	delete(r.lastSeen, i)
	r.requeued(i)
	r.dirty = true
}

func (r *runner) fail(i int, e *reportdoc.Error) {
	ent := &r.m.Entities[i]
	ent.State, ent.Error = manifest.StateFailed, e
	delete(r.running, i)
	delete(r.nextPoll, i)
	delete(r.lastSeen, i)
	r.finished = append(r.finished, i)
	r.dirty = true
	r.groupSettled(i)
	r.entityLog(i).Warn("report failed", "code", e.Code, "message", e.Message)
}

// failQueued fails every queued entity: the run cannot start jobs.
func (r *runner) failQueued(e *reportdoc.Error) {
	for i := range r.m.Entities {
		if r.m.Entities[i].State == manifest.StateQueued {
			r.fail(i, e)
		}
	}
}

// transient records a transient failure about entity i; too many in a row
// fail it. It returns the delay before trying again.
func (r *runner) transient(i int, what string, err error) time.Duration {
	e := &r.m.Entities[i]
	e.Errors++
	r.dirty = true
	if backoff.IsThrottle(err) {
		r.m.Throttled++
	}
	if e.Errors >= r.p.tune.transientMax {
		r.fail(i, &reportdoc.Error{Code: codeOr(err, "TransientFailure"), Message: fmt.Sprintf("%s failed %d times in a row: %v", what, e.Errors, err)})
		return 0
	}
	r.entityLog(i).Warn(what+" failed; will retry", "code", backoff.Code(err), "error", err.Error())
	return r.p.tune.backoff.Delay(e.Errors - 1)
}

func codeOr(err error, def string) string {
	if c := backoff.Code(err); c != "" {
		return c
	}
	return def
}

// startJobs starts queued jobs while the window has room and no backoff
// is pending, then, with the window full, hands over to the next job
// (handOver).
func (r *runner) startJobs(ctx, opCtx context.Context) error {
	if err := r.fillWindow(ctx, opCtx); err != nil {
		return err
	}
	return r.handOver(ctx, opCtx)
}

// fillWindow starts queued jobs while the window has room and no backoff
// is pending.
func (r *runner) fillWindow(ctx, opCtx context.Context) error {
	if r.failing {
		return nil
	}
	r.decide()
	now := time.Now()
	for len(r.running) < r.m.Settings.MaxConcurrentJobs && !now.Before(r.notBefore) {
		i := r.nextQueued()
		if i < 0 {
			return nil
		}
		e := &r.m.Entities[i]
		if r.outOfBudget(e, now) {
			if len(r.running) == 0 {
				r.exhaust()
			}
			return nil // the running jobs end first: their reports count
		}
		if !r.canFinish(e, now) && (len(r.running) > 0 || r.started > 0) {
			return nil // but a step always starts one, or a short one never would
		}
		jobID, err := r.generate(opCtx, e)
		now = time.Now()
		if err != nil {
			if stop, cerr := stopped(ctx, opCtx, err); stop {
				return cerr
			}
			switch {
			case errors.Is(err, accessreport.ErrLimitExceeded):
				// Someone else's job holds the slot (or one of ours that a
				// crash forgot): wait for it, a little longer each time.
				r.m.Throttled++
				r.dirty = true
				if r.m.LimitedSince == 0 {
					r.m.LimitedSince = now.UnixMilli()
				}
				if len(r.running) == 0 && now.Sub(time.UnixMilli(r.m.LimitedSince)) > r.p.tune.jobTimeout {
					r.failQueued(&reportdoc.Error{Code: accessreport.CodeLimitExceeded, Message: fmt.Sprintf(
						"IAM refused new report jobs for more than %s while this run had none running: other jobs hold the account's limit", r.p.tune.jobTimeout)})
					return nil
				}
				r.notBefore = now.Add(r.limitDelay(i))
				r.limitStreak++
				r.entityLog(i).Info("report job limit reached; backing off", "retry_in", r.notBefore.Sub(now).String())
				return nil
			case backoff.IsTransient(err):
				r.notBefore = now.Add(r.transient(i, "generate report", err))
				return nil
			default:
				r.fail(i, accessreport.ErrorOf(err))
				continue
			}
		}
		r.jobStarted(i, jobID, now)
	}
	return nil
}

// generate asks IAM for entity e's report job, timing the call for the
// hand-over's round trip.
func (r *runner) generate(opCtx context.Context, e *manifest.Entity) (jobID string, err error) {
	err = r.timed(func() (err error) {
		jobID, err = r.reports.Generate(opCtx, e.Path, e.PolicyID)
		return err
	})
	return jobID, err
}

// jobStarted records the job IAM answered entity i's Generate with at now.
func (r *runner) jobStarted(i int, jobID string, now time.Time) {
	e := &r.m.Entities[i]
	r.limitStreak, r.m.LimitedSince = 0, 0
	if jobID != e.JobID {
		e.Attempts++
		if r.m.Jobs == nil {
			r.m.Jobs = map[string]int{}
		}
		r.m.Jobs[e.Type]++
	}
	e.State, e.JobID, e.SentAt, e.Errors, e.Session = manifest.StateRunning, jobID, now.UnixMilli(), 0, r.session
	r.started++
	r.running[i] = true
	r.nextPoll[i] = now.Add(r.firstPoll(e))
	r.dirty = true
	r.entityLog(i).Info("report job started", "job_id", jobID, "attempt", e.Attempts)
}

// canFinish reports whether a job for e started at now can be expected to
// be finished, and its report read, by r.jobsUntil: twice the duration such
// jobs have taken, and a second.
func (r *runner) canFinish(e *manifest.Entity, now time.Time) bool {
	if r.jobsUntil.IsZero() {
		return true
	}
	return now.Add(2*r.p.estimate(r.m, e.PaceKind()) + time.Second).Before(r.jobsUntil)
}

// limitDelay is the backoff after a 409 for entity i: from a quarter of
// its job's expected duration, doubling, capped.
func (r *runner) limitDelay(i int) time.Duration {
	base := max(r.p.tune.pollFloor, r.p.estimate(r.m, r.m.Entities[i].PaceKind())/4)
	return backoff.Policy{Base: base, Cap: r.p.tune.backoff.Cap}.Delay(r.limitStreak)
}

// pollDue polls the running jobs whose time has come.
func (r *runner) pollDue(ctx, opCtx context.Context) error {
	now := time.Now()
	// The running jobs in manifest order (logs stay stable), without a
	// pass over every entity: Store calls this after each report.
	for _, i := range slices.Sorted(maps.Keys(r.running)) {
		if !r.running[i] || now.Before(r.nextPoll[i]) {
			continue
		}
		e := &r.m.Entities[i]
		var st accessreport.Status
		err := r.timed(func() (err error) {
			st, err = r.reports.Poll(opCtx, e.JobID)
			return err
		})
		now = time.Now()
		if err != nil {
			if stop, cerr := stopped(ctx, opCtx, err); stop {
				return cerr
			}
			switch {
			case accessreport.IsNoSuchEntity(err):
				r.lostJob(i, err)
			case backoff.IsTransient(err):
				r.nextPoll[i] = now.Add(r.transient(i, "poll report job", err))
			default:
				r.fail(i, accessreport.ErrorOf(err))
			}
			continue
		}
		switch st.Status {
		case accessreport.StatusInProgress:
			if e.SentAt > 0 && now.Sub(time.UnixMilli(e.SentAt)) > r.p.tune.jobTimeout {
				r.stuckJob(i)
				continue
			}
			r.floor = max(r.floor*9/10, r.p.tune.pollFloor)
			r.stillRunning(i)
			r.lastSeen[i] = now
			r.nextPoll[i] = now.Add(r.pollInterval(e, now))
			if e.Errors > 0 {
				e.Errors, r.dirty = 0, true
			}
		case accessreport.StatusCompleted, accessreport.StatusFailed:
			r.observe(i, now, st)
			e.CreatedAt, e.CompletedAt, e.Errors, e.SentAt = reportdoc.NewTime(st.CreatedAt), reportdoc.NewTime(st.CompletedAt), 0, 0
			delete(r.running, i)
			delete(r.nextPoll, i)
			delete(r.lastSeen, i)
			r.notBefore = time.Time{} // a slot is free
			r.dirty = true
			if st.Status == accessreport.StatusCompleted {
				e.State = manifest.StateCompleted
				r.finished = append(r.finished, i)
				r.entityLog(i).Info("report job completed", "job_id", e.JobID)
			} else {
				r.fail(i, st.Error)
			}
		default:
			r.nextPoll[i] = now.Add(r.transient(i, "poll report job", fmt.Errorf("unknown job status %q", st.Status)))
		}
	}
	return nil
}

// lostJob handles NoSuchEntity for a job id: the job belongs to another
// principal (or expired). The entity is started again once; if that
// happens again, it fails with the code.
func (r *runner) lostJob(i int, err error) {
	e := &r.m.Entities[i]
	if e.Attempts < 2 {
		r.entityLog(i).Warn("report job not readable by this principal; starting a new one", "job_id", e.JobID, "code", accessreport.CodeNoSuchEntity)
		r.requeue(i)
		return
	}
	r.fail(i, &reportdoc.Error{Code: accessreport.CodeNoSuchEntity, Message: fmt.Sprintf(
		"report job %s is not readable by this principal (created by another principal, or expired) after %d attempts: %v", e.JobID, e.Attempts, err)})
}

// stuckJob handles a job still IN_PROGRESS long after any job should
// have finished (IAM's take about 2–11 s): it is started again once, then the
// entity fails, so a run always ends.
func (r *runner) stuckJob(i int) {
	e := &r.m.Entities[i]
	if e.Attempts < 2 {
		r.entityLog(i).Warn("report job still in progress after the time limit; starting a new one", "job_id", e.JobID, "limit", r.p.tune.jobTimeout.String())
		r.requeue(i)
		return
	}
	r.fail(i, &reportdoc.Error{Code: "JobTimedOut", Message: fmt.Sprintf("report job %s was still IN_PROGRESS after %s (attempt %d)", e.JobID, r.p.tune.jobTimeout, e.Attempts)})
}

// pollInterval is the wait before the next poll of a job still in
// progress. Once jobs of its kind have been seen: until the soonest such a
// job can finish (the low envelope), then a twentieth of their expected
// duration at a time (a job is found late by a twentieth at most: jobs of
// one kind differ in length), within [pollFloor, pollCap]. Before any job
// of its kind finished the wait is a quarter of the time already waited,
// so the first job is found quickly, and at most a quarter late, whatever
// its duration.
func (r *runner) pollInterval(e *manifest.Entity, now time.Time) time.Duration {
	kind := e.PaceKind()
	floor := r.pollFloor(kind)
	pace := r.m.Pace[kind]
	if pace.Millis == 0 {
		if e.SentAt == 0 {
			return floor
		}
		return min(max(now.Sub(time.UnixMilli(e.SentAt))/4, floor), r.p.tune.pollCap)
	}
	if e.SentAt > 0 {
		if left := time.UnixMilli(e.SentAt).Add(r.p.earliest(r.m, kind)).Sub(now); left > floor {
			return left
		}
	}
	return min(max(r.p.estimate(r.m, kind)/20, floor), r.p.tune.pollCap)
}

// firstPoll is the wait before the first poll of e's job, just started.
func (r *runner) firstPoll(e *manifest.Entity) time.Duration {
	kind := e.PaceKind()
	if r.m.Pace[kind].Millis == 0 {
		return r.floor
	}
	return max(r.p.earliest(r.m, kind), r.pollFloor(kind))
}

// pollFloor is the shortest wait between polls of a job of the given kind:
// r.floor (which grows under throttling), shrunk in proportion when such
// jobs take less than twenty floors, so that polling keeps pace with jobs
// of tens of milliseconds (a time-scaled simulator) as it does with IAM's
// jobs of seconds.
func (r *runner) pollFloor(kind string) time.Duration {
	if r.m.Pace[kind].Millis == 0 {
		return r.floor
	}
	limit := r.p.estimate(r.m, kind) / 20
	if limit >= r.p.tune.pollFloor {
		return r.floor
	}
	return max(time.Duration(float64(r.floor)*float64(limit)/float64(r.p.tune.pollFloor)), time.Millisecond)
}

// observe learns from a finished job, seen so by the poll st at now. Its
// duration lies between the last poll that saw it running (or its start)
// and now, or the accepted early Generate that showed it ended sooner
// (endedBy). IAM's own dates give it exactly, and are taken where they fit
// within those bounds (a clock IAM's and the step's disagree on cannot
// move the estimate past what the step saw); without them the midpoint is
// the estimate, which converges whether polls come early or late.
func (r *runner) observe(i int, now time.Time, st accessreport.Status) {
	e := &r.m.Entities[i]
	if e.SentAt == 0 {
		return
	}
	sent := time.UnixMilli(e.SentAt)
	from := sent
	if seen, ok := r.lastSeen[i]; ok {
		from = seen
	}
	if by, ok := r.endedBy(i); ok && by.Before(now) {
		now = by
	}
	lo, hi := from.Sub(sent), max(now.Sub(sent), from.Sub(sent))
	d := lo + (hi-lo)/2
	if !st.CreatedAt.IsZero() && st.CompletedAt.After(st.CreatedAt) {
		d = min(max(st.CompletedAt.Sub(st.CreatedAt), lo), hi)
	}
	if r.m.Pace == nil {
		r.m.Pace = map[string]manifest.JobPace{}
	}
	pace := r.m.Pace[e.PaceKind()]
	pace.Observe(d.Milliseconds())
	r.m.Pace[e.PaceKind()] = pace
	r.jobEnded(e.PaceKind())
}

// wake returns when the loop has something to do next.
func (r *runner) wake(budget time.Time) time.Time {
	t := budget
	for i := range r.running {
		if r.nextPoll[i].Before(t) {
			t = r.nextPoll[i]
		}
	}
	if len(r.running) < r.m.Settings.MaxConcurrentJobs && r.hasQueued() && r.notBefore.Before(t) {
		t = r.notBefore
	}
	if at, ok := r.handOverAt(); ok && at.Before(t) {
		t = at
	}
	return t
}

func (r *runner) hasQueued() bool { return r.nextQueued() >= 0 }

// save writes the manifest when it changed.
func (r *runner) save(ctx context.Context) error {
	if !r.dirty {
		return nil
	}
	if err := r.m.Save(ctx, r.p.store); err != nil {
		return err
	}
	r.dirty, r.lastSave = false, time.Now()
	return nil
}

// maybeSave saves at most every saveEvery, so a crash loses little; a
// large manifest is saved less often (one more second per megabyte), so
// saving does not crowd out the work. Work lost to a crash is redone, and
// IAM hands back the same job for a request repeated within a minute.
func (r *runner) maybeSave(ctx context.Context) error {
	every := r.p.tune.saveEvery + time.Duration(r.m.Size()>>20)*time.Second
	if time.Since(r.lastSave) < every {
		return nil
	}
	return r.save(ctx)
}

// finish saves the manifest and returns the step's result.
func (r *runner) finish(ctx context.Context, stepErr error) (State, error) {
	r.dirty = true
	sctx, cancel := saveCtx(ctx)
	defer cancel()
	if err := r.save(sctx); err != nil {
		if stepErr != nil {
			return State{}, fmt.Errorf("%w (and %w)", stepErr, err)
		}
		return State{}, err
	}
	if stepErr != nil {
		return State{}, stepErr
	}
	return stateOf(r.m, r.p.waitSeconds(r.m), false), nil
}
