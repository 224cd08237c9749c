package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

// The organization walk of a run. A new run reads the organization and its
// root, checks every entity path of the input (a few calls each, before
// anything is written, so bad input leaves nothing behind), and saves the
// manifest with the walk in it. The walk then goes on, saving its progress
// every saveEvery, until it is done or the step's budget ends; Start
// returns a state with walking set, and the state machine (or the CLI)
// calls Start again, which continues from the saved progress. Once the
// walk is done, Start builds the run's entities from it; Check starts the
// jobs. No job starts before the walk is done: see docs/pipeline.md.

// errStillWalking is the error of a Check or Store called before Start
// finished the walk.
var errStillWalking = errors.New("the organization walk is not finished: Start continues it before any Check or Store")

// newRun begins the walk of a new run: the manifest it returns holds the
// walk, not yet saved. Entity paths that name no entity of the organization
// are InvalidInput.
func (p *Pipeline) newRun(ctx context.Context, in runinput.Input, budget time.Time, log *slog.Logger) (*manifest.Manifest, error) {
	walker := p.walkerFor(log)
	// The first calls are few; the step's budget bounds them, so a caller
	// throttled from the start fails the step with time left to say so.
	bctx, cancel := context.WithDeadline(ctx, budget)
	defer cancel()
	pr, err := walker.Begin(bctx)
	if err != nil {
		return nil, p.budgetError(ctx, bctx, err)
	}
	var starts []orgwalk.Entity
	for i, path := range in.EntityPaths {
		e, err := walker.Locate(bctx, pr, path)
		var none *orgwalk.NoEntity
		if errors.As(err, &none) {
			return nil, &runinput.InvalidInput{Field: fmt.Sprintf("entityPaths[%d]", i), Message: none.Error()}
		}
		if err != nil {
			return nil, p.budgetError(ctx, bctx, err)
		}
		starts = append(starts, e)
	}
	if len(starts) == 0 {
		pr.Plan([]orgwalk.Entity{pr.Root()}, true, in.IncludeAccounts, true)
	} else {
		// Listed entities are audited as they are; their subtrees are
		// walked only to find the accounts under them.
		pr.Plan(starts, in.IncludeAccounts, in.IncludeAccounts, true)
	}
	settings := manifest.Settings{
		EntityPaths:       in.EntityPaths,
		IncludeAccounts:   in.IncludeAccounts,
		IncludePolicies:   in.IncludePolicies,
		UnusedDays:        in.UnusedDays,
		MaxConcurrentJobs: in.MaxConcurrentJobs,

		MaxRunMinutes:      in.MaxRunMinutes,
		AccountRefreshDays: in.AccountRefreshDays,
	}
	m := manifest.New(in.RunID, pr.OrganizationID, pr.ManagementAccountID, settings, p.now(), []manifest.Entity{})
	m.Deadline = runDeadline(time.Now(), in.MaxRunMinutes)
	if err := putWalk(m, pr); err != nil {
		return nil, err
	}
	return m, nil
}

// budgetError explains a failure of the first calls that ran into the
// step's budget.
func (p *Pipeline) budgetError(ctx, bctx context.Context, err error) error {
	if ctx.Err() == nil && bctx.Err() != nil {
		return fmt.Errorf("reading the organization's root and the entity paths took longer than the step's budget: %w", err)
	}
	return err
}

// walkerFor returns a copy of the pipeline's walker that logs for a run.
func (p *Pipeline) walkerFor(log *slog.Logger) *orgwalk.Walker {
	w := *p.walker
	w.Logger = log
	return &w
}

// walk continues m's walk until it is done or the budget ends, saving the
// manifest every saveEvery and at the end.
func (p *Pipeline) walk(ctx context.Context, m *manifest.Manifest, budget time.Time, log *slog.Logger) (*orgwalk.Progress, error) {
	pr, err := getWalk(m)
	if err != nil {
		return nil, err
	}
	walker := p.walkerFor(log)
	for !pr.Done() {
		slice := time.Now().Add(p.tune.saveEvery)
		if budget.Before(slice) {
			slice = budget
		}
		done, werr := walker.Continue(ctx, pr, slice)
		if err := putWalk(m, pr); err != nil {
			return pr, err
		}
		m.Throttled = pr.Throttled
		sctx, cancel := saveCtx(ctx)
		serr := m.Save(sctx, p.store)
		cancel()
		switch {
		case werr != nil:
			return pr, fmt.Errorf("walk the organization: %w", werr)
		case serr != nil:
			return pr, serr
		case done:
		case !time.Now().Before(budget), ctx.Err() != nil:
			ous, accounts := pr.Counts()
			log.Info("walk continues in the next step", "ous", ous, "accounts", accounts, "calls", pr.Calls, "throttled", pr.Throttled)
			return pr, ctx.Err()
		}
	}
	return pr, nil
}

