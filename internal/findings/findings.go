// Package findings turns a finished run into decisions: per entity, the
// services SCPs allow but nobody used for the unused threshold, the SCP
// documents that would deny them, what changed since the previous run, and
// the self-contained HTML report. It works from digests (DigestOf) so that a
// run of 11,001 entity reports finalizes without reading them back.
package findings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// DefaultUnusedDays is the unused threshold when a run does not set one.
const DefaultUnusedDays = 90

// Caveats qualify every finding; they are printed wherever findings are shown.
var Caveats = []string{
	"Access data covers about the last 400 days, and only Regions where IAM tracks service last accessed data; activity elsewhere is not counted.",
	"Access attempts include denied requests: a service listed as accessed may only have been tried.",
	"Root and OU reports exclude the management account: a service unused at the OU level may still be needed by the management account (which SCPs do not restrict).",
	"Reports cover SCP-allowed services only; a service missing from a report is already denied by an SCP.",
}

// caveatsOf returns the caveats of a run's findings: Caveats, and what
// qualifies the account reports carried from an earlier run, when there are
// any.
func caveatsOf(entries []Entry) []string {
	unchanged, stale := 0, 0
	var oldest int64
	for _, e := range entries {
		switch {
		case e.Digest == nil:
		case e.Freshness == reportdoc.Unchanged:
			unchanged++
		case e.Freshness == reportdoc.Stale:
			stale++
			if oldest == 0 || e.Digest.AsOf < oldest {
				oldest = e.Digest.AsOf
			}
		}
	}
	out := Caveats
	if unchanged > 0 {
		out = append(slices.Clip(out), fmt.Sprintf("%d account reports are unchanged: carried from an earlier run, since the report of the OU directly above each shows no access to its services since; each holds as of that OU report (its asOf).", unchanged))
	}
	if stale > 0 {
		out = append(slices.Clip(out), fmt.Sprintf("%d account reports are stale: carried from an earlier run without proof that nothing changed since (the run's time budget ended first). Their findings are as of their own dates (asOf, the oldest %s): later use does not show.", stale, time.Unix(oldest, 0).UTC().Format("2006-01-02")))
	}
	return out
}

// ManagementAccountNote is the reason, given wherever the management
// account is listed, that it gets no SCP suggestion.
const ManagementAccountNote = "This is the organization's management account: SCPs do not apply to it, so no SCP is suggested."

// Entry is one entity report of a run, as the pipeline recorded it.
type Entry struct {
	Entity   reportdoc.Entity
	PolicyID string // empty for an entity report without a policy
	Status   string // reportdoc.StatusCompleted or reportdoc.StatusFailed
	Error    *reportdoc.Error
	Digest   *Digest // nil for failed entities
	// Freshness is empty (or reportdoc.Fresh) for a report made by the
	// run's own job, reportdoc.Unchanged or reportdoc.Stale for one
	// carried from an earlier run.
	Freshness string
	// Management marks the organization's management account, which SCPs
	// do not restrict: it gets findings but never an SCP suggestion.
	Management bool
}

// Previous is the previous finished run, for the changes section.
type Previous struct {
	RunID   string
	Entries []Entry
}

// Input is everything Finalize needs. Summary is complete except Changes.
type Input struct {
	Summary    *reportdoc.Summary
	UnusedDays int // 0 means DefaultUnusedDays
	Entries    []Entry
	Previous   *Previous // nil when there is no previous run
	// ManagementAccountID marks that account's entries as Management
	// (empty: unknown, none marked).
	ManagementAccountID string
	// Policies are the run's recorded SCPs (runs/<runId>/policies.json);
	// with them every suggestion is checked by the what-if evaluator.
	// nil: suggestions are not checked.
	Policies *policyset.Document
}

// Result is what Finalize produces: the pipeline sets Summary.Changes from
// Changes and stores FindingsJSON and HTML next to the summary.
type Result struct {
	Changes      *reportdoc.Changes // nil without a previous run
	FindingsJSON []byte
	HTML         []byte
}

