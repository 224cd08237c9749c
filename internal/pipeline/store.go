package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/athena"
	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/carryover"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// maxCauseLen bounds the run error message kept from the state machine.
const maxCauseLen = 2000

// Store fetches every newly completed report (all pages), writes the
// per-entity reports and Athena rows, and records them in the manifest.
// When every report is stored it writes findings.json, report.html,
// summary.json and, last, latest.json, and returns Done. With s.Error set
// (the state machine's failure path) it records the run as FAILED: what
// completed is stored, the rest is reported failed with the run's error.
func (p *Pipeline) Store(ctx context.Context, s State) (State, error) {
	st, err := p.storeStep(ctx, s)
	return st, stepError("store", s.RunID, err)
}

func (p *Pipeline) storeStep(ctx context.Context, s State) (State, error) {
	m, err := manifest.Load(ctx, p.store, s.RunID)
	if err != nil {
		if s.Error != nil && manifest.IsNotFound(err) {
			// The run failed before it had a manifest: nothing to record.
			p.log.Warn("run failed before its manifest was written", "run_id", s.RunID, "error", s.Error.Error, "cause", s.Error.Cause)
			s.Done = true
			return s, nil
		}
		return State{}, err
	}
	log := p.log.With("run_id", m.RunID)
	budget := p.budget(ctx)
	r := p.newRunner(m, log)
	// Store starts no job: one would outlive the step.
	r.jobsUntil, r.started = time.Now(), 1
	opCtx, cancel := r.opContext(ctx, budget)
	defer cancel()
	if m.Walk != nil && s.Error == nil {
		return State{}, errStillWalking
	}
	if err := r.repairPart(opCtx); err != nil {
		if s.Error == nil {
			return r.finish(ctx, err)
		}
		// The run failed already: its summary matters more.
		log.Warn("access part not rewritten on the failure path", "error", err.Error())
	}
	if s.Error != nil {
		st, err := p.recordFailure(ctx, opCtx, r, budget, s.Error)
		st.Error = s.Error
		return st, err
	}
	if err := r.storeReports(ctx, opCtx, budget); err != nil {
		return r.finish(ctx, err)
	}
	if !m.Finished() {
		return r.finish(ctx, nil)
	}
	return p.finalize(ctx, r)
}

// storer writes the reports of completed and failed entities and their
// Athena rows. Rows go to part files of about partRows rows; an entity
// becomes stored when the part holding its rows is written and recorded
// (flush), so a crash in between redoes the same work. Check and Store
// both use one.
type storer struct {
	r       *runner
	part    *athena.Part
	pending map[int]bool // written, recorded at the next flush
	hasRows map[int]bool // pending entities with rows in part
	order   []int        // pending, in the order written
}

func (r *runner) newStorer() *storer {
	return &storer{r: r, part: athena.NewPart(), pending: map[int]bool{}, hasRows: map[int]bool{}}
}

// store writes entity i's report if it is completed or failed and not
// already written by this storer. Errors end the step.
func (s *storer) store(ctx, opCtx context.Context, i int) error {
	r, m := s.r, s.r.m
	e := &m.Entities[i]
	if s.pending[i] {
		return nil
	}
	switch e.State {
	case manifest.StateCompleted:
		st := s.prepare(opCtx, &r.reports, i, *e)
		return s.accept(ctx, opCtx, st)
	case manifest.StateFailed:
		if err := r.writeReport(opCtx, failureReport(m, e)); err != nil {
			return err
		}
		return s.pend(ctx, i)
	}
	return nil
}

