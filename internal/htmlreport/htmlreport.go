// Package htmlreport renders a run's findings as one self-contained HTML
// file: inline CSS and JavaScript only, the data embedded as compact JSON and
// rendered on demand (only the visible part of the heatmap is in the DOM),
// so it opens offline, from S3, and stays usable at 1,000 entities by 450
// services.
package htmlreport

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Cell letters of Row.Cells, one per column: not listed, never accessed, or
// the age bucket of the last access. Upper case marks a service unused at
// the run's threshold (never-accessed services are always unused).
const (
	CellNotListed = '.'
	CellNever     = 'N'
	CellDays30    = 'a' // accessed within 30 days
	CellDays90    = 'b' // 31–90 days
	CellDays365   = 'c' // 91–365 days
	CellOlder     = 'd' // more than 365 days
)

// Cell returns the cell letter for a service last accessed days days before
// the as-of instant (-1: never), upper case when it is unused.
func Cell(days int, unused bool) byte {
	var c byte
	switch {
	case days < 0:
		return CellNever
	case days <= 30:
		c = CellDays30
	case days <= 90:
		c = CellDays90
	case days <= 365:
		c = CellDays365
	default:
		c = CellOlder
	}
	if unused {
		c -= 'a' - 'A'
	}
	return c
}

// Service is one column of the heatmap.
type Service struct {
	Namespace string
	Name      string
}

// Row is one entity report of the heatmap.
type Row struct {
	ID, Type, Name, Path, PolicyID, Status string
	Error                                  string // "code: message" of a failed report
	Cells                                  string // one letter per column, see Cell
	Days                                   []int  // days since last access of each accessed cell, in column order
	Unused, Never                          int
}

// Report is everything the page shows.
type Report struct {
	RunID, OrganizationID, Status string
	StartedAt, CompletedAt        string
	UnusedDays                    int
	Entities                      reportdoc.SummaryEntities
	Caveats                       []string
	Services                      []Service
	Rows                          []Row
	Changes                       *reportdoc.Changes
	// SCP suggestions are built in the page, exactly as package
	// scpsuggest builds them, from these.
	NeverDeny        []string
	SCPHead, SCPTail string
	MaxPolicySize    int
}

// data is the compact JSON the page script reads. Rows are arrays, not
// objects, to keep 1,000 × 450 small.
type data struct {
	Services   [][2]string        `json:"s"`
	Rows       [][]any            `json:"r"`
	NeverDeny  []string           `json:"k"`
	SCP        [3]any             `json:"p"`
	UnusedDays int                `json:"u"`
	Changes    *reportdoc.Changes `json:"c"`
}

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Parse(pageText))

// Render returns the HTML page of r.
func Render(r *Report) ([]byte, error) {
	d := data{
		Services:   make([][2]string, len(r.Services)),
		Rows:       make([][]any, len(r.Rows)),
		NeverDeny:  r.NeverDeny,
		SCP:        [3]any{r.SCPHead, r.SCPTail, r.MaxPolicySize},
		UnusedDays: r.UnusedDays,
		Changes:    r.Changes,
	}
	if d.NeverDeny == nil {
		d.NeverDeny = []string{}
	}
	for i, s := range r.Services {
		d.Services[i] = [2]string{s.Namespace, s.Name}
	}
	for i, row := range r.Rows {
		days := row.Days
		if days == nil {
			days = []int{}
		}
		d.Rows[i] = []any{row.ID, row.Type, row.Name, row.Path, row.PolicyID, row.Status, row.Error, row.Cells, days, row.Unused, row.Never}
	}
	js, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("htmlreport: encode data: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(js) + len(pageText) + 4096)
	// json.Marshal escapes <, > and & in strings, so the data cannot close
	// the script element; template.JS keeps html/template from quoting it
	// as a string.
	err = page.Execute(&b, struct {
		*Report
		Data template.JS
	}{r, template.JS(js)})
	if err != nil {
		return nil, fmt.Errorf("htmlreport: render: %w", err)
	}
	return b.Bytes(), nil
}
