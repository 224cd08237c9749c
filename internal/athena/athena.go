// Package athena writes the run's access rows for Amazon Athena: one JSON
// object per line per (report, service), gzip-compressed, under
// access/dt=<YYYY-MM-DD>/run=<runId>/part-<n>.jsonl.gz. Columns is the table
// schema; the Glue table of the deployment and the tests check against it.
package athena

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Column is one column of the access table.
type Column struct {
	Name string // JSON key and column name
	Type string // Athena (Hive DDL) type
}

// Columns lists the row's keys in order with their Athena types. Timestamps
// are RFC 3339 strings: Athena's JSON SerDe does not parse them as
// TIMESTAMP, so queries use from_iso8601_timestamp(). The partition key dt
// comes from the object key, not from the rows; run=<runId>/ folders only
// group a run's files (run_id is a column).
var Columns = []Column{
	{"run_id", "string"},
	{"organization_id", "string"},
	{"entity_id", "string"},
	{"entity_type", "string"},
	{"entity_name", "string"},
	{"entity_path", "string"},
	{"policy_id", "string"},
	{"job_completed_at", "string"},
	{"service_namespace", "string"},
	{"service_name", "string"},
	{"last_authenticated", "string"},
	{"region", "string"},
	{"last_entity_path", "string"},
	{"total_authenticated_entities", "int"},
	{"days_since_last_access", "int"},
}

// PartitionKeys are the table's partition columns, from the object key.
var PartitionKeys = []Column{{"dt", "string"}}

// Row is one line of a part file. Field order and JSON keys follow Columns.
type Row struct {
	RunID                      string  `json:"run_id"`
	OrganizationID             string  `json:"organization_id"`
	EntityID                   string  `json:"entity_id"`
	EntityType                 string  `json:"entity_type"`
	EntityName                 string  `json:"entity_name"`
	EntityPath                 string  `json:"entity_path"`
	PolicyID                   *string `json:"policy_id"`
	JobCompletedAt             string  `json:"job_completed_at"`
	ServiceNamespace           string  `json:"service_namespace"`
	ServiceName                string  `json:"service_name"`
	LastAuthenticated          *string `json:"last_authenticated"`
	Region                     *string `json:"region"`
	LastEntityPath             *string `json:"last_entity_path"`
	TotalAuthenticatedEntities int     `json:"total_authenticated_entities"`
	DaysSinceLastAccess        *int    `json:"days_since_last_access"`
}

// Rows returns the rows of a completed report, one per service in the
// report's order. Days since last access count whole days back from the
// job's completion, so they do not depend on when the rows are written.
func Rows(r *reportdoc.EntityReport) []Row {
	asOf := r.AsOf()
	completed := ""
	if !asOf.IsZero() {
		completed = asOf.UTC().Format(time.RFC3339)
	}
	rows := make([]Row, 0, len(r.Services))
	for _, s := range r.Services {
		row := Row{
			RunID:                      r.RunID,
			OrganizationID:             r.OrganizationID,
			EntityID:                   r.Entity.ID,
			EntityType:                 r.Entity.Type,
			EntityName:                 r.Entity.Name,
			EntityPath:                 r.Entity.Path,
			PolicyID:                   r.PolicyID,
			JobCompletedAt:             completed,
			ServiceNamespace:           s.Namespace,
			ServiceName:                s.Name,
			Region:                     s.Region,
			LastEntityPath:             s.EntityPath,
			TotalAuthenticatedEntities: s.TotalAuthenticatedEntities,
		}
		if s.LastAuthenticated != nil {
			v := s.LastAuthenticated.UTC().Format(time.RFC3339)
			row.LastAuthenticated = &v
			if !asOf.IsZero() {
				d := max(int(asOf.Sub(s.LastAuthenticated.Time)/(24*time.Hour)), 0)
				row.DaysSinceLastAccess = &d
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// Part accumulates rows into one gzip-compressed JSON Lines file. The
// gzip header carries no name or time, so equal rows give equal bytes.
type Part struct {
	buf  bytes.Buffer
	zw   *gzip.Writer
	enc  *json.Encoder
	rows int
}

// NewPart returns an empty part.
func NewPart() *Part {
	p := &Part{}
	p.zw, _ = gzip.NewWriterLevel(&p.buf, gzip.BestSpeed)
	p.enc = json.NewEncoder(p.zw)
	p.enc.SetEscapeHTML(false)
	return p
}

// Add appends rows.
func (p *Part) Add(rows []Row) error {
	for i := range rows {
		if err := p.enc.Encode(&rows[i]); err != nil {
			return fmt.Errorf("encode access row: %w", err)
		}
	}
	p.rows += len(rows)
	return nil
}

// Rows returns how many rows were added.
func (p *Part) Rows() int { return p.rows }

// Bytes closes the part and returns the compressed file.
func (p *Part) Bytes() ([]byte, error) {
	if err := p.zw.Close(); err != nil {
		return nil, fmt.Errorf("compress access part: %w", err)
	}
	return p.buf.Bytes(), nil
}

// ContentType is the content type parts are stored with: the object is
// the compressed file itself (no Content-Encoding), as Athena reads it.
const ContentType = "application/gzip"

// PartPrefix is the folder of a run's parts (with a trailing slash).
func PartPrefix(day time.Time, runID string) string {
	return fmt.Sprintf("access/dt=%s/run=%s/", day.UTC().Format("2006-01-02"), runID)
}