// walked turns a finished walk into the run's entities and removes the
// walk from the manifest, which it saves.
func (p *Pipeline) walked(ctx context.Context, m *manifest.Manifest, pr *orgwalk.Progress, log *slog.Logger) error {
	s := m.Settings
	var scope []orgwalk.Entity
	if len(s.EntityPaths) == 0 {
		scope = pr.Entities
	} else {
		byPath := map[string]orgwalk.Entity{}
		for _, e := range pr.Entities {
			byPath[e.Path] = e
		}
		var listed []orgwalk.Entity
		for _, path := range s.EntityPaths {
			if e, ok := byPath[path]; ok && !slices.ContainsFunc(listed, func(l orgwalk.Entity) bool { return l.Path == path }) {
				listed = append(listed, e)
			}
		}
		scope = listed
		if s.IncludeAccounts {
			for _, e := range pr.Entities {
				if e.Type == orgwalk.TypeAccount && !slices.ContainsFunc(listed, func(l orgwalk.Entity) bool { return l.Path == e.Path }) && underAny(e, listed) {
					scope = append(scope, e)
				}
			}
		}
	}
	entities := make([]manifest.Entity, 0, len(scope))
	for _, e := range scope {
		me := manifest.Entity{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path, State: manifest.StateQueued}
		entities = append(entities, me)
		if !s.IncludePolicies || e.ID == m.ManagementAccountID {
			continue
		}
		for _, pol := range pr.Attached[e.ID] {
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
	doc, err := policyset.FromWalk(m.RunID, pr)
	if err != nil {
		return err
	}
	if err := policyset.Save(ctx, p.store, doc); err != nil {
		return err
	}
	m.Entities = entities
	if err := p.prepareCarry(ctx, m, pr); err != nil {
		return err
	}
	m.Walk = nil
	m.Throttled = pr.Throttled
	ous, accounts := pr.Counts()
	log.Info("organization walked", "ous", ous, "accounts", accounts, "policies", len(pr.Policies),
		"calls", pr.Calls, "throttled", pr.Throttled, "entities", len(entities))
	// The manifest has its entities before the first job exists, so a
	// crash right after a Generate leaves a run to resume rather than an
	// orphan job.
	return m.Save(ctx, p.store)
}

func getWalk(m *manifest.Manifest) (*orgwalk.Progress, error) {
	var pr orgwalk.Progress
	if err := json.Unmarshal(m.Walk, &pr); err != nil {
		return nil, fmt.Errorf("read the walk of run %s: %w", m.RunID, err)
	}
	return &pr, nil
}

func putWalk(m *manifest.Manifest, pr *orgwalk.Progress) error {
	b, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	m.Walk = b
	return nil
}

// walkState is the payload of a Start that has not finished the walk:
// walking, with the wait before the next Start (none unless the walk was
// being throttled when it stopped).
func walkState(m *manifest.Manifest, pr *orgwalk.Progress) State {
	st := State{RunID: m.RunID, ManifestKey: m.Key(), Throttled: m.Throttled, Walking: true}
	if pr == nil {
		return st
	}
	st.WalkedOUs, st.WalkedAccounts = pr.Counts()
	st.WalkCalls = pr.Calls
	if pr.ThrottledSince != 0 {
		// Let the throttling ease: a few of the gaps it taught, 1..60 s.
		st.WaitSeconds = min(60, max(1, int(math.Ceil(4*float64(pr.PaceMillis)/1000))))
	}
	return st
}

func underAny(e orgwalk.Entity, ancestors []orgwalk.Entity) bool {
	for _, a := range ancestors {
		if orgwalk.Under(e, a) {
			return true
		}
	}
	return false
}
