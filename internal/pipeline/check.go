package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/manifest"
)

// Check polls the running jobs and starts queued ones as slots free, within
// its budget, and stores the reports of finished jobs while it waits for
// the running ones, so that storing overlaps the jobs' own time instead of
// following it. It starts no job it cannot expect to finish within the
// budget, and returns once its jobs have finished and their reports are
// stored (or the budget is spent): a job is generated, polled and read by
// one step, with one set of credentials, since IAM may let only those
// credentials read it.
func (p *Pipeline) Check(ctx context.Context, s State) (State, error) {
	st, err := p.check(ctx, s)
	return st, stepError("check", s.RunID, err)
}

func (p *Pipeline) check(ctx context.Context, s State) (State, error) {
	m, err := manifest.Load(ctx, p.store, s.RunID)
	if err != nil {
		return State{}, err
	}
	if m.Walk != nil {
		return State{}, errStillWalking
	}
	log := p.log.With("run_id", m.RunID)
	budget := p.budget(ctx)
	r := p.newRunner(m, log)
	opCtx, cancel := r.opContext(ctx, budget)
	defer cancel()
	if err := r.repairPart(opCtx); err != nil {
		return r.finish(ctx, err)
	}
	sr := r.newStorer()
	err = sr.stop(ctx, opCtx, r.loop(ctx, opCtx, budget, sr))
	c := m.Counts()
	log.Info("check done", "queued", c.Queued, "running", c.Running, "completed", c.Completed, "failed", c.Failed, "unstored", c.Unstored, "throttled", m.Throttled)
	return r.finish(ctx, err)
}

func (r *runner) loop(ctx, opCtx context.Context, budget time.Time, sr *storer) (err error) {
	r.jobsUntil = budget
	if until := jobsDeadline(r.m); !until.IsZero() && until.Before(budget) {
		r.jobsUntil = until
	}
	r.pin()
	var w *reportWriter
	if r.p.tune.storeInCheck {
		w = sr.startWriter(opCtx)
		defer func() {
			if cerr := w.close(ctx, opCtx); err == nil {
				err = cerr
			}
		}()
	}
	for {
		if err := r.pollDue(ctx, opCtx); err != nil {
			return err
		}
		if err := r.startJobs(ctx, opCtx); err != nil {
			return err
		}
		if err := r.maybeSave(ctx); err != nil {
			return err
		}
		if c := r.m.Counts(); c.Unstored-c.UnstoredCarried-len(sr.order) >= r.p.tune.storeBatch {
			r.jobsUntil = time.Now() // Store's turn, once this step's jobs are done
		}
		if len(r.running) == 0 && !r.canStart() {
			if w == nil {
				return r.storeFinished(ctx, opCtx, sr)
			}
			if !w.busy() && !r.hasFinished() {
				return nil // this step's jobs are done and stored; Store stores failures
			}
		}
		now := time.Now()
		if !now.Before(budget) || opCtx.Err() != nil {
			return ctx.Err()
		}
		if w != nil && !w.busy() {
			if err := w.next(ctx, opCtx); err != nil {
				return err
			}
		}
		wait := time.NewTimer(r.wake(budget).Sub(now))
		select {
		case st := <-w.results():
			wait.Stop()
			if err := w.accept(ctx, opCtx, st); err != nil {
				return err
			}
		case <-wait.C:
		case <-opCtx.Done():
			wait.Stop()
			return ctx.Err()
		}
	}
}

// canStart reports whether the step would start the next queued job.
func (r *runner) canStart() bool {
	i := r.nextQueued()
	return i >= 0 && !r.failing && (r.started == 0 || r.canFinish(&r.m.Entities[i], time.Now()))
}

// storeFinished stores the completed reports of this step's jobs, when no
// writer stored them meanwhile: the next step could not read them.
func (r *runner) storeFinished(ctx, opCtx context.Context, sr *storer) error {
	for {
		i, ok := r.nextFinished()
		if !ok {
			return nil
		}
		if r.m.Entities[i].State != manifest.StateCompleted {
			continue
		}
		if err := sr.store(ctx, opCtx, i); err != nil {
			return err
		}
	}
}

// hasFinished reports whether a completed job of this step waits to be
// stored.
func (r *runner) hasFinished() bool {
	for _, i := range r.finished {
		if r.m.Entities[i].State == manifest.StateCompleted {
			return true
		}
	}
	return false
}

