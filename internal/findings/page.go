package findings

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orgaudit/orgaudit/internal/htmlreport"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// page accumulates the HTML report while Finalize walks the entries.
type page struct {
	rep  htmlreport.Report
	html *htmlreport.Page
	days int
	col  map[string]int
	row  []byte // scratch for a row's cells
	// sizeHint estimates the bytes of findings.json's entities.
	sizeHint int
}

// newPage sets up the report and its columns: every namespace any entry
// lists, sorted. That takes a first pass over the digests, which is cheaper
// than holding every decoded report until the end.
func newPage(s *reportdoc.Summary, days int, entries []Entry, ch *reportdoc.Changes) (*page, error) {
	p := &page{days: days, col: map[string]int{}}
	var buf []ServiceAge
	var names []string
	for _, e := range entries {
		if e.Digest == nil {
			continue
		}
		svcs, err := e.Digest.Services(buf)
		if err != nil {
			return nil, fmt.Errorf("findings: %s: %w", e.Entity.Path, err)
		}
		buf = svcs
		p.sizeHint += 400 + 5*len(svcs)
		for _, sv := range svcs {
			if _, ok := p.col[sv.Namespace]; !ok {
				p.col[sv.Namespace] = 0
				names = append(names, sv.Namespace)
			}
		}
	}
	sort.Strings(names)
	for i, ns := range names {
		p.col[ns] = i
		p.rep.Services = append(p.rep.Services, htmlreport.Service{Namespace: ns, Name: ServiceName(ns)})
	}
	p.row = make([]byte, len(names))
	p.rep.RunID = s.RunID
	p.rep.OrganizationID = s.OrganizationID
	p.rep.Status = s.Status
	p.rep.StartedAt = timeText(s.StartedAt)
	p.rep.CompletedAt = timeText(s.CompletedAt)
	p.rep.UnusedDays = days
	p.rep.Entities = s.Entities
	p.rep.Freshness = s.Freshness
	p.rep.Caveats = caveatsOf(entries)
	p.rep.ManagementNote = ManagementAccountNote
	p.rep.NeverDeny = scpsuggest.NeverDeny(scpsuggest.Options{})
	p.rep.SCPHead, p.rep.SCPTail = scpsuggest.Envelope()
	p.rep.MaxPolicySize = scpsuggest.MaxPolicySize
	p.rep.Changes = ch
	var err error
	if p.html, err = htmlreport.NewPage(&p.rep); err != nil {
		return nil, err
	}
	return p, nil
}

// services returns the columns as findings.json's services table.
func (p *page) services() []Service {
	out := make([]Service, len(p.rep.Services))
	for i, s := range p.rep.Services {
		out[i] = Service{Namespace: s.Namespace, Name: s.Name}
	}
	return out
}

// record converts f for findings.json.
func (p *page) record(f EntityFindings) EntityRecord {
	r := EntityRecord{
		Entity: f.Entity, PolicyID: f.PolicyID, Status: f.Status, Error: f.Error, AsOf: f.AsOf, Freshness: f.Freshness,
		Listed: f.Listed, Used: f.Used, Unused: make([]int, len(f.Unused)), NeverAccessed: f.NeverAccessed,
		LastAccessed: make(map[string]int, len(f.LastAccessed)), SCP: f.SCP,
		ManagementAccount: f.ManagementAccount, Note: f.Note,
	}
	for _, l := range f.LastAccessed {
		r.LastAccessed[l.Namespace] = l.Days
	}
	for i, ns := range f.Unused {
		r.Unused[i] = p.col[ns]
	}
	return r
}

func (p *page) add(e Entry, f EntityFindings, svcs []ServiceAge) error {
	r := htmlreport.Row{
		ID: e.Entity.ID, Type: e.Entity.Type, Name: e.Entity.Name, Path: e.Entity.Path,
		PolicyID: e.PolicyID, Status: e.Status, Unused: len(f.Unused), Never: f.NeverAccessed,
		Management: e.Management, Freshness: f.Freshness, AsOf: timeText(f.AsOf),
	}
	if f.SCP != nil {
		r.Verdict, r.Unchecked, r.Breaks = f.SCP.Verdict, f.SCP.Unchecked, f.SCP.Breaks
	}
	if e.Error != nil {
		r.Error = strings.TrimSpace(e.Error.Code + ": " + e.Error.Message)
	}
	for i := range p.row {
		p.row[i] = htmlreport.CellNotListed
	}
	if e.Digest != nil {
		// svcs are sorted by namespace like the columns, so the accessed
		// cells' days come out in column order.
		for _, s := range svcs {
			p.row[p.col[s.Namespace]] = htmlreport.Cell(s.Days(), s.UnusedFor(p.days))
			if !s.Never() {
				r.Days = append(r.Days, s.Days())
			}
		}
	}
	r.Cells = string(p.row)
	return p.html.Add(r)
}

func (p *page) render() ([]byte, error) { return p.html.Render() }

func timeText(t *reportdoc.Time) string {
	if t == nil {
		return ""
	}
	b, _ := t.MarshalJSON()
	return strings.Trim(string(b), `"`)
}

// setPlan puts the run's SCP plan on the page.
func (p *page) setPlan(pl Plan) {
	hp := htmlreport.Plan{Error: pl.Error}
	if pl.OUsOnly {
		hp.Note = PlanOUsOnly
	}
	if pl.Plan != nil {
		hp.Total = len(pl.Plan.Policies)
		for i, pol := range pl.Plan.Policies {
			hp.Attachments += len(pol.Targets)
			if i >= htmlreport.MaxPlanPolicies {
				continue
			}
			idx := make([]int, len(pol.Services))
			for j, ns := range pol.Services {
				idx[j] = p.col[ns]
			}
			hp.Policies = append(hp.Policies, htmlreport.PlanPolicy{Name: pol.Name, Targets: pol.Targets, Services: idx})
		}
		for _, s := range pl.Plan.Stopped {
			hp.Stopped = append(hp.Stopped, htmlreport.PlanStop{Target: s.Target, Quota: s.Quota, Reason: s.Reason})
		}
	}
	p.html.SetPlan(hp)
}