// stored is a completed entity's report as prepare left it: read, written
// and turned into Athena rows and a digest, or the reason it could not be.
type stored struct {
	i       int
	doc     *reportdoc.EntityReport
	rows    []athena.Row
	digest  findings.Digest
	readErr error // reading the report failed
	// carryErr: the earlier report of a carried entity could not be
	// copied.
	carryErr error
	// failed: a failed entity's report, written (or not: err).
	failed  bool
	failure *reportdoc.Error // the job is no longer COMPLETED
	err     error            // writing the report failed
	// throttled counts the throttled answers met by a prepare whose
	// client did not count them itself.
	throttled int
	// added: the rows are already in the storer's part (Check's report
	// writer adds them on its own goroutine).
	added bool
}

// prepare reads the COMPLETED job of entity i (ent, a copy of it), writes
// its report and computes its rows and digest. It touches neither the
// manifest nor the storer, so it may run beside the loop that polls and
// starts jobs; accept records the result.
func (s *storer) prepare(opCtx context.Context, reports *accessreport.Client, i int, ent manifest.Entity) stored {
	r, m := s.r, s.r.m
	out := stored{i: i}
	if ent.Freshness != "" {
		doc, err := carryover.Report(opCtx, r.p.store, m, &ent)
		if err != nil {
			out.carryErr = err
			return out
		}
		out.doc = doc
		if out.err = r.writeReport(opCtx, out.doc); out.err != nil {
			return out
		}
		out.rows = athena.Rows(out.doc)
		out.digest = findings.DigestOf(out.doc, m.Settings.UnusedDays)
		return out
	}
	rep, err := reports.Fetch(opCtx, ent.JobID)
	if err != nil {
		out.readErr = err
		return out
	}
	if rep.Status.Status != accessreport.StatusCompleted {
		out.failure = &reportdoc.Error{Code: "UnexpectedJobStatus", Message: fmt.Sprintf("report job %s was COMPLETED and is now %s", ent.JobID, rep.Status.Status)}
		return out
	}
	if t := reportdoc.NewTime(rep.CreatedAt); t != nil {
		ent.CreatedAt = t
	}
	if t := reportdoc.NewTime(rep.CompletedAt); t != nil {
		ent.CompletedAt = t
	}
	services := rep.Services
	if services == nil {
		services = []reportdoc.Service{}
	}
	out.doc = &reportdoc.EntityReport{
		SchemaVersion:               reportdoc.SchemaVersion,
		RunID:                       m.RunID,
		OrganizationID:              m.OrganizationID,
		Entity:                      ent.DocEntity(),
		PolicyID:                    optional(ent.PolicyID),
		Job:                         reportdoc.Job{ID: ent.JobID, Status: reportdoc.StatusCompleted, CreatedAt: ent.CreatedAt, CompletedAt: ent.CompletedAt},
		NumberOfServicesAccessible:  rep.Accessible,
		NumberOfServicesNotAccessed: rep.NotAccessed,
		Services:                    services,
	}
	if out.err = r.writeReport(opCtx, out.doc); out.err != nil {
		return out
	}
	out.rows = athena.Rows(out.doc)
	out.digest = findings.DigestOf(out.doc, m.Settings.UnusedDays)
	return out
}

// prepareMany prepares a batch (see reportWriter.next): one entry is
// prepared as it is, several (none needing IAM) tune.writers at a time.
func (s *storer) prepareMany(opCtx context.Context, reports *accessreport.Client, batch []writeTask) []stored {
	out := make([]stored, len(batch))
	if len(batch) == 1 {
		out[0] = s.prepareAny(opCtx, reports, batch[0])
		return out
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(s.r.p.tune.writers, 1))
	for k, t := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[k] = s.prepareAny(opCtx, reports, t)
		}()
	}
	wg.Wait()
	return out
}

// prepareAny prepares a completed entity's report (prepare) or writes a
// failed one's.
func (s *storer) prepareAny(opCtx context.Context, reports *accessreport.Client, t writeTask) stored {
	if t.ent.State == manifest.StateFailed {
		return stored{i: t.i, failed: true, err: s.r.writeReport(opCtx, failureReport(s.r.m, &t.ent))}
	}
	return s.prepare(opCtx, reports, t.i, t.ent)
}

