package pipeline

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/orgaudit/orgaudit/internal/carry"
	"github.com/orgaudit/orgaudit/internal/carryover"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// The carry of account reports from an earlier run (docs/pipeline.md,
// "Carrying account reports"). The root's and OUs' jobs go first, every
// run: they are the change detector. An account with an earlier report
// waits (pending) until the reports above it are in; then package carry
// decides whether its report is carried unchanged or it is refreshed.
// Refreshes are queued stalest first. When the run's budget ends, an
// account still waiting or queued is carried stale if it has an earlier
// report, and ends BudgetExhausted if not.

// prepareCarry notes the SCP fingerprint of every account and the earlier
// run's reports that may be carried (package carryover).
func (p *Pipeline) prepareCarry(ctx context.Context, m *manifest.Manifest, pr *orgwalk.Progress) error {
	if !m.Settings.IncludeAccounts {
		return nil
	}
	attached := func(target string) []carry.Attached {
		var out []carry.Attached
		for _, id := range pr.Attached[target] {
			out = append(out, carry.Attached{ID: id, Content: pr.Policies[id].Content})
		}
		return out
	}
	_, err := carryover.Prepare(ctx, p.store, m, attached)
	return err
}

// initQueue orders the queued entities: the root and OUs first, then the
// accounts stalest first (carry.Compare), in manifest order within each.
func (r *runner) initQueue() {
	r.queue = r.queue[:0]
	for i := range r.m.Entities {
		if r.m.Entities[i].State == manifest.StateQueued {
			r.queue = append(r.queue, i)
		}
	}
	sort.SliceStable(r.queue, func(a, b int) bool { return r.before(r.queue[a], r.queue[b]) })
	r.cursor = 0
	r.groups = carryover.NewGroups(r.m)
	r.undecided = r.groups.Pending()
}

// before reports whether entity a's job starts before b's.
func (r *runner) before(a, b int) bool {
	ea, eb := &r.m.Entities[a], &r.m.Entities[b]
	ga, gb := ea.Type != reportdoc.TypeAccount, eb.Type != reportdoc.TypeAccount
	if ga != gb {
		return ga
	}
	if !ga {
		refresh := time.Duration(r.m.Settings.AccountRefreshDays) * 24 * time.Hour
		if refresh <= 0 {
			refresh = 7 * 24 * time.Hour
		}
		if c := carry.Compare(carryover.Candidate(a, ea), carryover.Candidate(b, eb), r.m.StartedAt.Time, refresh); c != 0 {
			return c < 0
		}
	}
	return a < b
}

// enqueue puts entity i, now queued, in its place in the queue.
func (r *runner) enqueue(i int) {
	k := r.cursor + sort.Search(len(r.queue)-r.cursor, func(k int) bool { return r.before(i, r.queue[r.cursor+k]) })
	r.queue = append(r.queue, 0)
	copy(r.queue[k+1:], r.queue[k:])
	r.queue[k] = i
}

// requeued puts entity i, queued again, back in the queue: at its old
// place if it has one before the cursor, else in order.
func (r *runner) requeued(i int) {
	for k := 0; k < len(r.queue); k++ {
		if r.queue[k] == i {
			r.cursor = min(r.cursor, k)
			return
		}
	}
	r.enqueue(i)
}

// groupSettled notes that group i's report is in (or failed): the
// accounts under it may now be decided.
func (r *runner) groupSettled(i int) {
	if r.groups == nil || r.m.Entities[i].Type == reportdoc.TypeAccount {
		return
	}
	r.undecided = append(r.undecided, r.groups.Below(i)...)
}

// decide applies the carry rule to the waiting accounts whose reports
// above are all in: carried unchanged (its report copied by the storer) or
// queued for a refresh.
func (r *runner) decide() {
	if len(r.undecided) == 0 {
		return
	}
	todo := r.undecided
	r.undecided = nil
	carried, refreshed := 0, 0
	for _, i := range todo {
		e := &r.m.Entities[i]
		if e.State != manifest.StatePending || !r.groups.Ready(i) {
			continue
		}
		v, proof := r.groups.Decide(i)
		if v.Carry {
			e.Freshness, e.Carry.Proven, e.State = reportdoc.Unchanged, proof.Unix(), manifest.StateCompleted
			r.finished = append(r.finished, i)
			carried++
		} else {
			e.State = manifest.StateQueued
			r.enqueue(i)
			refreshed++
			r.entityLog(i).Debug("account report refreshed", "reason", v.Reason)
		}
		r.dirty = true
	}
	if carried+refreshed > 0 {
		r.log.Info("account reports decided", "unchanged", carried, "refresh", refreshed)
	}
}

// stale ends entity i, which the run's budget leaves without a job: an
// account with an earlier report carries it as stale; anything else ends
// with err.
func (r *runner) stale(i int, err *reportdoc.Error) {
	e := &r.m.Entities[i]
	if e.Carry != nil && e.PolicyID == "" && e.Type == reportdoc.TypeAccount {
		e.Freshness, e.Carry.Proven, e.State = reportdoc.Stale, 0, manifest.StateCompleted
		r.finished = append(r.finished, i)
		r.dirty = true
		return
	}
	r.fail(i, err)
}

// carryFailed handles an earlier report that could not be copied: an
// unchanged one is refreshed instead, a stale one ends with the budget's
// error.
func (r *runner) carryFailed(i int, err error) {
	e := &r.m.Entities[i]
	r.entityLog(i).Warn("earlier report not carried", "error", err.Error())
	if e.Freshness == reportdoc.Unchanged {
		e.Freshness, e.Carry = "", nil
		e.State = manifest.StateQueued
		r.requeued(i)
		r.dirty = true
		return
	}
	r.fail(i, &reportdoc.Error{Code: CodeBudgetExhausted, Message: fmt.Sprintf(
		"the run's time budget (maxRunMinutes %v) ended before this entity's report job could run, and its earlier report could not be carried: %v", r.m.Settings.MaxRunMinutes, err)})
}
