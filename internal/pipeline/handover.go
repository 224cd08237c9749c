package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/backoff"
)

// The hand-over: with the window full (IAM's one job slot taken by this
// step's job) and entities queued, the next entity's Generate is sent
// from the moment the running job can first be expected to end, every gap,
// instead of after the poll that sees it end. IAM answers
// ReportGenerationLimitExceeded (409) while the slot is taken, which here
// means "not yet": it is counted like every 409 but starts no back-off
// (that is for slots others hold). An accepted Generate means the slot was
// free, so the running job has ended: it is polled at once and its report
// read off the critical path, as any finished job's. Without it the slot
// sits idle for the poll's lag, the poll's round trip and half the
// Generate's; with it, for about the time between two Generates.
//
// The speculation is bounded: only until twice the running job's expected
// duration after it started (then the usual polling and back-off go on),
// so a stuck job, or another principal's jobs holding the slot, cause a
// bounded number of 409s; the running job's polls go on meanwhile, so a
// job that ended while others took the slot is seen ended, and the usual
// back-off follows.

// handOver is the state of the hand-over, which lives as long as the step.
type handOver struct {
	// rtt is IAM's round trip as the loop's calls saw it (a moving
	// average of calls that were not retried); zero until one is seen.
	rtt     time.Duration
	retries int // calls retried so far (the runner's OnRetry)
	// next is the soonest the next speculative Generate may be sent.
	next time.Time
	// ended maps an entity to the job an accepted speculative Generate
	// showed ended, and when: the upper bound of its duration.
	ended map[int]endedJob
	// off is set once an accepted speculative Generate did not free a
	// slot (IAM allows more jobs than the window): the hand-over would
	// run more jobs than the window, so the step goes on without it.
	off bool
	// seen counts the jobs of each kind this step saw end.
	seen map[string]int
	// refused counts the speculative Generates answered 409; streak
	// those in a row about the job of entity streakOf.
	refused, streak, streakOf int
}

// pollEvery is how many speculative Generates answered 409 in a row may
// stand in for the running job's polls: the next poll is held back until
// after the next Generate meanwhile. The poll that does come shows a job
// that ended while another principal's job took the slot, and the usual
// back-off then follows instead of more 409s.
const pollEvery = 4

// youngJobs is how many jobs of a kind a step sees end before it trusts
// their low envelope as the soonest the next can end: until then the
// envelope may come from one long job, and a short one would leave the
// slot idle for the difference, so the early Generates begin at a quarter
// of it, spaced by an eighth of the time the job has run until the
// envelope (a short job found at most an eighth late, in about eleven
// Generates), as usual from there.
const youngJobs = 8

// young reports whether the step has seen too few jobs of the kind end to
// trust their low envelope.
func (r *runner) young(kind string) bool { return r.ho.seen[kind] < youngJobs }

// jobEnded counts a job of the kind that ended.
func (r *runner) jobEnded(kind string) {
	if r.ho.seen == nil {
		r.ho.seen = map[string]int{}
	}
	r.ho.seen[kind]++
}

type endedJob struct {
	jobID string
	at    time.Time
}

// handOverPlan returns the running job whose end the next queued entity's
// Generate may be sent at, that entity, and the soonest it may be sent;
// ok is false when no speculative Generate is due at or after now.
func (r *runner) handOverPlan(now time.Time) (target, next int, at time.Time, ok bool) {
	if !r.p.tune.handOver || r.ho.off || r.failing || len(r.running) != r.m.Settings.MaxConcurrentJobs {
		return 0, 0, time.Time{}, false
	}
	next = r.nextQueued()
	if next < 0 {
		return 0, 0, time.Time{}, false
	}
	if e := &r.m.Entities[next]; r.outOfBudget(e, now) || !r.canFinish(e, now) {
		return 0, 0, time.Time{}, false
	}
	target = -1
	var until time.Time
	for i := range r.running {
		e := &r.m.Entities[i]
		kind := e.PaceKind()
		if e.SentAt == 0 || r.m.Pace[kind].Millis == 0 {
			continue // no duration to predict its end from
		}
		sent := time.UnixMilli(e.SentAt)
		// SentAt is when the Generate's answer came, half a round trip
		// after IAM created the job; a Generate sent a whole round trip
		// before the predicted end reaches IAM at that end.
		soonest := r.p.earliest(r.m, kind)
		if r.young(kind) {
			soonest /= 4
		}
		from := sent.Add(soonest - r.ho.rtt)
		end := sent.Add(min(2*r.p.estimate(r.m, kind), r.p.tune.jobTimeout))
		if !now.Before(end) {
			continue
		}
		if target < 0 || from.Before(at) {
			target, at, until = i, from, end
		}
	}
	if target < 0 {
		return 0, 0, time.Time{}, false
	}
	at = latest(at, r.ho.next, r.notBefore)
	if !at.Before(until) {
		return 0, 0, time.Time{}, false
	}
	return target, next, at, true
}

func earliestOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// handOverGap is the shortest time between two speculative Generates
// about a job of the given kind: a fiftieth of such jobs' duration, at
// least the poll floor (which grows while IAM throttles).
func (r *runner) handOverGap(kind string) time.Duration {
	return max(r.pollFloor(kind), r.p.estimate(r.m, kind)/50)
}

// handOver sends the next queued entity's Generate when the plan says it
// is due.
func (r *runner) handOver(ctx, opCtx context.Context) error {
	now := time.Now()
	target, i, at, ok := r.handOverPlan(now)
	if !ok || now.Before(at) {
		return nil
	}
	e, te := &r.m.Entities[i], &r.m.Entities[target]
	kind, sent := te.PaceKind(), time.UnixMilli(te.SentAt)
	r.ho.next = now.Add(r.handOverGap(kind))
	if envelope := sent.Add(r.p.earliest(r.m, kind) - r.ho.rtt); r.young(kind) && now.Before(envelope) {
		// Sparse before the envelope, as dense as usual from it.
		r.ho.next = latest(r.ho.next, earliestOf(now.Add(now.Sub(sent)/8), envelope))
	}
	jobID, err := r.generate(opCtx, e)
	now = time.Now()
	if err != nil {
		if stop, cerr := stopped(ctx, opCtx, err); stop {
			return cerr
		}
		switch {
		case errors.Is(err, accessreport.ErrLimitExceeded):
			// Not yet: counted like every 409, no back-off.
			r.m.Throttled++
			r.ho.refused++
			r.dirty = true
			if r.ho.streakOf != target {
				r.ho.streak, r.ho.streakOf = 0, target
			}
			if r.ho.streak++; r.ho.streak%pollEvery != 0 {
				// The 409 says as much as a poll would (unless another
				// principal's job holds the slot): the poll waits.
				r.nextPoll[target] = latest(r.nextPoll[target], latest(now, r.ho.next).Add(r.ho.rtt+time.Millisecond))
			}
		case backoff.IsTransient(err):
			r.notBefore = now.Add(r.transient(i, "generate report", err))
		default:
			r.fail(i, accessreport.ErrorOf(err))
		}
		return nil
	}
	reused := jobID == e.JobID // IAM handed back this entity's own job: no slot freed
	r.jobStarted(i, jobID, now)
	if !reused {
		// The slot was free: the running job has ended. Poll it now.
		if r.ho.ended == nil {
			r.ho.ended = map[int]endedJob{}
		}
		r.ho.ended[target] = endedJob{jobID: te.JobID, at: now}
		r.nextPoll[target] = now
		r.entityLog(i).Debug("report job started at the running job's end", "job_id", jobID, "after", te.ID, "refused", r.ho.refused)
	}
	return nil
}

// handOverAt is when the next speculative Generate is due, for wake.
func (r *runner) handOverAt() (time.Time, bool) {
	_, _, at, ok := r.handOverPlan(time.Now())
	return at, ok
}

// endedBy returns when an accepted speculative Generate showed entity i's
// current job ended, and forgets it.
func (r *runner) endedBy(i int) (time.Time, bool) {
	j, ok := r.ho.ended[i]
	if !ok {
		return time.Time{}, false
	}
	delete(r.ho.ended, i)
	e := &r.m.Entities[i]
	if j.jobID != e.JobID || e.SentAt == 0 || !j.at.After(time.UnixMilli(e.SentAt)) {
		return time.Time{}, false // about an earlier job of the entity
	}
	return j.at, true
}

// stillRunning is told that a poll saw entity i's job in progress: if an
// accepted speculative Generate had shown it ended, IAM had a slot beyond
// the window, and the hand-over stops for this step.
func (r *runner) stillRunning(i int) {
	if _, ok := r.endedBy(i); ok && !r.ho.off {
		r.ho.off = true
		r.entityLog(i).Info("IAM started a job beside this one: it allows more jobs than maxConcurrentJobs; no more early Generates this step", "job_id", r.m.Entities[i].JobID)
	}
}

// timed runs one IAM call of the loop and learns the round trip from it
// when it was answered at once (a job id, a status or a 409).
func (r *runner) timed(call func() error) error {
	start, retries := time.Now(), r.ho.retries
	err := call()
	if r.ho.retries == retries && (err == nil || errors.Is(err, accessreport.ErrLimitExceeded)) {
		d := time.Since(start)
		if r.ho.rtt == 0 {
			r.ho.rtt = d
		} else {
			r.ho.rtt = (3*r.ho.rtt + d) / 4
		}
	}
	return err
}
