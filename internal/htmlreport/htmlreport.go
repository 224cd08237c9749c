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
	"strconv"

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
	// Management marks the organization's management account, which SCPs
	// do not restrict: the page suggests no SCP for it and says why.
	Management bool
	// Verdict is the what-if verdict on the row's SCP suggestion (SAFE or
	// BREAKS), Breaks the "<entity> <namespace>" it would break, and
	// Unchecked why it was not checked; all empty when the run records no
	// SCPs.
	Verdict, Unchecked string
	Breaks             []string
	// Freshness (fresh, unchanged or stale) and AsOf (RFC 3339), the
	// instant the report holds at; empty for a failed report.
	Freshness, AsOf string
}

// Report is everything the page shows.
type Report struct {
	RunID, OrganizationID, Status string
	StartedAt, CompletedAt        string
	UnusedDays                    int
	Entities                      reportdoc.SummaryEntities
	// Freshness counts the completed reports made by the run's jobs and
	// those carried from an earlier run.
	Freshness reportdoc.SummaryFreshness
	Caveats   []string
	Services  []Service
	Rows      []Row
	Changes   *reportdoc.Changes
	// ManagementNote is the reason shown for the management account.
	ManagementNote string
	// SCP suggestions are built in the page, exactly as package
	// scpsuggest builds them, from these.
	NeverDeny        []string
	SCPHead, SCPTail string
	MaxPolicySize    int
	// Plan is the SCP plan of the run's scope (orgaudit scp --plan).
	Plan Plan
}

// Plan is the SCP plan the page offers (orgaudit scp --plan with its
// defaults: the deny strategy, whose documents are SCPHead, the actions and
// SCPTail, as the suggestions are). Policies holds at most MaxPlanPolicies
// of them, to keep the page small; Total counts them all.
type Plan struct {
	Total, Attachments int
	Policies           []PlanPolicy
	Stopped            []PlanStop
	// Error says why there is no plan.
	Error string
	// Note qualifies the plan (a large run's plan without account
	// targets); empty when there is nothing to say.
	Note string
}

// MaxPlanPolicies is how many policies of a plan the page carries.
const MaxPlanPolicies = 100

// PlanPolicy is one policy of the plan: its services are indexes into
// Report.Services.
type PlanPolicy struct {
	Name     string
	Targets  []string
	Services []int
}

// PlanStop is where a quota stopped the plan.
type PlanStop struct {
	Target, Quota, Reason string
}

// planMeta is Plan as the page script reads it.
type planMeta struct {
	Total       int         `json:"n"`
	Attachments int         `json:"a"`
	Policies    [][3]any    `json:"p"`
	Stopped     [][3]string `json:"s"`
	Error       string      `json:"e"`
	Note        string      `json:"o"`
}

func (pl Plan) meta() planMeta {
	m := planMeta{Total: pl.Total, Attachments: pl.Attachments, Policies: [][3]any{}, Stopped: [][3]string{}, Error: pl.Error, Note: pl.Note}
	for i, p := range pl.Policies {
		if i == MaxPlanPolicies {
			break
		}
		m.Policies = append(m.Policies, [3]any{p.Name, p.Targets, p.Services})
	}
	for i, s := range pl.Stopped {
		if i == 50 {
			break
		}
		m.Stopped = append(m.Stopped, [3]string{s.Target, s.Quota, s.Reason})
	}
	return m
}

// meta is the compact JSON the page script reads, less the rows ("r"),
// which Page encodes as they come. Rows are arrays, not objects, to keep
// 1,000 × 450 small.
type meta struct {
	Services   [][2]string        `json:"s"`
	NeverDeny  []string           `json:"k"`
	SCP        [3]any             `json:"p"`
	UnusedDays int                `json:"u"`
	Changes    *reportdoc.Changes `json:"c"`
	Management string             `json:"m"`
	Plan       planMeta           `json:"q"`
}

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{"num": Thousands}).Parse(pageText))

// Thousands writes n with comma separators, as the page writes its counts.
func Thousands(n int) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// dataMarker stands in for the data while the template runs; the data is
// spliced in afterwards so that it is never copied through the template.
const dataMarker = "/*orgaudit-data*/"

// Page builds the HTML page one row at a time, holding each row only in its
// encoded form: a run of 11,001 reports then costs its output size once.
type Page struct {
	r    Report
	rows bytes.Buffer
	n    int
}

// NewPage starts a page for r; r.Rows, if any, are added first.
func NewPage(r *Report) (*Page, error) {
	p := &Page{r: *r}
	p.r.Rows = nil
	for _, row := range r.Rows {
		if err := p.Add(row); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SetPlan sets the SCP plan the page offers.
func (p *Page) SetPlan(pl Plan) { p.r.Plan = pl }

// Add appends one row.
func (p *Page) Add(row Row) error {
	days := row.Days
	if days == nil {
		days = []int{}
	}
	mgmt := 0
	if row.Management {
		mgmt = 1
	}
	row12 := any(0) // no verdict: a 0 keeps the row small
	if row.Verdict != "" || row.Unchecked != "" {
		breaks := row.Breaks
		if breaks == nil {
			breaks = []string{}
		}
		row12 = []any{row.Verdict, row.Unchecked, breaks}
	}
	b, err := json.Marshal([]any{row.ID, row.Type, row.Name, row.Path, row.PolicyID, row.Status, row.Error, row.Cells, days, row.Unused, row.Never, mgmt, row12, []string{row.Freshness, row.AsOf}})
	if err != nil {
		return fmt.Errorf("htmlreport: encode row %s: %w", row.ID, err)
	}
	if p.n > 0 {
		p.rows.WriteByte(',')
	}
	p.rows.Write(b)
	p.n++
	return nil
}

// Render returns the HTML page. It may be called once.
func (p *Page) Render() ([]byte, error) {
	r := &p.r
	m := meta{
		Services:   make([][2]string, len(r.Services)),
		NeverDeny:  r.NeverDeny,
		SCP:        [3]any{r.SCPHead, r.SCPTail, r.MaxPolicySize},
		UnusedDays: r.UnusedDays,
		Changes:    r.Changes,
		Management: r.ManagementNote,
		Plan:       r.Plan.meta(),
	}
	if m.NeverDeny == nil {
		m.NeverDeny = []string{}
	}
	for i, s := range r.Services {
		m.Services[i] = [2]string{s.Namespace, s.Name}
	}
	// json.Marshal escapes <, > and & in strings, so the data cannot close
	// the script element.
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("htmlreport: encode data: %w", err)
	}
	var tb bytes.Buffer
	err = page.Execute(&tb, struct {
		*Report
		Data template.JS
	}{r, template.JS(dataMarker)})
	if err != nil {
		return nil, fmt.Errorf("htmlreport: render: %w", err)
	}
	before, after, ok := bytes.Cut(tb.Bytes(), []byte(dataMarker))
	if !ok {
		return nil, fmt.Errorf("htmlreport: render: data marker missing")
	}
	out := make([]byte, 0, len(before)+len(js)+p.rows.Len()+len(after)+8)
	out = append(out, before...)
	out = append(out, js[:len(js)-1]...)
	out = append(out, `,"r":[`...)
	out = append(out, p.rows.Bytes()...)
	out = append(out, "]}"...)
	out = append(out, after...)
	p.rows = bytes.Buffer{}
	return out, nil
}

// Render returns the HTML page of r.
func Render(r *Report) ([]byte, error) {
	p, err := NewPage(r)
	if err != nil {
		return nil, err
	}
	return p.Render()
}
