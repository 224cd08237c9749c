package pipeline

import (
	"fmt"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// CodeBudgetExhausted is the error of an entity whose job could not run
// within the run's time budget (maxRunMinutes).
const CodeBudgetExhausted = "BudgetExhausted"

// runDeadline is when a run of the given budget, started at now, ends
// (Unix milliseconds); zero for no budget.
func runDeadline(now time.Time, minutes float64) int64 {
	if minutes <= 0 {
		return 0
	}
	return now.Add(time.Duration(minutes * float64(time.Minute))).UnixMilli()
}

// jobsDeadline is when the run's last job must have ended: its deadline
// less a sixtieth of the budget (six minutes of six hours), which is left
// to Store for the failure reports and the run's documents. Zero: none.
func jobsDeadline(m *manifest.Manifest) time.Time {
	if m.Deadline == 0 {
		return time.Time{}
	}
	reserve := time.Duration(m.Settings.MaxRunMinutes * float64(time.Minute) / 60)
	return time.UnixMilli(m.Deadline).Add(-reserve)
}

// outOfBudget reports whether a job for e started at now could not be
// expected to end (twice such jobs' duration) before the run's jobs
// deadline; reading its report falls in the reserve left to Store.
func (r *runner) outOfBudget(e *manifest.Entity, now time.Time) bool {
	until := jobsDeadline(r.m)
	if until.IsZero() {
		return false
	}
	return !now.Add(2 * r.p.estimate(r.m, e.PaceKind())).Before(until)
}

// exhaust ends every entity still waiting for a job: the run's time
// budget has no room for them. An account with an earlier report carries
// it as stale; the rest end with BudgetExhausted. The run then finishes
// with what it has, instead of running into the state machine's timeout.
func (r *runner) exhaust() {
	err := &reportdoc.Error{Code: CodeBudgetExhausted, Message: fmt.Sprintf(
		"the run's time budget (maxRunMinutes %v) ended before this entity's report job could run", r.m.Settings.MaxRunMinutes)}
	n, stale := 0, 0
	for i := range r.m.Entities {
		switch r.m.Entities[i].State {
		case manifest.StateQueued, manifest.StatePending:
			n++
			r.stale(i, err)
			if r.m.Entities[i].Freshness == reportdoc.Stale {
				stale++
			}
		}
	}
	r.log.Warn("run's time budget spent; entities left without a job of this run", "left", n, "carried_stale", stale, "max_run_minutes", r.m.Settings.MaxRunMinutes)
}
