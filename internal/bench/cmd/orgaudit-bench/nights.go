package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/bench"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// nightResult is one simulated night of the nightly schedule.
type nightResult struct {
	Night    int           `json:"night"`
	Wall     time.Duration `json:"wallNs"`
	Budget   time.Duration `json:"budgetNs"`
	Status   string        `json:"status"`
	Jobs     reportdoc.SummaryJobs
	JobTime  time.Duration `json:"jobTimeNs"` // the simulator's job time this night
	Accounts int           `json:"accounts"`
	// Account reports by freshness, and accounts left without one
	// (BudgetExhausted).
	Fresh, Unchanged, Stale, Missing int
	// OldestDays is the age of the oldest account report, in days at the
	// night's start.
	OldestDays float64 `json:"oldestDays"`
	FirstError string  `json:"firstError,omitempty"`
}

// nightClock is the simulated clock of the nights: it runs at the wall
// clock's pace from each night's start at 02:00.
type nightClock struct {
	mu    sync.Mutex
	base  time.Time
	since time.Time
}

func (c *nightClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.since))
}

func (c *nightClock) set(t time.Time) {
	c.mu.Lock()
	c.base, c.since = t, time.Now()
	c.mu.Unlock()
}

// nightsRun runs o.nights consecutive nights on one organization whose
// activity moves with the clock (a share o.activeShare of the accounts
// active on a given day), each night a run with accounts and a budget of
// o.nightBudget (scaled like the jobs), each carrying what it can from the
// night before.
func nightsRun(ctx context.Context, o options, log func(string, ...any)) ([]nightResult, int, time.Duration, error) {
	asOf := orgmodel.DefaultAsOf
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: o.ous, Accounts: o.accounts, Depth: o.depth, Seed: 1, Daily: true, AsOf: asOf})
	if err != nil {
		return nil, 0, 0, err
	}
	org.Daily.ActiveShare = o.activeShare
	clock := &nightClock{}
	clock.set(asOf.Add(2 * time.Hour))
	oc := o
	oc.iamNow = clock.Now
	env, err := newEnvironment(ctx, org, o.scale, oc)
	if err != nil {
		return nil, 0, 0, err
	}
	defer env.stop()
	dir, err := os.MkdirTemp("", "orgaudit-bench-nights-")
	if err != nil {
		return nil, 0, 0, err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Bucket = benchBucket
	orgs, iamClient, _ := config.NewClients(ctx, env.awsCfg, cfg)
	store := objstore.NewDir(dir, cfg.Prefix)
	p := pipeline.New(cfg, pipeline.Deps{Orgs: orgs, IAM: iamClient, Store: store, Now: clock.Now})
	budget := time.Duration(float64(o.nightBudget) * o.scale)
	// A full run asks one job per entity; its job time is what the
	// simulator would take for every entity, from its latency model.
	full := 1 + len(org.OUs) + len(org.Accounts)
	var fullTime time.Duration
	var out []nightResult
	for night := 1; night <= o.nights; night++ {
		start := asOf.Add(time.Duration(night-1)*24*time.Hour + 2*time.Hour)
		clock.set(start)
		before := env.sim.IAM().Stats()
		runID := start.Format("20060102T150405Z")
		input := json.RawMessage(fmt.Sprintf(`{"includeAccounts": true, "maxRunMinutes": %g}`, budget.Minutes()))
		tr, err := bench.Drive(ctx, bench.Steps{P: p}, runID, input, o.scale)
		if err != nil {
			return out, full, fullTime, fmt.Errorf("night %d: %w", night, err)
		}
		after := env.sim.IAM().Stats()
		r, err := nightSummary(dir, cfg.Prefix, runID, start)
		if err != nil {
			return out, full, fullTime, fmt.Errorf("night %d: %w", night, err)
		}
		r.Night, r.Wall, r.Budget = night, tr.Wall, budget
		r.JobTime = after.JobDuration - before.JobDuration
		if night == 1 && r.Jobs.Root+r.Jobs.OUs+r.Jobs.Accounts > 0 {
			// The first night's jobs are a sample of a full run's: scale
			// their mean to every entity.
			n := r.Jobs.Root + r.Jobs.OUs + r.Jobs.Accounts
			fullTime = time.Duration(float64(r.JobTime) / float64(n) * float64(full))
		}
		log("night %d: %s in %s (budget %s); jobs %d root, %d OUs, %d accounts; accounts fresh %d, unchanged %d, stale %d, none %d; oldest %.1f days",
			night, r.Status, r.Wall.Round(time.Second), budget.Round(time.Second), r.Jobs.Root, r.Jobs.OUs, r.Jobs.Accounts,
			r.Fresh, r.Unchanged, r.Stale, r.Missing, r.OldestDays)
		out = append(out, r)
	}
	return out, full, fullTime, nil
}

