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

// AsOf is the instant a report describes: the job's completion time, or its
// creation time when it never completed.
func (r *EntityReport) AsOf() time.Time {
	switch {
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
	Reports        []SummaryReport `json:"reports"`
	Errors         []SummaryError  `json:"errors"`
	Changes        *Changes        `json:"changes,omitempty"`
}

// Latest is latest.json: the pointer to the newest finished run.
type Latest struct {
	RunID       string `json:"runId"`
	SummaryKey  string `json:"summaryKey"`
	CompletedAt *Time  `json:"completedAt"`
}
