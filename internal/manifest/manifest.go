// Package manifest keeps the state of one audit run in
// runs/<runId>/manifest.json, so that every step of the state machine (and
// a retried or timed-out one) resumes where the last save left off. The
// Step Functions payload only points at it.
//
// The document (see docs/manifest.md) is compact JSON:
//
//	{ "schemaVersion": 1, "runId": "…", "organizationId": "o-…",
//	  "managementAccountId": "…",
//	  "settings": {"entityPaths": […], "includeAccounts": false, "includePolicies": false,
//	               "unusedDays": 90, "maxConcurrentJobs": 1},
//	  "startedAt": "RFC3339", "finishedAt": "RFC3339"|absent,
//	  "previousRunId": "…"|absent, "previousResolved": true|absent,
//	  "nextPart": 3, "pendingPart": 2|absent, "throttled": 0, "pace": {"group": {"millis": 4300, "low": 2100}},
//	  "runError": {"code","message"}|absent,
//	  "carryFrom": "…"|absent, "jobs": {"ROOT": 1, …}|absent,
//	  "walk": {…the organization walk in progress…}|absent,
//	  "entities": [ {"id","type","name","path","policyId"?, "state",
//	                 "jobId"?, "attempts"?, "sentAt"?, "session"?, "createdAt"?, "completedAt"?,
//	                 "error"?, "accessible"?, "notAccessed"?, "unused"?,
//	                 "part"?, "digest"?, "scp"?, "freshness"?, "carry"?}, … ] }
//
// An entity moves queued → running → completed|failed → stored; an account
// with an earlier report to carry starts pending and becomes either
// completed (carried) or queued. "stored"
// means its report file is written (and, for a completed job, its Athena
// rows are in part "part"); a stored entity with an error is a failed
// report. Re-running a step for the same run rewrites the same keys with
// the same content, because everything a document holds comes from here.
package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// SchemaVersion is the version of the manifest document.
const SchemaVersion = 1

// Kinds of entity whose jobs are paced apart: an account's job takes about
// the same time as any other account's, while the root's and an OU's grow
// with the accounts under them.
const (
	PaceAccount = "account"
	PaceGroup   = "group" // the root and OUs
)

// PaceKind is the kind of entity e's jobs are paced as.
func (e *Entity) PaceKind() string {
	if e.Type == reportdoc.TypeAccount {
		return PaceAccount
	}
	return PaceGroup
}

// JobPace is what a run learned of the durations of one kind of job, in
// milliseconds: their moving average, and a low envelope (it drops to a
// shorter job at once and rises slowly), so that the first poll of a job
// comes as soon as jobs of its kind can finish.
type JobPace struct {
	Millis int64 `json:"millis"`
	Low    int64 `json:"low"`
}

// Observe adds a job of ms milliseconds.
func (p *JobPace) Observe(ms int64) {
	ms = max(ms, 1)
	switch {
	case p.Millis == 0:
		p.Millis, p.Low = ms, ms
	default:
		p.Millis = (7*p.Millis + 3*ms) / 10
		if ms < p.Low {
			p.Low = ms
		} else {
			p.Low += (ms - p.Low) / 16
		}
	}
}

// Entity states.
const (
	StateQueued = "queued" // waiting for a job slot
	// StatePending is an account with an earlier report that may be
	// carried: it waits for this run's reports of the OUs above it,
	// which decide whether it is carried or queued.
	StatePending   = "pending"
	StateRunning   = "running"   // job started, not seen finished
	StateCompleted = "completed" // job COMPLETED, report not yet stored
	StateFailed    = "failed"    // job FAILED or could not run; failure report not yet stored
	StateStored    = "stored"    // report file written (Error set: a failed report)
)

// ErrNotFound is returned (wrapped) by Load when the run has no manifest.
var ErrNotFound = objstore.ErrNotFound

// Settings are the run input the run was started with.
type Settings struct {
	EntityPaths       []string `json:"entityPaths"`
	IncludeAccounts   bool     `json:"includeAccounts"`
	IncludePolicies   bool     `json:"includePolicies"`
	UnusedDays        int      `json:"unusedDays"`
	MaxConcurrentJobs int      `json:"maxConcurrentJobs"`
	// MaxRunMinutes is the run's time budget and AccountRefreshDays the age
	// at which a carried account report is refreshed first (absent in runs
	// made before they existed).
	MaxRunMinutes      float64 `json:"maxRunMinutes,omitempty"`
	AccountRefreshDays int     `json:"accountRefreshDays,omitempty"`
}

