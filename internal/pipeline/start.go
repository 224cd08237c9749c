package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

// Start validates the run input, walks the organization and writes the
// manifest; it starts no report job, since a job is generated, polled and
// read by one step (Check). Bad input is a *runinput.InvalidInput,
// returned unwrapped (the state machine matches its type name), and nothing
// is written. A run id with a manifest resumes that run.
func (p *Pipeline) Start(ctx context.Context, ev StartEvent) (State, error) {
	st, runID, err := p.start(ctx, ev)
	return st, stepError("start", runID, err)
}

func (p *Pipeline) start(ctx context.Context, ev StartEvent) (State, string, error) {
	in, err := runinput.Parse(ev.Input, ev.ExecutionName, p.cfg)
	if err != nil {
		return State{}, "", err
	}
	log := p.log.With("run_id", in.RunID)
	budget := p.budget(ctx)
	m, err := manifest.Load(ctx, p.store, in.RunID)
	switch {
	case err == nil:
		if err := p.resume(m, in); err != nil {
			return State{}, in.RunID, err
		}
		if m.Walk == nil {
			log.Info("resuming run", "entities", len(m.Entities))
		}
	case manifest.IsNotFound(err):
		if m, err = p.newRun(ctx, in, budget, log); err != nil {
			return State{}, in.RunID, err
		}
		log.Info("run started", "organization_id", m.OrganizationID,
			"include_accounts", in.IncludeAccounts, "include_policies", in.IncludePolicies)
	default:
		return State{}, in.RunID, err
	}
	st, err := p.proceed(ctx, m, budget, log)
	return st, in.RunID, err
}

// proceed is the rest of Start once m is loaded or created: the walk goes
// on while it is not done, and the manifest is saved.
func (p *Pipeline) proceed(ctx context.Context, m *manifest.Manifest, budget time.Time, log *slog.Logger) (State, error) {
	if m.Walk != nil {
		pr, err := p.walk(ctx, m, budget, log)
		if err != nil || !pr.Done() {
			return walkState(m, pr), err
		}
		if err := p.walked(ctx, m, pr, log); err != nil {
			return State{}, err
		}
	}
	// Start starts no job: a job is generated, polled and read by one
	// step, with one set of credentials, and Check is that step.
	r := p.newRunner(m, log)
	return r.finish(ctx, nil)
}

// Resume goes on with the run of s, the State with which a failed
// execution reached the end of its failure path, when Step Functions
// redrives that execution (see package sfnrun). The run's manifest holds
// its settings, so no input is read: as for a run started again with its
// id, the failed reports are tried again, with a time budget from now,
// and a walk that was not done goes on. Like Start it starts no job, and
// running it again is safe.
func (p *Pipeline) Resume(ctx context.Context, s State) (State, error) {
	st, err := p.resumeRun(ctx, s)
	return st, stepError("start", s.RunID, err)
}

func (p *Pipeline) resumeRun(ctx context.Context, s State) (State, error) {
	if s.RunID == "" {
		return State{}, errors.New("the failed execution's State names no run")
	}
	m, err := manifest.Load(ctx, p.store, s.RunID)
	if err != nil {
		return State{}, err
	}
	log := p.log.With("run_id", m.RunID)
	minutes := m.Settings.MaxRunMinutes
	if minutes <= 0 {
		minutes = p.cfg.MaxRunMinutes
	}
	retried := p.reopen(m, m.Settings.MaxConcurrentJobs, minutes)
	log.Info("resuming run of a redriven execution", "entities", len(m.Entities), "retried", retried, "walking", m.Walk != nil)
	return p.proceed(ctx, m, p.budget(ctx), log)
}

// resume checks that in asks for the run m records and prepares it to go
// on: failed reports are tried again.
func (p *Pipeline) resume(m *manifest.Manifest, in runinput.Input) error {
	s := m.Settings
	mismatch := func(field string, was, now any) error {
		return &runinput.InvalidInput{Field: field, Message: fmt.Sprintf(
			"run %s already exists with %s %v (not %v); use another runId for different settings", m.RunID, field, was, now)}
	}
	switch {
	case !slices.Equal(s.EntityPaths, in.EntityPaths):
		return mismatch("entityPaths", s.EntityPaths, in.EntityPaths)
	case s.IncludeAccounts != in.IncludeAccounts:
		return mismatch("includeAccounts", s.IncludeAccounts, in.IncludeAccounts)
	case s.IncludePolicies != in.IncludePolicies:
		return mismatch("includePolicies", s.IncludePolicies, in.IncludePolicies)
	case s.UnusedDays != in.UnusedDays:
		return mismatch("unusedDays", s.UnusedDays, in.UnusedDays)
	}
	// The window and the time budget may change: they only pace this
	// execution, which gets a budget of its own from now.
	p.reopen(m, in.MaxConcurrentJobs, in.MaxRunMinutes)
	return nil
}

// reopen prepares run m to go on with the given window and time budget:
// failed reports are queued again and a run with work left gets a budget
// from now; a finished run with nothing to retry is left as it is, byte for
// byte. It returns how many reports are tried again.
func (p *Pipeline) reopen(m *manifest.Manifest, maxConcurrentJobs int, maxRunMinutes float64) int {
	m.Settings.MaxConcurrentJobs = maxConcurrentJobs
	retried := 0
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.Error != nil && (e.State == manifest.StateStored || e.State == manifest.StateFailed) {
			*e = manifest.Entity{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path, PolicyID: e.PolicyID, State: manifest.StateQueued, SCP: e.SCP, Carry: e.Carry}
			if e.Carry != nil {
				e.Carry.Proven = 0
			}
			retried++
		}
	}
	if retried > 0 || m.Walk != nil || !m.Finished() {
		// Work remains: this execution's budget counts from now. A
		// finished run started again is left as it is, byte for byte.
		m.Settings.MaxRunMinutes = maxRunMinutes
		m.Deadline = runDeadline(time.Now(), maxRunMinutes)
	}
	if retried > 0 || m.RunError != nil {
		m.FinishedAt = nil
		m.RunError = nil
	}
	return retried
}
