package pipeline

import (
	"context"
	"time"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/manifest"
)

// Check polls the running jobs and starts queued ones as slots free, within
// its budget, and stores the reports of finished jobs while it waits for
// the running ones, so that storing overlaps the jobs' own time instead of
// following it. It returns when the budget is spent, when every job has
// finished, or when enough reports wait for Store; before returning it
// makes sure a job runs if any is queued, so IAM keeps working during Store
// and Wait.
func (p *Pipeline) Check(ctx context.Context, s State) (State, error) {
	st, err := p.check(ctx, s)
	return st, stepError("check", s.RunID, err)
}

func (p *Pipeline) check(ctx context.Context, s State) (State, error) {
	m, err := manifest.Load(ctx, p.store, s.RunID)
	if err != nil {
		return State{}, err
	}
	log := p.log.With("run_id", m.RunID)
	budget := p.budget(ctx)
	r := p.newRunner(m, log)
	opCtx, cancel := r.opContext(ctx, budget)
	defer cancel()
	sr := r.newStorer()
	err = sr.stop(ctx, opCtx, r.loop(ctx, opCtx, budget, sr))
	c := m.Counts()
	log.Info("check done", "queued", c.Queued, "running", c.Running, "completed", c.Completed, "failed", c.Failed, "unstored", c.Unstored, "throttled", m.Throttled)
	return r.finish(ctx, err)
}

func (r *runner) loop(ctx, opCtx context.Context, budget time.Time, sr *storer) error {
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
		if len(r.running) == 0 && !r.hasQueued() {
			return nil // every job has finished; Store stores what is left
		}
		if r.m.Counts().Unstored-len(sr.order) >= r.p.tune.storeBatch {
			return nil // Store's turn; a started job keeps IAM busy meanwhile
		}
		now := time.Now()
		if !now.Before(budget) || opCtx.Err() != nil {
			return ctx.Err()
		}
		wake := r.wake(budget)
		if i, ok := r.nextFinished(); ok && r.p.tune.storeInCheck && wake.After(now) {
			// Nothing is due: store a finished report meanwhile.
			if err := sr.store(ctx, opCtx, i); err != nil {
				return err
			}
			continue
		}
		if err := backoff.Sleep(opCtx, wake.Sub(now)); err != nil {
			return ctx.Err()
		}
	}
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