// Manifest is the state of one run.
type Manifest struct {
	SchemaVersion       int             `json:"schemaVersion"`
	RunID               string          `json:"runId"`
	OrganizationID      string          `json:"organizationId"`
	ManagementAccountID string          `json:"managementAccountId"`
	Settings            Settings        `json:"settings"`
	StartedAt           *reportdoc.Time `json:"startedAt"`
	// FinishedAt is stamped once, when the last report is stored; the
	// summary's completedAt and latest.json use it, so re-running the final
	// step gives the same bytes.
	FinishedAt *reportdoc.Time `json:"finishedAt,omitempty"`
	// PreviousRunID is the run latest.json pointed to when this run first
	// finished (empty: none); PreviousResolved says it was looked up.
	PreviousRunID    string `json:"previousRunId,omitempty"`
	PreviousResolved bool   `json:"previousResolved,omitempty"`
	// Notified says the first-use notifications of this run were sent, so a
	// retried final step does not send them again.
	Notified bool `json:"notified,omitempty"`
	// NextPart is the number of the next Athena part file; parts 1 ..
	// NextPart-1 are final.
	NextPart int `json:"nextPart"`
	// PendingPart is the part the last save claimed and that may not be
	// written yet: a part is written only after the save that records its
	// reports, so that a writer whose save lost a race writes none. The
	// next step makes sure it exists (0: none pending).
	PendingPart int `json:"pendingPart,omitempty"`
	// Throttled counts throttled and 409 answers so far.
	Throttled int `json:"throttled"`
	// Pace is what the run learned of IAM's job durations, by kind of
	// entity (PaceAccount, PaceGroup), carried from step to step to pace
	// the polls.
	Pace map[string]JobPace `json:"pace,omitempty"`
	// LimitedSince is when IAM began refusing new jobs with 409 (Unix
	// milliseconds); zero when the last Generate succeeded.
	LimitedSince int64 `json:"limitedSince,omitempty"`
	// Deadline is when the run's time budget ends (Unix milliseconds, wall
	// clock): no job starts that cannot end before it, and entities still
	// queued then end without a new report. Zero: no budget.
	Deadline int64 `json:"deadline,omitempty"`
	// CarryFrom is the earlier run whose account reports this run may
	// carry (empty: none).
	CarryFrom string `json:"carryFrom,omitempty"`
	// Jobs counts the distinct report jobs started, by entity type.
	Jobs map[string]int `json:"jobs,omitempty"`
	// RunError is the error that failed the run (the state machine's
	// Catch), when it failed.
	RunError *reportdoc.Error `json:"runError,omitempty"`
	// Walk is the organization walk while it is still going on (the
	// pipeline's orgwalk.Progress, kept opaque here); Entities is empty
	// until the walk is done and Walk is removed.
	Walk     json.RawMessage `json:"walk,omitempty"`
	Entities []Entity        `json:"entities"`

	size int // length of the last encoding or of the loaded document
	// version is the stored document's version (S3's ETag) as this process
	// last read or wrote it; empty for a manifest not stored yet. With a
	// conditional store, Save writes only over that version.
	version string
}

// Entity is one report of the run: an entity, or an (entity, SCP) pair.
type Entity struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	PolicyID string `json:"policyId,omitempty"`

	State    string `json:"state"`
	JobID    string `json:"jobId,omitempty"`
	Attempts int    `json:"attempts,omitempty"` // jobs started for this entity
	// Errors counts consecutive transient failures of calls about this
	// entity; too many fail it, so a run always ends.
	Errors int `json:"errors,omitempty"`
	// SentAt is when the current job was started (Unix milliseconds, wall
	// clock), to pace polls across steps; not part of any report.
	SentAt int64 `json:"sentAt,omitempty"`
	// Session names the step (one set of credentials) that started the
	// current job. A job is generated, polled and read within that step
	// only: a later step starts the entity's job again.
	Session     string           `json:"session,omitempty"`
	CreatedAt   *reportdoc.Time  `json:"createdAt,omitempty"`   // IAM's JobCreationDate
	CompletedAt *reportdoc.Time  `json:"completedAt,omitempty"` // IAM's JobCompletionDate
	Error       *reportdoc.Error `json:"error,omitempty"`

	Accessible  int `json:"accessible,omitempty"`
	NotAccessed int `json:"notAccessed,omitempty"`
	Unused      int `json:"unused,omitempty"`
	// Part is the Athena part file holding this report's rows (0: none).
	Part   int              `json:"part,omitempty"`
	Digest *findings.Digest `json:"digest,omitempty"`

	// SCP is the fingerprint of the SCPs on an account's path in this run
	// (package carry).
	SCP string `json:"scp,omitempty"`
	// Freshness is empty for a report made by this run's job, else
	// reportdoc.Unchanged or reportdoc.Stale: the report is Carry's,
	// copied.
	Freshness string `json:"freshness,omitempty"`
	// Carry is the earlier report of an account that this run may carry.
	Carry *Carry `json:"carry,omitempty"`
}