// accept records what prepare did for a completed entity: its report
// pending in the part, or the entity failed, queued again or retried later
// when it could not be read. Errors end the step.
func (s *storer) accept(ctx, opCtx context.Context, st stored) error {
	r := s.r
	i, e := st.i, &r.m.Entities[st.i]
	if st.throttled > 0 {
		r.m.Throttled += st.throttled
		r.dirty = true
	}
	if st.failed {
		if st.err != nil {
			return st.err
		}
		return s.pend(ctx, i)
	}
	switch {
	case st.readErr != nil:
		if err := r.readFailed(ctx, opCtx, i, st.readErr); err != nil {
			return err
		}
		if e.State == manifest.StateFailed {
			return s.store(ctx, opCtx, i) // it failed while being read: its failure report
		}
		return nil
	case st.carryErr != nil:
		if stop, cerr := stopped(ctx, opCtx, st.carryErr); stop {
			if cerr == nil {
				cerr = fmt.Errorf("%w: %w", errBudget, st.carryErr)
			}
			return cerr
		}
		r.carryFailed(i, st.carryErr)
		if e.State == manifest.StateFailed {
			return s.store(ctx, opCtx, i)
		}
		return nil
	case st.failure != nil:
		r.fail(i, st.failure)
		return s.store(ctx, opCtx, i)
	case st.err != nil:
		return st.err
	}
	e.Errors = 0
	e.CreatedAt, e.CompletedAt = st.doc.Job.CreatedAt, st.doc.Job.CompletedAt
	if !st.added {
		if err := s.part.Add(st.rows); err != nil {
			return err
		}
	}
	if len(st.rows) > 0 {
		s.hasRows[i] = true
	}
	d := st.digest
	e.Digest, e.Accessible, e.NotAccessed, e.Unused = &d, st.doc.NumberOfServicesAccessible, st.doc.NumberOfServicesNotAccessed, d.Unused
	if e.Freshness == "" && e.Type == reportdoc.TypeAccount {
		e.Carry = nil // refreshed: the earlier report is no longer needed
	}
	r.groupSettled(i)
	r.entityLog(i).Info("report stored", "services", len(st.doc.Services), "freshness", freshnessOf(e))
	return s.pend(ctx, i)
}

// pend marks entity i's report written, to be recorded as stored at the
// next flush; a full part is flushed at once.
func (s *storer) pend(ctx context.Context, i int) error {
	s.pending[i] = true
	s.order = append(s.order, i)
	if s.part.Rows() >= s.r.p.tune.partRows {
		return s.flush(ctx)
	}
	return nil
}

// flush records the pending entities as stored and writes their part. A
// part is written only after the save that claims it (its number, and the
// reports whose rows it holds) succeeds: a writer whose save loses a race
// to another writer of the run (412) writes no part, so no part number
// ever holds two writers' rows. If the step ends between the save and the
// write, the manifest's pendingPart tells the next step to write the part
// from its reports (repairPart). A flush of failure reports alone writes
// no part: the manifest is saved on its usual schedule (maybeSave), since a
// 10 MB manifest saved after every report would hold up the loop. It
// outlives a cancelled caller for a few seconds, so written reports are
// not redone.
func (s *storer) flush(ctx context.Context) error {
	if len(s.order) == 0 {
		return nil
	}
	r, m := s.r, s.r.m
	ctx, cancel := saveCtx(ctx)
	defer cancel()
	for _, i := range s.order {
		m.Entities[i].State = manifest.StateStored
	}
	r.dirty = true
	part, reports := s.part, len(s.hasRows)
	if part.Rows() > 0 {
		for i := range s.hasRows {
			m.Entities[i].Part = m.NextPart
		}
		m.PendingPart = m.NextPart
		m.NextPart++
	}
	s.part, s.pending, s.hasRows, s.order = athena.NewPart(), map[int]bool{}, map[int]bool{}, nil
	if part.Rows() == 0 {
		return r.maybeSave(ctx)
	}
	if err := r.save(ctx); err != nil {
		return err
	}
	b, err := part.Bytes()
	if err != nil {
		return err
	}
	return r.writePart(ctx, m.PendingPart, b, part.Rows(), reports)
}

