// Package policyset is runs/<runId>/policies.json: the content of every
// service control policy attached in a run's scope and the targets it is
// attached to, as the run found them. It is what lets the what-if work
// offline: the current state of the organization's SCPs, and any of them by
// id.
//
//	{ "schemaVersion": 1, "runId": "…", "organizationId": "o-…",
//	  "policies": [{"id": "p-…", "name": "…", "description": "…", "awsManaged": false,
//	                "content": "<the SCP document, as Organizations returns it>",
//	                "targets": ["r-…", "ou-…", "123456789012"]}] }
//
// Policies are sorted by id, targets (entity ids: root, OUs, accounts in
// scope) sorted. A policy appears once however many targets it has; it is
// described once (organizations:DescribePolicy) per run.
package policyset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
)

// SchemaVersion is the version of the document.
const SchemaVersion = 1

// Document is runs/<runId>/policies.json.
type Document struct {
	SchemaVersion  int      `json:"schemaVersion"`
	RunID          string   `json:"runId"`
	OrganizationID string   `json:"organizationId"`
	Policies       []Policy `json:"policies"`
}

// Policy is one SCP and where it is attached.
type Policy struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	AWSManaged  bool     `json:"awsManaged"`
	Content     string   `json:"content"`
	Targets     []string `json:"targets"`
}

// New builds the document of a run from the described policies (their
// Targets are ignored) and the attachments (target id -> policy ids) found
// by the walk. Every attached policy must be among described.
func New(runID, organizationID string, described []Policy, attachments map[string][]string) (*Document, error) {
	byID := map[string]*Policy{}
	d := &Document{SchemaVersion: SchemaVersion, RunID: runID, OrganizationID: organizationID}
	for _, p := range described {
		if _, dup := byID[p.ID]; dup {
			continue
		}
		p.Targets = nil
		d.Policies = append(d.Policies, p)
		byID[p.ID] = nil
	}
	sort.Slice(d.Policies, func(i, j int) bool { return d.Policies[i].ID < d.Policies[j].ID })
	for i := range d.Policies {
		byID[d.Policies[i].ID] = &d.Policies[i]
	}
	for target, ids := range attachments {
		for _, id := range ids {
			p := byID[id]
			if p == nil {
				return nil, fmt.Errorf("policies of run %s: %s is attached to %s but was not described", runID, id, target)
			}
			p.Targets = append(p.Targets, target)
		}
	}
	for i := range d.Policies {
		sort.Strings(d.Policies[i].Targets)
		if d.Policies[i].Targets == nil {
			d.Policies[i].Targets = []string{}
		}
	}
	return d, nil
}

// AttachedIDs returns the distinct ids of the policies attached to any of
// the targets, sorted: the policies a run must describe.
func AttachedIDs(attachments map[string][]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ids := range attachments {
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Marshal encodes d as stored (indented, newline-terminated).
func (d *Document) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save writes d under its run's key.
func Save(ctx context.Context, store objstore.Store, d *Document) error {
	b, err := d.Marshal()
	if err != nil {
		return err
	}
	return store.Put(ctx, reportdoc.PoliciesKey(d.RunID), b, "application/json")
}

// ErrNoPolicies means the run has no policies.json: it was made by a
// version of orgaudit that did not record its SCPs.
var ErrNoPolicies = errors.New("the run has no policies document")

// Load reads a run's policies document. A run without one is ErrNoPolicies
// (wrapped, with the location).
func Load(ctx context.Context, store objstore.Store, runID string) (*Document, error) {
	key := reportdoc.PoliciesKey(runID)
	b, err := store.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoPolicies, store.Location(key))
	}
	if err != nil {
		return nil, err
	}
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("read %s: %w", store.Location(key), err)
	}
	if d.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("read %s: schemaVersion %d, this orgaudit reads %d", store.Location(key), d.SchemaVersion, SchemaVersion)
	}
	if d.RunID != runID {
		return nil, fmt.Errorf("read %s: the document is of run %q", store.Location(key), d.RunID)
	}
	return &d, nil
}

// Policy returns the policy with the given id.
func (d *Document) Policy(id string) (*Policy, bool) {
	for i := range d.Policies {
		if d.Policies[i].ID == id {
			return &d.Policies[i], true
		}
	}
	return nil, false
}

// Attachments returns target id -> the ids of the policies attached to it,
// sorted.
func (d *Document) Attachments() map[string][]string {
	out := map[string][]string{}
	for _, p := range d.Policies {
		for _, t := range p.Targets {
			out[t] = append(out[t], p.ID)
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// Parse parses every policy's content for evaluation, each with its id and
// name set. A content that is not a valid SCP is an error naming the policy.
func (d *Document) Parse() (map[string]*scpeval.Policy, error) {
	out := make(map[string]*scpeval.Policy, len(d.Policies))
	for _, p := range d.Policies {
		sp, err := scpeval.Parse([]byte(p.Content))
		if err != nil {
			return nil, fmt.Errorf("policy %s (%s) of run %s: %w", p.ID, p.Name, d.RunID, err)
		}
		sp.ID, sp.Name = p.ID, p.Name
		out[p.ID] = sp
	}
	return out, nil
}

// FromWalk builds the document of a run from its finished organization
// walk: the SCPs attached to the entities walked (and to the ancestors of
// listed ones), each with the document DescribePolicy returned.
func FromWalk(runID string, pr *orgwalk.Progress) (*Document, error) {
	described := make([]Policy, 0, len(pr.Policies))
	for _, p := range pr.Policies {
		described = append(described, Policy{ID: p.ID, Name: p.Name, Description: p.Description, AWSManaged: p.AWSManaged, Content: p.Content})
	}
	return New(runID, pr.OrganizationID, described, pr.Attached)
}