// Carry is an account's report in an earlier run, as far as deciding
// whether to carry it needs.
type Carry struct {
	RunID string `json:"run"` // the run whose report file is copied
	AsOf  int64  `json:"t"`   // the report's as-of instant, Unix seconds
	// Path is the account's path when the report was made, when it is
	// not the entity's path now; SCP the fingerprint of the SCPs then.
	Path string `json:"p,omitempty"`
	SCP  string `json:"s,omitempty"`
	// Listed holds the services the report listed (a digest without
	// access ages).
	Listed *findings.Digest `json:"l,omitempty"`
	// Proven is the as-of instant (Unix seconds) at which this run proved
	// the report unchanged; zero until then.
	Proven int64 `json:"v,omitempty"`
}

// Basis is the path and SCP fingerprint an entity's report was made
// under: the carried report's for a stale one, else the entity's own.
func (e *Entity) Basis() (path, scp string) {
	if e.Freshness == reportdoc.Stale && e.Carry != nil {
		path, scp = e.Carry.Path, e.Carry.SCP
		if path == "" {
			path = e.Path
		}
		return path, scp
	}
	return e.Path, e.SCP
}

// New returns the manifest of a run that starts now.
func New(runID, orgID, managementAccountID string, s Settings, startedAt time.Time, entities []Entity) *Manifest {
	return &Manifest{
		SchemaVersion:       SchemaVersion,
		RunID:               runID,
		OrganizationID:      orgID,
		ManagementAccountID: managementAccountID,
		Settings:            s,
		StartedAt:           reportdoc.NewTime(startedAt),
		NextPart:            1,
		Entities:            entities,
	}
}

// Key returns the manifest's storage key.
func (m *Manifest) Key() string { return reportdoc.ManifestKey(m.RunID) }

// Load reads the manifest of runID; errors.Is(err, ErrNotFound) when the
// run does not exist.
func Load(ctx context.Context, store objstore.Store, runID string) (*Manifest, error) {
	var b []byte
	var version string
	var err error
	if cs, ok := store.(objstore.Conditional); ok {
		b, version, err = cs.GetVersion(ctx, reportdoc.ManifestKey(runID))
	} else {
		b, err = store.Get(ctx, reportdoc.ManifestKey(runID))
	}
	if err != nil {
		return nil, fmt.Errorf("load manifest of run %s: %w", runID, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("load manifest of run %s: %w", runID, err)
	}
	if m.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("load manifest of run %s: schema version %d, want %d", runID, m.SchemaVersion, SchemaVersion)
	}
	if m.RunID != runID {
		return nil, fmt.Errorf("load manifest of run %s: it names run %q", runID, m.RunID)
	}
	m.size, m.version = len(b), version
	return &m, nil
}

// Marshal returns the manifest document. Entities are encoded one at a
// time into a buffer sized from the previous encoding, so that a large
// run's manifest is not held two or three times over while it is encoded.
func (m *Manifest) Marshal() ([]byte, error) {
	head := *m
	head.Entities = nil
	h, err := json.Marshal(&head)
	if err != nil {
		return nil, fmt.Errorf("encode manifest of run %s: %w", m.RunID, err)
	}
	const tail = `"entities":null}`
	if !bytes.HasSuffix(h, []byte(tail)) {
		return nil, fmt.Errorf("encode manifest of run %s: unexpected encoding", m.RunID)
	}
	var buf bytes.Buffer
	buf.Grow(max(m.size, len(h)+len(m.Entities)*256) + 4096)
	buf.Write(h[:len(h)-len(tail)])
	buf.WriteString(`"entities":[`)
	for i := range m.Entities {
		if i > 0 {
			buf.WriteByte(',')
		}
		e, err := json.Marshal(&m.Entities[i])
		if err != nil {
			return nil, fmt.Errorf("encode manifest of run %s: entity %s: %w", m.RunID, m.Entities[i].Label(), err)
		}
		buf.Write(e)
	}
	buf.WriteString("]}")
	m.size = buf.Len()
	return buf.Bytes(), nil
}