// writePart writes part n, claimed by the last save, and clears
// pendingPart (saved with the manifest's next save).
func (r *runner) writePart(ctx context.Context, n int, b []byte, rows, reports int) error {
	m := r.m
	key := reportdoc.AccessPartKey(m.StartedAt.Time, m.RunID, n)
	if err := r.p.store.Put(ctx, key, b, athena.ContentType); err != nil {
		return fmt.Errorf("write access part: %w", err)
	}
	r.log.Info("access part written", "key", key, "rows", rows, "reports", reports)
	if m.PendingPart == n {
		m.PendingPart = 0
		r.dirty = true
	}
	return nil
}

// repairPart makes sure the part the manifest's last saver claimed exists:
// a step that ended between that save and the part's write left it
// unwritten. Its rows are made again from the stored reports whose rows it
// holds; a part already written (S3 writes whole objects) is left alone.
// Only the writer whose save claimed a part, or a later step of the run,
// ever writes it, and always from the same reports, so a slow claimant that
// writes it after this does not change which rows it holds.
func (r *runner) repairPart(ctx context.Context) error {
	m := r.m
	n := m.PendingPart
	if n == 0 {
		return nil
	}
	key := reportdoc.AccessPartKey(m.StartedAt.Time, m.RunID, n)
	keys, err := r.p.store.List(ctx, key)
	if err != nil {
		return fmt.Errorf("look for access part %d: %w", n, err)
	}
	if slices.Contains(keys, key) {
		m.PendingPart = 0
		r.dirty = true
		return nil
	}
	part := athena.NewPart()
	reports := 0
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.Part != n || e.State != manifest.StateStored || e.Error != nil {
			continue
		}
		b, err := r.p.store.Get(ctx, e.ReportKey(m.RunID))
		if err != nil {
			return fmt.Errorf("rewrite access part %d: report of %s: %w", n, e.Label(), err)
		}
		var doc reportdoc.EntityReport
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("rewrite access part %d: report of %s: %w", n, e.Label(), err)
		}
		if err := part.Add(athena.Rows(&doc)); err != nil {
			return err
		}
		reports++
	}
	b, err := part.Bytes()
	if err != nil {
		return err
	}
	r.log.Warn("access part claimed but not written by an earlier step; writing it from its reports", "part", n, "reports", reports)
	return r.writePart(ctx, n, b, part.Rows(), reports)
}

// stop ends a step's storing: what was written is flushed; the end of the
// budget is not an error.
func (s *storer) stop(ctx, opCtx context.Context, err error) error {
	if st, cerr := stopped(ctx, opCtx, err); st && cerr == nil {
		return s.flush(ctx)
	}
	return errors.Join(err, s.flush(ctx))
}