// nextFinished takes the next entity whose job ended and whose report is
// still to be written.
func (r *runner) nextFinished() (int, bool) {
	for len(r.finished) > 0 {
		i := r.finished[0]
		r.finished = r.finished[1:]
		switch r.m.Entities[i].State {
		case manifest.StateCompleted, manifest.StateFailed:
			return i, true
		}
	}
	return 0, false
}

// reportWriter prepares finished reports (reads every page, writes the
// report, adds its rows to the Athena part) on a goroutine of its own while
// Check's loop polls and starts jobs, so that a job that finishes is seen
// at once and the next one starts, however long a report takes to store.
// One batch is in hand at a time: a report read from IAM alone, or up to
// copyBatch reports that need no IAM call (carried from an earlier run, or
// failure reports), written in parallel. The loop records each result
// (accept) itself, so the manifest is only ever touched by the loop, and
// the part only by whichever of the two holds the batch in hand.
type reportWriter struct {
	sr       *storer
	todo     chan []writeTask
	done     chan []stored
	inFlight bool
	stopped  chan struct{}
}

// copyBatch is how many reports without an IAM call the writer takes at
// once: the 10,000 account reports a night may carry are written
// tune.writers at a time, so that they fit in the reserve the run's budget
// keeps for the end.
const copyBatch = 64

type writeTask struct {
	i   int
	ent manifest.Entity
}

func (s *storer) startWriter(opCtx context.Context) *reportWriter {
	w := &reportWriter{sr: s, todo: make(chan []writeTask), done: make(chan []stored, 1), stopped: make(chan struct{})}
	reports := s.r.reports
	go func() {
		defer close(w.stopped)
		for batch := range w.todo {
			// Throttled reads are counted here and added to the
			// manifest by the loop (accept): the runner's own callback
			// belongs to the loop's goroutine.
			throttled := 0
			reports.OnRetry = func(err error) {
				if backoff.IsThrottle(err) {
					throttled++
				}
			}
			out := s.prepareMany(opCtx, &reports, batch)
			out[0].throttled = throttled
			for k := range out {
				if st := &out[k]; st.doc != nil && st.err == nil {
					// Encoding and compressing the rows is the costliest
					// part of a report after its pages: done here too.
					// The loop touches the part only while no batch is
					// in hand.
					if st.err = s.part.Add(st.rows); st.err == nil {
						st.added = true
					}
				}
			}
			w.done <- out
		}
	}()
	return w
}

// results is the channel of prepared reports; nil (never ready) without a
// writer.
func (w *reportWriter) results() <-chan []stored {
	if w == nil {
		return nil
	}
	return w.done
}

func (w *reportWriter) busy() bool { return w.inFlight }

// next hands the next finished entities to the writer's goroutine: a
// completed job's report alone, or a batch of reports that need no IAM call.
func (w *reportWriter) next(ctx, opCtx context.Context) error {
	r := w.sr.r
	var batch []writeTask
	for len(batch) < copyBatch {
		i, ok := r.nextFinished()
		if !ok {
			break
		}
		if w.sr.pending[i] {
			continue
		}
		e := &r.m.Entities[i]
		if e.State == manifest.StateCompleted && e.Freshness == "" {
			if len(batch) > 0 {
				r.finished = append([]int{i}, r.finished...) // the next batch
			} else {
				batch = append(batch, writeTask{i: i, ent: *e})
			}
			break
		}
		batch = append(batch, writeTask{i: i, ent: *e})
	}
	if len(batch) == 0 {
		return nil
	}
	w.inFlight = true
	w.todo <- batch
	return nil
}

// accept records a prepared batch.
func (w *reportWriter) accept(ctx, opCtx context.Context, out []stored) error {
	w.inFlight = false
	for _, st := range out {
		if err := w.sr.accept(ctx, opCtx, st); err != nil {
			return err
		}
	}
	return nil
}

// close stops the writer, first recording the report in hand (its object
// is written; recording it spares the next step the work).
func (w *reportWriter) close(ctx, opCtx context.Context) error {
	var err error
	if w.inFlight {
		err = w.accept(ctx, opCtx, <-w.done)
	}
	close(w.todo)
	<-w.stopped
	if errors.Is(err, errBudget) {
		err = nil
	}
	return err
}