// Document is runs/<runId>/findings.json.
type Document struct {
	SchemaVersion  int    `json:"schemaVersion"`
	RunID          string `json:"runId"`
	OrganizationID string `json:"organizationId"`
	// ManagementAccountID is the account SCPs do not apply to; empty when
	// the run did not record it.
	ManagementAccountID string          `json:"managementAccountId,omitempty"`
	CompletedAt         *reportdoc.Time `json:"completedAt"`
	UnusedDays          int             `json:"unusedDays"`
	Caveats             []string        `json:"caveats"`
	NeverDeny           []string        `json:"neverDeny"`
	// Services are every namespace any entity report lists, sorted; the
	// entities' unused lists index into it.
	Services []Service          `json:"services"`
	Entities []EntityRecord     `json:"entities"`
	Totals   Totals             `json:"totals"`
	Changes  *reportdoc.Changes `json:"changes"`
}

// Service is one entry of Document.Services.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// EntityRecord is one entity of findings.json: EntityFindings with the
// unused services as indexes into Document.Services. Indexes keep 11,001
// reports × 450 services to about a quarter of the size of the names.
type EntityRecord struct {
	Entity        reportdoc.Entity `json:"entity"`
	PolicyID      *string          `json:"policyId"`
	Status        string           `json:"status"`
	Error         *reportdoc.Error `json:"error"`
	AsOf          *reportdoc.Time  `json:"asOf"`
	Freshness     string           `json:"freshness,omitempty"`
	Listed        int              `json:"servicesListed"`
	Used          int              `json:"servicesUsed"`
	Unused        []int            `json:"unused"`
	NeverAccessed int              `json:"neverAccessed"`
	// LastAccessed maps each unused service that was accessed at some
	// point in the tracking period to the days since.
	LastAccessed map[string]int `json:"lastAccessed"`
	SCP          *SCPFinding    `json:"scp,omitempty"`
	// ManagementAccount and Note: see EntityFindings.
	ManagementAccount bool   `json:"managementAccount,omitempty"`
	Note              string `json:"note,omitempty"`
}

// UnusedNamespaces resolves e.Unused against the document's services.
func (d *Document) UnusedNamespaces(e EntityRecord) []string {
	out := make([]string, 0, len(e.Unused))
	for _, i := range e.Unused {
		if i >= 0 && i < len(d.Services) {
			out = append(out, d.Services[i].Namespace)
		}
	}
	return out
}

// documentHead and documentTail are Document without its entities, which
// Finalize writes one at a time between them.
type documentHead struct {
	SchemaVersion       int             `json:"schemaVersion"`
	RunID               string          `json:"runId"`
	OrganizationID      string          `json:"organizationId"`
	ManagementAccountID string          `json:"managementAccountId,omitempty"`
	CompletedAt         *reportdoc.Time `json:"completedAt"`
	UnusedDays          int             `json:"unusedDays"`
	Caveats             []string        `json:"caveats"`
	NeverDeny           []string        `json:"neverDeny"`
	Services            []Service       `json:"services"`
}

type documentTail struct {
	Totals  Totals             `json:"totals"`
	Changes *reportdoc.Changes `json:"changes"`
}

// Totals sums the findings of a run.
type Totals struct {
	Reports       int `json:"reports"`
	Failed        int `json:"failed"`
	WithUnused    int `json:"withUnused"`
	Unused        int `json:"unused"`
	NeverAccessed int `json:"neverAccessed"`
}

