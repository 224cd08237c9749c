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
	"html"
	"regexp"
	"strconv"
	"strings"

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

// page is the page's text cut at its fields: the page is a fixed document
// whose script draws everything from the data, so it needs no template
// engine, and Go's (text/template, html/template) would cost every step
// function that renders the page twice its size: their reflection keeps
// every exported method of every type the program reaches.
var page = mustParsePage(pageText)

// pagePart is a piece of the page's text and the field that follows it
// ("" after the last piece).
type pagePart struct {
	text, field string
}

var fieldRE = regexp.MustCompile(`\{\{([A-Za-z]+)\}\}`)

func mustParsePage(text string) []pagePart {
	known := (&Report{}).fields(nil) // the fields a page may name
	var parts []pagePart
	at := 0
	for _, m := range fieldRE.FindAllStringSubmatchIndex(text, -1) {
		name := text[m[2]:m[3]]
		if _, ok := known[name]; !ok {
			panic(fmt.Sprintf("htmlreport: the page names an unknown field {{%s}}", name))
		}
		parts = append(parts, pagePart{text[at:m[0]], name})
		at = m[1]
	}
	if rest := text[at:]; strings.Contains(rest, "{{") {
		panic("htmlreport: the page has a malformed field after its last one")
	}
	return append(parts, pagePart{text: text[at:]})
}

// fields are the page's fields of r, escaped for HTML text and quoted
// attributes; data is written as it is (JSON that cannot close its
// script element).
func (r *Report) fields(data []byte) map[string][]byte {
	esc := func(s string) []byte { return []byte(html.EscapeString(s)) }
	completed := r.CompletedAt
	if completed == "" {
		completed = "—"
	}
	var caveats []byte
	for _, c := range r.Caveats {
		caveats = append(caveats, "<li>"...)
		caveats = append(caveats, esc(c)...)
		caveats = append(caveats, "</li>"...)
	}
	return map[string][]byte{
		"runId": esc(r.RunID), "organizationId": esc(r.OrganizationID),
		"completedAt": esc(completed), "status": esc(r.Status),
		"entitiesTotal":     []byte(Thousands(r.Entities.Total)),
		"entitiesSucceeded": []byte(Thousands(r.Entities.Succeeded)),
		"entitiesFailed":    []byte(Thousands(r.Entities.Failed)),
		"freshFresh":        []byte(Thousands(r.Freshness.Fresh)),
		"freshUnchanged":    []byte(Thousands(r.Freshness.Unchanged)),
		"freshStale":        []byte(Thousands(r.Freshness.Stale)),
		"unusedDays":        []byte(strconv.Itoa(r.UnusedDays)),
		"caveats":           caveats, "data": data,
	}
}

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
	// The data: the metadata object with the rows appended as "r".
	data := make([]byte, 0, len(js)+p.rows.Len()+8)
	data = append(data, js[:len(js)-1]...)
	data = append(data, `,"r":[`...)
	data = append(data, p.rows.Bytes()...)
	data = append(data, "]}"...)
	fields := r.fields(data)
	n := 0
	for _, part := range page {
		n += len(part.text) + len(fields[part.field])
	}
	out := make([]byte, 0, n)
	for _, part := range page {
		out = append(out, part.text...)
		out = append(out, fields[part.field]...)
	}
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