// nightSummary reads a night's summary.json.
func nightSummary(dir, prefix, runID string, start time.Time) (nightResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(prefix+reportdoc.SummaryKey(runID))))
	if err != nil {
		return nightResult{}, err
	}
	var s reportdoc.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nightResult{}, err
	}
	r := nightResult{Status: s.Status, Jobs: s.Jobs}
	if len(s.Errors) > 0 {
		r.FirstError = s.Errors[0].Code + ": " + s.Errors[0].Message
	}
	for _, rep := range s.Reports {
		if reportdoc.EntityTypeOf(rep.EntityID) != reportdoc.TypeAccount || rep.PolicyID != nil {
			continue
		}
		r.Accounts++
		switch rep.Freshness {
		case reportdoc.Fresh:
			r.Fresh++
		case reportdoc.Unchanged:
			r.Unchanged++
		case reportdoc.Stale:
			r.Stale++
		default:
			r.Missing++
			continue
		}
		if rep.AsOf != nil {
			r.OldestDays = max(r.OldestDays, start.Sub(rep.AsOf.Time).Hours()/24)
		}
	}
	return r, nil
}

// nightsTable prints the nights.
func nightsTable(w io.Writer, o options, nights []nightResult, full int, fullTime time.Duration) {
	if len(nights) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Seven nights of the nightly schedule\n\n")
	fmt.Fprintf(w, "%d OUs, %d accounts; activity moving with the clock, %.0f%% of the accounts active on a given day; "+
		"IAM's job durations at time scale %g; each night a run with accounts and a budget of %s (%s here), "+
		"carrying what it can from the night before. A full run asks %d jobs (about %s of job time, from the first night's mean job).\n\n",
		o.ous, o.accounts, o.activeShare*100, o.scale, o.nightBudget, time.Duration(float64(o.nightBudget)*o.scale).Round(time.Second),
		full, (time.Duration(float64(fullTime) / o.scale)).Round(time.Minute))
	fmt.Fprintln(w, "Wall and budget are at the bench's time scale: the jobs are scaled, the steps' own CPU work (the walk, carrying reports, Store's documents) is not, so a wall over the budget here is that work, not a real-world overrun of the same ratio.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Night | Status | Wall | Budget | Jobs asked | vs a full run | Account reports: fresh | unchanged | stale | none | Oldest account report |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range nights {
		jobs := n.Jobs.Root + n.Jobs.OUs + n.Jobs.Accounts
		share := func(k int) string {
			if n.Accounts == 0 {
				return "0"
			}
			return fmt.Sprintf("%d (%.0f%%)", k, 100*float64(k)/float64(n.Accounts))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %d | %.0f%% fewer | %s | %s | %s | %s | %.1f days |\n", n.Night, n.Status,
			n.Wall.Round(time.Second), n.Budget.Round(time.Second), jobs, 100*(1-float64(jobs)/float64(full)),
			share(n.Fresh), share(n.Unchanged), share(n.Stale), share(n.Missing), n.OldestDays)
	}
}
