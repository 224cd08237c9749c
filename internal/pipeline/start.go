package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
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
	begun, budget := time.Now(), p.budget(ctx)
	m, err := manifest.Load(ctx, p.store, in.RunID)
	switch {
	case err == nil:
		if err := p.resume(m, in); err != nil {
			return State{}, in.RunID, err
		}
		log.Info("resuming run", "entities", len(m.Entities))
	case manifest.IsNotFound(err):
		// The walk stops at the step's budget, leaving time to report
		// the failure before the function's deadline.
		walkCtx, cancel := context.WithDeadline(ctx, budget)
		m, err = p.newRun(walkCtx, in, log)
		cancel()
		if err != nil {
			if ctx.Err() == nil && walkCtx.Err() != nil {
				err = fmt.Errorf("walking the organization took longer than the step's budget (%s): %w", budget.Sub(begun).Round(time.Second), err)
			}
			return State{}, in.RunID, err
		}
		log.Info("run started", "organization_id", m.OrganizationID, "entities", len(m.Entities),
			"include_accounts", in.IncludeAccounts, "include_policies", in.IncludePolicies)
	default:
		return State{}, in.RunID, err
	}
	// The manifest exists before the first job does, so a crash right
	// after a Generate leaves a run to resume rather than an orphan job.
	if err := m.Save(ctx, p.store); err != nil {
		return State{}, in.RunID, err
	}
	// Start starts no job: a job is generated, polled and read by one
	// step, with one set of credentials, and Check is that step.
	r := p.newRunner(m, log)
	st, err := r.finish(ctx, nil)
	return st, in.RunID, err
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
	// The window may change: it only paces this execution.
	m.Settings.MaxConcurrentJobs = in.MaxConcurrentJobs
	retried := 0
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.Error != nil && (e.State == manifest.StateStored || e.State == manifest.StateFailed) {
			*e = manifest.Entity{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path, PolicyID: e.PolicyID, State: manifest.StateQueued}
			retried++
		}
	}
	if retried > 0 || m.RunError != nil {
		m.FinishedAt = nil
		m.RunError = nil
	}
	return nil
}

// accountIDRE matches an account id, the last segment of an account path.
var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// newRun walks the organization and builds the manifest of a new run.
// Paths that are not this organization's entities are InvalidInput.
func (p *Pipeline) newRun(ctx context.Context, in runinput.Input, log *slog.Logger) (*manifest.Manifest, error) {
	walker := *p.walker // a copy that logs and counts for this run
	walker.Logger = log
	throttled := 0
	var mu sync.Mutex
	walker.OnRetry = func(err error) {
		if backoff.IsThrottle(err) {
			mu.Lock()
			throttled++
			mu.Unlock()
		}
	}
	org, err := walker.Tree(ctx)
	if err != nil {
		return nil, err
	}
	var scope []orgwalk.Entity
	if len(in.EntityPaths) == 0 {
		scope = append(scope, org.Entities...) // the root and every OU
		if in.IncludeAccounts {
			if err := walker.AddAccounts(ctx, org, ids(org.Entities)); err != nil {
				return nil, err
			}
			scope = org.Entities
		}
	} else {
		listed, err := resolvePaths(ctx, &walker, org, in.EntityPaths)
		if err != nil {
			return nil, err
		}
		scope = listed
		if in.IncludeAccounts {
			var parents []string
			for _, e := range org.Entities {
				if e.Type != orgwalk.TypeAccount && underAny(e, listed) {
					parents = append(parents, e.ID)
				}
			}
			if err := walker.AddAccounts(ctx, org, parents); err != nil {
				return nil, err
			}
			inScope := map[string]bool{}
			for _, e := range listed {
				inScope[e.Path] = true
			}
			for _, e := range org.Entities {
				if e.Type == orgwalk.TypeAccount && !inScope[e.Path] && underAny(e, listed) {
					scope = append(scope, e)
				}
			}
		}
	}
	var attached map[string][]string
	if in.IncludePolicies {
		var targets []string
		for _, e := range scope {
			if e.ID != org.ManagementAccountID {
				targets = append(targets, e.ID)
			}
		}
		if attached, err = walker.Attachments(ctx, targets); err != nil {
			return nil, err
		}
	}
	entities := make([]manifest.Entity, 0, len(scope))
	for _, e := range scope {
		me := manifest.Entity{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path, State: manifest.StateQueued}
		entities = append(entities, me)
		for _, pol := range attached[e.ID] {
			me.PolicyID = pol
			entities = append(entities, me)
		}
	}
	slices.SortFunc(entities, func(a, b manifest.Entity) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.PolicyID, b.PolicyID)
	})
	settings := manifest.Settings{
		EntityPaths:       in.EntityPaths,
		IncludeAccounts:   in.IncludeAccounts,
		IncludePolicies:   in.IncludePolicies,
		UnusedDays:        in.UnusedDays,
		MaxConcurrentJobs: in.MaxConcurrentJobs,
	}
	m := manifest.New(in.RunID, org.ID, org.ManagementAccountID, settings, p.now(), entities)
	m.Throttled = throttled
	return m, nil
}

// resolvePaths returns the entities the paths name, in input order.
func resolvePaths(ctx context.Context, walker *orgwalk.Walker, org *orgwalk.Org, paths []string) ([]orgwalk.Entity, error) {
	var out []orgwalk.Entity
	for i, path := range paths {
		field := fmt.Sprintf("entityPaths[%d]", i)
		if !strings.HasPrefix(path, org.ID+"/") {
			return nil, &runinput.InvalidInput{Field: field, Message: fmt.Sprintf("%q is not in organization %s", path, org.ID)}
		}
		e, ok := org.ByPath(path)
		if !ok {
			// An account path: list the accounts of its parent once.
			cut := strings.LastIndexByte(path, '/')
			if parent, found := org.ByPath(path[:cut]); found && parent.Type != orgwalk.TypeAccount && accountIDRE.MatchString(path[cut+1:]) {
				if err := walker.AddAccounts(ctx, org, []string{parent.ID}); err != nil {
					return nil, err
				}
				e, ok = org.ByPath(path)
			}
		}
		if !ok {
			return nil, &runinput.InvalidInput{Field: field, Message: fmt.Sprintf("%q names no entity of organization %s", path, org.ID)}
		}
		out = append(out, e)
	}
	return out, nil
}

func ids(es []orgwalk.Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func underAny(e orgwalk.Entity, ancestors []orgwalk.Entity) bool {
	for _, a := range ancestors {
		if orgwalk.Under(e, a) {
			return true
		}
	}
	return false
}
