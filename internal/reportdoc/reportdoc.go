// Package reportdoc defines the documents orgaudit stores (per-entity report,
// summary, latest pointer) and the keys they are stored under. The shapes are
// a public contract: Athena queries, dashboards and the HTML report read them.
package reportdoc

import (
	"fmt"
	"strings"
	"time"
)

// SchemaVersion is the version of every document in this package.
const SchemaVersion = 1

// Entity types, as Organizations names them.
const (
	TypeRoot    = "ROOT"
	TypeOU      = "ORGANIZATIONAL_UNIT"
	TypeAccount = "ACCOUNT"
)

// Job and report statuses.
const (
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
)

// Run statuses for Summary.Status.
const (
	RunSucceeded = "SUCCEEDED"
	RunPartial   = "PARTIAL"
	RunFailed    = "FAILED"
)

// EntityTypeOf tells an entity's type from its id, as Organizations shapes
// them: r-… is the root, ou-… an OU, anything else (twelve digits) an
// account.
func EntityTypeOf(id string) string {
	switch {
	case strings.HasPrefix(id, "r-"):
		return TypeRoot
	case strings.HasPrefix(id, "ou-"):
		return TypeOU
	}
	return TypeAccount
}

// Time is a timestamp that always encodes as RFC 3339 in UTC with second
// precision, as IAM reports it, so that equal instants give equal bytes.
type Time struct{ time.Time }

// NewTime returns t as a *Time, or nil for the zero time.
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t.UTC().Truncate(time.Second)}
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(time.RFC3339) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("reportdoc: time %s: %w", b, err)
	}
	t.Time = v.UTC()
	return nil
}

// Entity is the organization entity a report is about.
type Entity struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
	Path string `json:"path"`
}

// Error is a recorded failure: IAM's ErrorDetails, or one of ours.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Job is the IAM report job behind an entity report.
type Job struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	CreatedAt   *Time  `json:"createdAt"`
	CompletedAt *Time  `json:"completedAt"`
	Error       *Error `json:"error"`
}

// Service is one service line of an access report.
type Service struct {
	Namespace                  string  `json:"namespace"`
	Name                       string  `json:"name"`
	LastAuthenticated          *Time   `json:"lastAuthenticated"`
	Region                     *string `json:"region"`
	EntityPath                 *string `json:"entityPath"`
	TotalAuthenticatedEntities int     `json:"totalAuthenticatedEntities"`
}

// EntityReport is runs/<runId>/reports/<entityId>[.<policyId>].json.
// Services are sorted by namespace and hold every page of the IAM report.
type EntityReport struct {
	SchemaVersion               int       `json:"schemaVersion"`
	RunID                       string    `json:"runId"`
	OrganizationID              string    `json:"organizationId"`
	Entity                      Entity    `json:"entity"`
	PolicyID                    *string   `json:"policyId"`
	Job                         Job       `json:"job"`
	NumberOfServicesAccessible  int       `json:"numberOfServicesAccessible"`
	NumberOfServicesNotAccessed int       `json:"numberOfServicesNotAccessed"`
	Services                    []Service `json:"services"`
	// Carried is set on an account report carried from an earlier run
	// instead of made by a job of this one; absent on a fresh report.
	Carried *Carried `json:"carried,omitempty"`
}

// Freshness of a report in a run: made by this run's job, carried from an
// earlier run and proven still true, or carried without proof (the run's
// time budget ended first).
const (
	Fresh     = "fresh"
	Unchanged = "unchanged"
	Stale     = "stale"
)

// Carried says where a carried report comes from and as of when it holds.
// Job and Services stay those of the job that made the report.
type Carried struct {
	Freshness string `json:"freshness"` // Unchanged or Stale
	// AsOf is the instant the report holds at: for an unchanged report,
	// the as-of of this run's report of the OU directly above the account
	// (the root, for an account directly under it), which proved it; for
	// a stale one, the as-of of the carried report itself.
	AsOf *Time `json:"asOf"`
	// FromRunID is the run whose job made the report.
	FromRunID string `json:"fromRunId"`
}