// storeReports writes the report of every completed or failed entity
// until the budget is spent, polling and starting jobs between reports so
// that IAM does not sit idle while Store works.
func (r *runner) storeReports(ctx, opCtx context.Context, budget time.Time) error {
	s := r.newStorer()
	// Jobs that finished since Check looked are stored in this pass too.
	if err := r.pollDue(ctx, opCtx); err != nil {
		return s.stop(ctx, opCtx, err)
	}
	// Reports that need no IAM call (carried, failed) are written a batch
	// at a time, in parallel.
	var batch []writeTask
	writeBatch := func() error {
		for _, st := range s.prepareMany(opCtx, &r.reports, batch) {
			if err := s.accept(ctx, opCtx, st); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	for i := range r.m.Entities {
		if !time.Now().Before(budget) {
			break
		}
		e := &r.m.Entities[i]
		var err error
		if noIAM := e.State == manifest.StateFailed || (e.State == manifest.StateCompleted && e.Freshness != ""); noIAM && !s.pending[i] {
			if batch = append(batch, writeTask{i: i, ent: *e}); len(batch) < copyBatch {
				continue
			}
			err = writeBatch()
		} else {
			err = s.store(ctx, opCtx, i)
		}
		if err != nil {
			return s.stop(ctx, opCtx, err)
		}
		// Keep IAM busy meanwhile: poll the jobs that are due and start
		// the next ones as slots free, as Check would.
		if err := r.pollDue(ctx, opCtx); err != nil {
			return s.stop(ctx, opCtx, err)
		}
		if err := r.startJobs(ctx, opCtx); err != nil {
			return s.stop(ctx, opCtx, err)
		}
	}
	if len(batch) > 0 && time.Now().Before(budget) {
		if err := writeBatch(); err != nil {
			return s.stop(ctx, opCtx, err)
		}
	}
	return s.flush(ctx)
}

// readFailed handles a failure to read entity i's completed report: the
// end of the step or its budget is returned; otherwise the entity is queued
// again (its job was lost), retried later, or failed.
func (r *runner) readFailed(ctx, opCtx context.Context, i int, err error) error {
	if stop, cerr := stopped(ctx, opCtx, err); stop {
		if cerr == nil {
			cerr = fmt.Errorf("%w: %w", errBudget, err)
		}
		return cerr
	}
	switch {
	case accessreport.IsNoSuchEntity(err):
		r.lostJob(i, err)
	case backoff.IsTransient(err):
		r.transient(i, "read report", err)
	default:
		r.fail(i, accessreport.ErrorOf(err))
	}
	return nil
}

// errBudget stops a loop when the step's budget ran out mid-call; it is
// not a failure.
var errBudget = errors.New("step budget spent")

// failureReport is the report file of an entity whose job failed or could
// not run.
func failureReport(m *manifest.Manifest, e *manifest.Entity) *reportdoc.EntityReport {
	return &reportdoc.EntityReport{
		SchemaVersion:  reportdoc.SchemaVersion,
		RunID:          m.RunID,
		OrganizationID: m.OrganizationID,
		Entity:         e.DocEntity(),
		PolicyID:       optional(e.PolicyID),
		Job:            reportdoc.Job{ID: e.JobID, Status: reportdoc.StatusFailed, CreatedAt: e.CreatedAt, CompletedAt: e.CompletedAt, Error: e.Error},
		Services:       []reportdoc.Service{},
	}
}

func (r *runner) writeReport(ctx context.Context, doc *reportdoc.EntityReport) error {
	b, err := marshalDoc(doc)
	if err != nil {
		return err
	}
	pol := ""
	if doc.PolicyID != nil {
		pol = *doc.PolicyID
	}
	if err := r.p.store.Put(ctx, reportdoc.ReportKey(r.m.RunID, doc.Entity.ID, pol), b, "application/json"); err != nil {
		return fmt.Errorf("write report of %s: %w", doc.Entity.ID, err)
	}
	return nil
}

// marshalDoc encodes a stored document: indented for people, with a final
// newline, and no HTML escaping (names are shown as given).
func marshalDoc(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return []byte(b.String()), nil
}

// freshnessOf is the freshness of e's report: fresh unless carried.
func freshnessOf(e *manifest.Entity) string {
	if e.Freshness == "" {
		return reportdoc.Fresh
	}
	return e.Freshness
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// recordFailure is Store on the failure path: the run stopped with an
// error. Reports that completed are stored if the budget allows; every
// other entity fails with the run's error; then the documents are written
// with status FAILED.
func (p *Pipeline) recordFailure(ctx, opCtx context.Context, r *runner, budget time.Time, stepErr *StepError) (State, error) {
	m := r.m
	cause := stepErr.Cause
	if len(cause) > maxCauseLen {
		cause = cause[:maxCauseLen] + "…"
	}
	code := stepErr.Error
	if code == "" {
		code = "RunFailed"
	}
	m.RunError = &reportdoc.Error{Code: code, Message: cause}
	r.failing = true
	r.log.Error("run failed; recording it", "error", code, "cause", cause)
	half := time.Now().Add(time.Until(budget) / 2)
	if err := r.storeReports(ctx, opCtx, half); err != nil && !errors.Is(err, errBudget) {
		r.log.Warn("storing completed reports on the failure path failed", "error", err.Error())
	}
	var todo []int
	for i := range m.Entities {
		e := &m.Entities[i]
		switch e.State {
		case manifest.StateQueued, manifest.StatePending, manifest.StateRunning, manifest.StateCompleted:
			e.State, e.Freshness = manifest.StateFailed, ""
			e.Error = &reportdoc.Error{Code: code, Message: "the run failed before this report was stored: " + cause}
			fallthrough
		case manifest.StateFailed:
			todo = append(todo, i)
		}
	}
	r.dirty = true
	if err := r.save(ctx); err != nil {
		return State{}, err
	}
	// Failure reports in parallel: the failure path runs once, so it
	// should finish within one step even for a large organization.
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, p.tune.writers)
	for _, i := range todo {
		if !time.Now().Before(budget) {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			doc := failureReport(m, &m.Entities[i])
			mu.Unlock()
			if err := r.writeReport(opCtx, doc); err != nil {
				r.entityLog(i).Warn("failure report not written", "error", err.Error())
				return
			}
			mu.Lock()
			m.Entities[i].State = manifest.StateStored
			mu.Unlock()
		}()
	}
	wg.Wait()
	return p.finalize(ctx, r)
}

// finalize writes the run's documents once every report is stored (or the
// run failed): findings.json, report.html, summary.json, then latest.json.
// Everything comes from the manifest, so running it again gives the same
// bytes.
func (p *Pipeline) finalize(ctx context.Context, r *runner) (State, error) {
	m := r.m
	if m.FinishedAt == nil {
		m.FinishedAt = reportdoc.NewTime(p.now())
		r.dirty = true
	}
	if !m.PreviousResolved {
		latest, err := p.readLatest(ctx)
		if err != nil {
			return r.finish(ctx, err)
		}
		if latest != nil && latest.RunID != m.RunID {
			m.PreviousRunID = latest.RunID
		}
		m.PreviousResolved = true
		r.dirty = true
	}
	if err := r.save(ctx); err != nil {
		return State{}, err
	}
	summary := buildSummary(m)
	var prev *findings.Previous
	if m.PreviousRunID != "" {
		pm, err := manifest.Load(ctx, p.store, m.PreviousRunID)
		switch {
		case err == nil:
			prev = &findings.Previous{RunID: pm.RunID, Entries: pm.FindingsEntries()}
		case manifest.IsNotFound(err):
			r.log.Warn("previous run has no manifest; no changes section", "previous_run_id", m.PreviousRunID)
		default:
			return State{}, fmt.Errorf("finalize: %w", err)
		}
	}
	in := findings.Input{Summary: summary, UnusedDays: m.Settings.UnusedDays, Entries: m.FindingsEntries(), Previous: prev, ManagementAccountID: m.ManagementAccountID}
	// The run's SCPs let every suggestion be checked by the what-if
	// evaluator; a run without them is finalized unchecked.
	switch pols, err := policyset.Load(ctx, p.store, m.RunID); {
	case err == nil:
		in.Policies = pols
	case errors.Is(err, policyset.ErrNoPolicies):
	default:
		r.log.Warn("policies document unreadable; suggestions not checked", "error", err.Error())
	}
	res, err := findings.Finalize(in)
	if errors.Is(err, findings.ErrStaleDigest) {
		// A new service catalog was deployed mid-run (or since the
		// previous run): recompute this run's digests from its reports and
		// compare with the previous run only if that still works.
		if err = p.refreshDigests(ctx, r); err == nil {
			in.Entries = m.FindingsEntries()
			if res, err = findings.Finalize(in); errors.Is(err, findings.ErrStaleDigest) {
				r.log.Warn("previous run's digests use another service catalog; no changes section")
				in.Previous = nil
				res, err = findings.Finalize(in)
			}
		}
	}
	if err != nil {
		return State{}, fmt.Errorf("finalize: %w", err)
	}
	summary.Changes = res.Changes
	sum, err := marshalDoc(summary)
	if err != nil {
		return State{}, err
	}
	writes := []struct {
		key, contentType string
		body             []byte
	}{
		{reportdoc.FindingsKey(m.RunID), "application/json", res.FindingsJSON},
		{reportdoc.HTMLKey(m.RunID), "text/html; charset=utf-8", res.HTML},
		{reportdoc.SummaryKey(m.RunID), "application/json", sum},
	}
	for _, w := range writes {
		if err := p.store.Put(ctx, w.key, w.body, w.contentType); err != nil {
			return State{}, fmt.Errorf("finalize: %w", err)
		}
	}
	if err := p.blankOrphanParts(ctx, m); err != nil {
		return State{}, err
	}
	if summary.Status != reportdoc.RunFailed {
		if err := p.writeLatest(ctx, m); err != nil {
			return State{}, err
		}
		if err := p.notify(ctx, r, res.Changes, in.Entries); err != nil {
			return State{}, err
		}
	}
	r.log.Info("run finished", "status", summary.Status, "succeeded", summary.Entities.Succeeded, "failed", summary.Entities.Failed, "summary", p.store.Location(reportdoc.SummaryKey(m.RunID)))
	return stateOf(m, 0, true), nil
}

// notify sends the run's first-use notifications once. A failure to send
// is logged, not fatal: the audit itself is complete and stored.
func (p *Pipeline) notify(ctx context.Context, r *runner, changes *reportdoc.Changes, entries []findings.Entry) error {
	m := r.m
	if p.notifier == nil || m.Notified || changes == nil {
		return nil
	}
	n, err := p.notifier.FirstUse(ctx, m.RunID, m.OrganizationID, changes, entries)
	if err != nil {
		r.log.Warn("first-use notification failed", "error", err.Error(), "sent", n)
		return nil
	}
	r.log.Info("first-use notifications sent", "messages", n)
	m.Notified = true
	r.dirty = true
	return r.save(ctx)
}

// buildSummary lists every entity of m once, in manifest order.
func buildSummary(m *manifest.Manifest) *reportdoc.Summary {
	s := &reportdoc.Summary{
		SchemaVersion:  reportdoc.SchemaVersion,
		RunID:          m.RunID,
		OrganizationID: m.OrganizationID,
		StartedAt:      m.StartedAt,
		CompletedAt:    m.FinishedAt,
		Reports:        make([]reportdoc.SummaryReport, 0, len(m.Entities)),
		Errors:         []reportdoc.SummaryError{},
	}
	for i := range m.Entities {
		e := &m.Entities[i]
		status := e.Status()
		line := reportdoc.SummaryReport{
			EntityID: e.ID, Path: e.Path, PolicyID: optional(e.PolicyID), Key: e.ReportKey(m.RunID), Status: status,
			ServicesAccessible: e.Accessible, ServicesNotAccessed: e.NotAccessed, UnusedServices: e.Unused,
		}
		if status == reportdoc.StatusCompleted && e.Digest != nil {
			line.Freshness, line.AsOf = freshnessOf(e), reportdoc.NewTime(time.Unix(e.Digest.AsOf, 0))
			switch line.Freshness {
			case reportdoc.Unchanged:
				s.Freshness.Unchanged++
			case reportdoc.Stale:
				s.Freshness.Stale++
			default:
				s.Freshness.Fresh++
			}
		}
		s.Reports = append(s.Reports, line)
		if status == reportdoc.StatusFailed {
			s.Entities.Failed++
			er := e.Error
			if er == nil {
				er = &reportdoc.Error{Code: "Unknown", Message: "no error was recorded"}
			}
			s.Errors = append(s.Errors, reportdoc.SummaryError{EntityID: e.ID, PolicyID: optional(e.PolicyID), Code: er.Code, Message: er.Message})
		} else {
			s.Entities.Succeeded++
		}
	}
	s.Entities.Total = len(m.Entities)
	s.Jobs = reportdoc.SummaryJobs{Root: m.Jobs[reportdoc.TypeRoot], OUs: m.Jobs[reportdoc.TypeOU], Accounts: m.Jobs[reportdoc.TypeAccount]}
	switch {
	case m.RunError != nil, s.Entities.Failed > 0 && s.Entities.Succeeded == 0:
		s.Status = reportdoc.RunFailed
	case s.Entities.Failed > 0:
		s.Status = reportdoc.RunPartial
	default:
		s.Status = reportdoc.RunSucceeded
	}
	return s
}

// refreshDigests recomputes the digests of m's stored reports from the
// report files.
func (p *Pipeline) refreshDigests(ctx context.Context, r *runner) error {
	m := r.m
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.State != manifest.StateStored || e.Error != nil {
			continue
		}
		b, err := p.store.Get(ctx, e.ReportKey(m.RunID))
		if err != nil {
			return fmt.Errorf("refresh digest of %s: %w", e.Label(), err)
		}
		var doc reportdoc.EntityReport
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("refresh digest of %s: %w", e.Label(), err)
		}
		d := findings.DigestOf(&doc, m.Settings.UnusedDays)
		e.Digest, e.Unused = &d, d.Unused
	}
	r.dirty = true
	return r.save(ctx)
}