// EntityFindings are the findings of one entity report.
type EntityFindings struct {
	// The JSON of EntityFindings is that of `orgaudit scp --json`;
	// findings.json holds EntityRecord.
	Entity   reportdoc.Entity `json:"entity"`
	PolicyID *string          `json:"policyId"`
	Status   string           `json:"status"`
	Error    *reportdoc.Error `json:"error"`
	AsOf     *reportdoc.Time  `json:"asOf"`
	// Freshness says whether the report was made by the run's own job
	// (fresh) or carried from an earlier run: unchanged (proven still
	// true at AsOf) or stale (not proven: its evidence is as of AsOf,
	// its own date). Empty for a failed report.
	Freshness string `json:"freshness,omitempty"`
	// Listed counts the services the report lists (those SCPs allow).
	Listed int `json:"servicesListed"`
	// Used counts the services accessed within the threshold.
	Used int `json:"servicesUsed"`
	// Unused lists the namespaces not accessed within the threshold,
	// never-accessed ones included, sorted.
	Unused        []string `json:"unused"`
	NeverAccessed int      `json:"neverAccessed"`
	// LastAccessed gives the age of the unused services that were accessed
	// at some point in the tracking period.
	LastAccessed []LastAccess `json:"lastAccessed"`
	// SCP summarizes the suggested deny policy; only for reports without a
	// policy id, since an SCP suggestion is about the entity as a whole,
	// and never for the management account.
	SCP *SCPFinding `json:"scp,omitempty"`
	// ManagementAccount marks the organization's management account; Note
	// then says why it has no SCP suggestion (ManagementAccountNote).
	ManagementAccount bool   `json:"managementAccount,omitempty"`
	Note              string `json:"note,omitempty"`
}

// LastAccess is the age of one service's last access.
type LastAccess struct {
	Namespace string `json:"namespace"`
	Days      int    `json:"days"`
}

// SCPFinding summarizes the suggested SCP of an entity; `orgaudit scp` and
// the HTML report print the documents.
type SCPFinding struct {
	Deny     int      `json:"deny"`
	Kept     []string `json:"kept"`
	Policies int      `json:"policies"`
	// Verdict is the what-if evaluator's verdict on attaching the
	// suggested documents to the entity (SAFE or BREAKS; see package
	// whatif), judged against the run's recorded SCPs and the reports
	// under the entity. Empty when not checked: the run records no SCPs,
	// or Unchecked says why.
	Verdict   string   `json:"verdict,omitempty"`
	Breaks    []string `json:"breaks,omitempty"` // "<entity id> <namespace>" of each break
	Unchecked string   `json:"unchecked,omitempty"`
}

// Analyze computes the findings of one entry. buf is scratch space for the
// decoded digest (may be nil).
func Analyze(e Entry, unusedDays int, opts scpsuggest.Options, buf []ServiceAge) (EntityFindings, []ServiceAge, error) {
	f := EntityFindings{Entity: e.Entity, Status: e.Status, Error: e.Error, Unused: []string{}, LastAccessed: []LastAccess{}}
	if e.Management {
		f.ManagementAccount, f.Note = true, ManagementAccountNote
	}
	if e.PolicyID != "" {
		p := e.PolicyID
		f.PolicyID = &p
	}
	if e.Digest == nil {
		return f, buf, nil
	}
	f.AsOf = reportdoc.NewTime(time.Unix(e.Digest.AsOf, 0))
	f.Freshness = e.Freshness
	if f.Freshness == "" {
		f.Freshness = reportdoc.Fresh
	}
	svcs, err := e.Digest.Services(buf)
	if err != nil {
		return f, buf, fmt.Errorf("findings: %s: %w", e.Entity.Path, err)
	}
	f.Listed = len(svcs)
	for _, s := range svcs {
		switch {
		case !s.UnusedFor(unusedDays):
			f.Used++
		case s.Never():
			f.NeverAccessed++
			f.Unused = append(f.Unused, s.Namespace)
		default:
			f.Unused = append(f.Unused, s.Namespace)
			f.LastAccessed = append(f.LastAccessed, LastAccess{s.Namespace, s.Days()})
		}
	}
	if e.PolicyID == "" && !e.Management {
		deny, kept, policies, err := scpsuggest.Count(f.Unused, opts)
		if err != nil {
			return f, svcs, fmt.Errorf("findings: %s: %w", e.Entity.Path, err)
		}
		f.SCP = &SCPFinding{Deny: deny, Kept: kept, Policies: policies}
	}
	return f, svcs, nil
}