// UnusedServices returns the services of r not accessed within the last
// days before asOf, including those never accessed. asOf is normally the
// job's completion time, so the answer does not depend on when it is asked.
func (r *EntityReport) UnusedServices(days int, asOf time.Time) []Service {
	cutoff := asOf.Add(-time.Duration(days) * 24 * time.Hour)
	var out []Service
	for _, s := range r.Services {
		if s.LastAuthenticated == nil || s.LastAuthenticated.Before(cutoff) {
			out = append(out, s)
		}
	}
	return out
}

// AsOf is the instant a report describes: a carried report's as-of, else the
// job's completion time, or its creation time when it never completed.
func (r *EntityReport) AsOf() time.Time {
	switch {
	case r.Carried != nil && r.Carried.AsOf != nil:
		return r.Carried.AsOf.Time
	case r.Job.CompletedAt != nil:
		return r.Job.CompletedAt.Time
	case r.Job.CreatedAt != nil:
		return r.Job.CreatedAt.Time
	}
	return time.Time{}
}

// SummaryEntities counts the entities of a run.
type SummaryEntities struct {
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// SummaryReport is one line of Summary.Reports: every entity in scope has
// exactly one, whether its report succeeded or failed.
type SummaryReport struct {
	EntityID            string  `json:"entityId"`
	Path                string  `json:"path"`
	PolicyID            *string `json:"policyId"`
	Key                 string  `json:"key"`
	Status              string  `json:"status"`
	ServicesAccessible  int     `json:"servicesAccessible"`
	ServicesNotAccessed int     `json:"servicesNotAccessed"`
	UnusedServices      int     `json:"unusedServices"`
	// Freshness (Fresh, Unchanged or Stale) and AsOf, the instant the
	// report holds at, are set for completed reports; a failed one has
	// neither.
	Freshness string `json:"freshness,omitempty"`
	AsOf      *Time  `json:"asOf"`
}

// SummaryFreshness counts a run's completed reports by freshness.
type SummaryFreshness struct {
	Fresh     int `json:"fresh"`
	Unchanged int `json:"unchanged"`
	Stale     int `json:"stale"`
}

// SummaryJobs counts the report jobs a run asked IAM for, by kind of
// entity (distinct jobs; one handed back again is not counted twice).
type SummaryJobs struct {
	Root     int `json:"root"`
	OUs      int `json:"ous"`
	Accounts int `json:"accounts"`
}

// SummaryError is one failed entity of a run.
type SummaryError struct {
	EntityID string  `json:"entityId"`
	PolicyID *string `json:"policyId"`
	Code     string  `json:"code"`
	Message  string  `json:"message"`
}

// Summary is runs/<runId>/summary.json.
type Summary struct {
	SchemaVersion  int             `json:"schemaVersion"`
	RunID          string          `json:"runId"`
	OrganizationID string          `json:"organizationId"`
	StartedAt      *Time           `json:"startedAt"`
	CompletedAt    *Time           `json:"completedAt"`
	Status         string          `json:"status"`
	Entities       SummaryEntities `json:"entities"`
	// Freshness counts the completed reports by freshness; Jobs the jobs
	// asked of IAM. Account reports carried from an earlier run cost no job.
	Freshness SummaryFreshness `json:"freshness"`
	Jobs      SummaryJobs      `json:"jobs"`
	Reports   []SummaryReport  `json:"reports"`
	Errors    []SummaryError   `json:"errors"`
	// Changes is null when there is no previous run to compare with (a
	// first run); the key is always written.
	Changes *Changes `json:"changes"`
}

// Latest is latest.json: the pointer to the newest finished run.
type Latest struct {
	RunID       string `json:"runId"`
	SummaryKey  string `json:"summaryKey"`
	CompletedAt *Time  `json:"completedAt"`
}