// blankOrphanParts empties part files numbered at or above NextPart, rows
// the manifest does not own: a part is written only after the save that
// claims it, but a step of an older version wrote the part first and may
// have crashed before recording it. Athena reads every file of the folder,
// so they must not stay.
func (p *Pipeline) blankOrphanParts(ctx context.Context, m *manifest.Manifest) error {
	prefix := athena.PartPrefix(m.StartedAt.Time, m.RunID)
	keys, err := p.store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		num, ok := strings.CutPrefix(name, "part-")
		num, ok2 := strings.CutSuffix(num, ".jsonl.gz")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || n < m.NextPart {
			continue
		}
		empty, err := athena.NewPart().Bytes()
		if err != nil {
			return err
		}
		if err := p.store.Put(ctx, k, empty, athena.ContentType); err != nil {
			return fmt.Errorf("finalize: blank orphan part: %w", err)
		}
	}
	return nil
}

func (p *Pipeline) readLatest(ctx context.Context) (*reportdoc.Latest, error) {
	b, err := p.store.Get(ctx, reportdoc.LatestKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read latest.json: %w", err)
	}
	var l reportdoc.Latest
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("read latest.json: %w", err)
	}
	return &l, nil
}

// writeLatest points latest.json at m unless it points at a run that
// finished later.
func (p *Pipeline) writeLatest(ctx context.Context, m *manifest.Manifest) error {
	cur, err := p.readLatest(ctx)
	if err != nil {
		return err
	}
	if cur != nil && cur.RunID != m.RunID && cur.CompletedAt != nil && cur.CompletedAt.After(m.FinishedAt.Time) {
		return nil
	}
	b, err := marshalDoc(reportdoc.Latest{RunID: m.RunID, SummaryKey: reportdoc.SummaryKey(m.RunID), CompletedAt: m.FinishedAt})
	if err != nil {
		return err
	}
	if err := p.store.Put(ctx, reportdoc.LatestKey, b, "application/json"); err != nil {
		return fmt.Errorf("write latest.json: %w", err)
	}
	return nil
}