// Finalize computes a run's findings, changes and HTML report. Same input,
// same bytes: entries are processed in path order and no clock is read.
func Finalize(in Input) (*Result, error) {
	if in.Summary == nil {
		return nil, errors.New("findings: finalize: no summary")
	}
	days := in.UnusedDays
	if days <= 0 {
		days = DefaultUnusedDays
	}
	entries := sortedEntries(in.Entries)
	if in.ManagementAccountID != "" {
		for i := range entries {
			if entries[i].Entity.ID == in.ManagementAccountID {
				entries[i].Management = true
			}
		}
	}
	res := &Result{}
	if in.Previous != nil {
		ch, err := compare(entries, in.Previous, days)
		if err != nil {
			return nil, err
		}
		res.Changes = ch
	}
	opts := scpsuggest.Options{}
	page, err := newPage(in.Summary, days, entries, res.Changes)
	if err != nil {
		return nil, err
	}
	page.setPlan(planOf(entries, days))
	// findings.json is written in one pass into a buffer sized from the
	// digests: at 11,001 reports it is tens of megabytes, and a second copy
	// or doubling growth would cost as much again.
	head, err := json.Marshal(documentHead{
		SchemaVersion:       reportdoc.SchemaVersion,
		RunID:               in.Summary.RunID,
		OrganizationID:      in.Summary.OrganizationID,
		ManagementAccountID: in.ManagementAccountID,
		CompletedAt:         in.Summary.CompletedAt,
		UnusedDays:          days,
		Caveats:             caveatsOf(entries),
		NeverDeny:           scpsuggest.NeverDeny(opts),
		Services:            page.services(),
	})
	if err != nil {
		return nil, fmt.Errorf("findings: encode: %w", err)
	}
	var body bytes.Buffer
	body.Grow(len(head) + page.sizeHint + 4096)
	body.Write(head[:len(head)-1])
	body.WriteString(`,"entities":[`)
	var totals Totals
	var buf []ServiceAge
	check, err := NewChecker(in.Policies, entries, in.ManagementAccountID, days)
	if err != nil {
		return nil, fmt.Errorf("findings: check suggestions: %w", err)
	}
	for i, e := range entries {
		f, svcs, err := Analyze(e, days, opts, buf)
		if err != nil {
			return nil, err
		}
		if err := check.Check(&f, opts); err != nil {
			return nil, fmt.Errorf("findings: check the suggestion for %s: %w", e.Entity.Path, err)
		}

		buf = svcs
		totals.Reports++
		if e.Digest == nil {
			totals.Failed++
		}
		if len(f.Unused) > 0 {
			totals.WithUnused++
		}
		totals.Unused += len(f.Unused)
		totals.NeverAccessed += f.NeverAccessed
		b, err := json.Marshal(page.record(f))
		if err != nil {
			return nil, fmt.Errorf("findings: encode %s: %w", e.Entity.Path, err)
		}
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(b)
		if err := page.add(e, f, svcs); err != nil {
			return nil, err
		}
	}
	tail, err := json.Marshal(documentTail{Totals: totals, Changes: res.Changes})
	if err != nil {
		return nil, fmt.Errorf("findings: encode: %w", err)
	}
	body.WriteString("],")
	body.Write(tail[1:])
	body.WriteByte('\n')
	res.FindingsJSON = body.Bytes()
	html, err := page.render()
	if err != nil {
		return nil, err
	}
	res.HTML = html
	return res, nil
}

func entryKey(entityID, policyID string) string { return entityID + "\x00" + policyID }

func sortedEntries(in []Entry) []Entry {
	out := append([]Entry(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Entity.Path != out[j].Entity.Path {
			return out[i].Entity.Path < out[j].Entity.Path
		}
		if out[i].PolicyID != out[j].PolicyID {
			return out[i].PolicyID < out[j].PolicyID
		}
		return out[i].Entity.ID < out[j].Entity.ID
	})
	return out
}

// ServiceName is the display name of a namespace: the catalog name, or the
// namespace itself when the catalog does not know it.
func ServiceName(ns string) string {
	if s, ok := catalog.Lookup(ns); ok {
		return s.Name
	}
	return ns
}