// Size is the length of the manifest's last encoding (0 before any).
func (m *Manifest) Size() int { return m.size }

// Save writes the manifest. With a conditional store (S3, the local
// directory) it writes only over the version it loaded or last saved, or
// creates the manifest only if none exists: when another writer of the
// same run (a second process with the same run id, a retried step racing a
// slow one) saved in between, Save returns an error wrapping
// ErrConflict and overwrites nothing. The step fails; run again, it reloads
// the manifest the winner wrote.
func (m *Manifest) Save(ctx context.Context, store objstore.Store) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	cs, ok := store.(objstore.Conditional)
	if !ok {
		if err := store.Put(ctx, m.Key(), b, "application/json"); err != nil {
			return fmt.Errorf("save manifest: %w", err)
		}
		return nil
	}
	version, err := cs.PutIf(ctx, m.Key(), b, "application/json", m.version)
	if errors.Is(err, objstore.ErrConflict) {
		// A write of ours that landed although its answer was lost (the
		// SDK then retried it) fails its own condition: the stored
		// bytes are then exactly ours.
		if stored, v, gerr := cs.GetVersion(ctx, m.Key()); gerr == nil && bytes.Equal(stored, b) {
			m.version = v
			return nil
		}
		return fmt.Errorf("save manifest: another writer updated run %s since this step read it: %w", m.RunID, err)
	}
	if err != nil {
		return fmt.Errorf("save manifest: %w", err)
	}
	m.version = version
	return nil
}

// ErrConflict is objstore.ErrConflict: Save lost a race to another writer.
var ErrConflict = objstore.ErrConflict

// Counts are the entities of a run by outcome.
type Counts struct {
	Total     int
	Queued    int
	Running   int
	Completed int // job COMPLETED (stored or not)
	Failed    int // job FAILED or could not run (stored or not)
	Unstored  int // completed or failed, report not yet written
	// UnstoredCarried counts the unstored reports carried from an
	// earlier run (copied, not read from IAM).
	UnstoredCarried int
}

// Counts counts the entities by outcome.
func (m *Manifest) Counts() Counts {
	c := Counts{Total: len(m.Entities)}
	for i := range m.Entities {
		e := &m.Entities[i]
		switch e.State {
		case StateQueued, StatePending:
			c.Queued++
		case StateRunning:
			c.Running++
		case StateCompleted:
			c.Completed++
			c.Unstored++
			if e.Freshness != "" {
				c.UnstoredCarried++
			}
		case StateFailed:
			c.Failed++
			c.Unstored++
		case StateStored:
			if e.Error != nil {
				c.Failed++
			} else {
				c.Completed++
			}
		}
	}
	return c
}

// Finished reports whether every entity's report is stored.
func (m *Manifest) Finished() bool {
	for i := range m.Entities {
		if m.Entities[i].State != StateStored {
			return false
		}
	}
	return true
}

// Status is the report status of a stored entity: COMPLETED or FAILED.
func (e *Entity) Status() string {
	if e.Error != nil || e.State == StateFailed {
		return reportdoc.StatusFailed
	}
	return reportdoc.StatusCompleted
}

// Label names the entity in logs and messages: its id, with the policy id.
func (e *Entity) Label() string {
	if e.PolicyID == "" {
		return e.ID
	}
	return e.ID + "." + e.PolicyID
}

// ReportKey is the key of the entity's report in run runID.
func (e *Entity) ReportKey(runID string) string { return reportdoc.ReportKey(runID, e.ID, e.PolicyID) }

// DocEntity is the entity as the report documents name it.
func (e *Entity) DocEntity() reportdoc.Entity {
	return reportdoc.Entity{ID: e.ID, Type: e.Type, Name: e.Name, Path: e.Path}
}

// IsNotFound reports whether err means the manifest does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// FindingsEntries returns the stored entities as findings entries, in
// manifest order; entities not yet stored are left out.
func (m *Manifest) FindingsEntries() []findings.Entry {
	out := make([]findings.Entry, 0, len(m.Entities))
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.State != StateStored {
			continue
		}
		out = append(out, findings.Entry{Entity: e.DocEntity(), PolicyID: e.PolicyID, Status: e.Status(), Error: e.Error, Digest: e.Digest, Freshness: e.Freshness})
	}
	return out
}
