// Package carryover connects a run to the earlier run whose account
// reports it may carry (package carry holds the rule itself). It finds the
// earlier run (the one latest.json points to), notes for every account of
// this run its earlier report's facts and the fingerprint of the SCPs on
// its path now, gathers the evidence the rule needs from this run's
// reports of the root and OUs above an account, and copies a carried
// report into this run.
package carryover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/carry"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Prepare readies the account entities of m, a run whose walk is done:
// each plain account report gets the fingerprint of the SCPs on its path
// now (attached gives a target's policies), and, when the earlier run
// (latest.json's) holds a completed report of the same account in the
// same organization, that report's facts (Carry) and the state pending:
// it waits for this run's reports above it. It returns the earlier run's
// id, empty when there is none to carry from.
func Prepare(ctx context.Context, store objstore.Store, m *manifest.Manifest, attached func(target string) []carry.Attached) (string, error) {
	for i := range m.Entities {
		if e := &m.Entities[i]; isAccount(e) {
			e.SCP = carry.Fingerprint(e.Path, attached)
		}
	}
	prev, err := earlierRun(ctx, store, m)
	if prev == nil || err != nil {
		return "", err
	}
	earlier := map[string]*manifest.Entity{}
	for i := range prev.Entities {
		if pe := &prev.Entities[i]; pe.PolicyID == "" && pe.State == manifest.StateStored && pe.Error == nil && pe.Digest != nil {
			earlier[pe.ID] = pe
		}
	}
	for i := range m.Entities {
		e := &m.Entities[i]
		pe := earlier[e.ID]
		if e.PolicyID != "" || pe == nil {
			continue
		}
		if !isAccount(e) {
			// The root's and OUs' listings then, to tell services IAM
			// began (or stopped) reporting since.
			e.Carry = &manifest.Carry{RunID: prev.RunID, AsOf: pe.Digest.AsOf, Listed: listing(pe.Digest)}
			continue
		}
		path, scp := pe.Basis()
		c := &manifest.Carry{RunID: prev.RunID, AsOf: pe.Digest.AsOf, SCP: scp, Listed: listing(pe.Digest)}
		if path != e.Path {
			c.Path = path
		}
		e.Carry, e.State = c, manifest.StatePending
	}
	m.CarryFrom = prev.RunID
	return prev.RunID, nil
}

// listing is d without its access ages: the services a report listed.
func listing(d *findings.Digest) *findings.Digest {
	return &findings.Digest{AsOf: d.AsOf, Catalog: d.Catalog, Listed: d.Listed, Extra: d.Extra}
}

// earlierRun loads the run latest.json points to, when it is another run
// of the same organization; nil when there is none.
func earlierRun(ctx context.Context, store objstore.Store, m *manifest.Manifest) (*manifest.Manifest, error) {
	b, err := store.Get(ctx, reportdoc.LatestKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read latest.json: %w", err)
	}
	var l reportdoc.Latest
	if err := json.Unmarshal(b, &l); err != nil || l.RunID == "" {
		return nil, nil // unreadable: nothing provable to carry
	}
	if l.RunID == m.RunID {
		return nil, nil
	}
	prev, err := manifest.Load(ctx, store, l.RunID)
	switch {
	case manifest.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the earlier run: %w", err)
	case prev.OrganizationID != m.OrganizationID:
		return nil, nil
	}
	return prev, nil
}

func isAccount(e *manifest.Entity) bool {
	return e.Type == reportdoc.TypeAccount && e.PolicyID == ""
}

// Groups indexes a run's reports of the root and OUs by path, and says
// which accounts wait for each of them.
type Groups struct {
	m      *manifest.Manifest
	byPath map[string]int
	// Above lists, for each pending account, the indexes of the root and
	// OUs above it (-1: not reported by this run), root first.
	above map[int][]int
	// below lists, for each group, the pending accounts directly under it.
	below map[int][]int
}

// NewGroups indexes m's groups and its pending accounts.
func NewGroups(m *manifest.Manifest) *Groups {
	g := &Groups{m: m, byPath: map[string]int{}, above: map[int][]int{}, below: map[int][]int{}}
	for i := range m.Entities {
		if e := &m.Entities[i]; e.Type != reportdoc.TypeAccount && e.PolicyID == "" {
			g.byPath[e.Path] = i
		}
	}
	for i := range m.Entities {
		if m.Entities[i].State == manifest.StatePending {
			g.add(i)
		}
	}
	return g
}

func (g *Groups) add(i int) {
	path := g.m.Entities[i].Path
	segs := strings.Split(path, "/")
	var above []int
	for n := 2; n < len(segs); n++ { // o-…/r-… first, the account itself last
		j, ok := g.byPath[strings.Join(segs[:n], "/")]
		if !ok {
			j = -1
		}
		above = append(above, j)
	}
	g.above[i] = above
	if n := len(above); n > 0 && above[n-1] >= 0 {
		g.below[above[n-1]] = append(g.below[above[n-1]], i)
	}
}

// Pending returns the pending accounts in manifest order.
func (g *Groups) Pending() []int {
	var out []int
	for i := range g.m.Entities {
		if g.m.Entities[i].State == manifest.StatePending {
			out = append(out, i)
		}
	}
	return out
}

// Below returns the accounts waiting for group j: those directly under it.
func (g *Groups) Below(j int) []int { return g.below[j] }

// final reports whether group j's report in this run is settled: read
// back from IAM (its digest is in), or failed.
func (g *Groups) final(j int) bool {
	e := &g.m.Entities[j]
	switch e.State {
	case manifest.StateCompleted, manifest.StateStored:
		return e.Error != nil || e.Digest != nil
	case manifest.StateFailed:
		return true
	}
	return false
}

// Ready reports whether this run's report of the OU directly above
// pending account i (the rule's evidence) is settled, or will never be
// (not in this run), so that the rule can be applied.
func (g *Groups) Ready(i int) bool {
	above := g.above[i]
	if len(above) == 0 {
		return true
	}
	j := above[len(above)-1]
	return j < 0 || g.final(j)
}

// Decide applies the rule to pending account i (Ready). A carried
// account's report holds as of the report that proved it: that of the OU
// directly above it.
func (g *Groups) Decide(i int) (carry.Verdict, time.Time) {
	m := g.m
	e := &m.Entities[i]
	a := carry.Account{Path: e.Path, Management: e.ID == m.ManagementAccountID, Policies: e.SCP, Depth: len(g.above[i])}
	if c := e.Carry; c != nil {
		ea := &carry.Earlier{AsOf: time.Unix(c.AsOf, 0), Path: c.Path, Policies: c.SCP, OK: c.Listed != nil}
		if ea.Path == "" {
			ea.Path = e.Path
		}
		if c.Listed != nil {
			svcs, err := c.Listed.Services(nil)
			if err != nil {
				ea.OK = false // another service catalog: any doubt means refresh
			}
			for _, s := range svcs {
				ea.Services = append(ea.Services, s.Namespace)
			}
		}
		a.Earlier = ea
	}
	var proof time.Time
	above := g.above[i]
	for _, j := range above {
		if j < 0 {
			a.Above = append(a.Above, nil)
			continue
		}
		ge := &m.Entities[j]
		grp := &carry.Group{Path: ge.Path, OK: ge.Error == nil && ge.Digest != nil}
		if grp.OK && j == above[len(above)-1] {
			// The evidence: what the OU directly above lists now and
			// listed in the earlier run.
			var err error
			if grp.Listed, err = namespaces(ge.Digest); err != nil {
				grp.OK = false
			}
			if ge.Carry != nil && ge.Carry.Listed != nil {
				if grp.EarlierListed, err = namespaces(ge.Carry.Listed); err != nil {
					grp.EarlierListed = nil
				}
			}
		}
		if grp.OK {
			asOf := time.Unix(ge.Digest.AsOf, 0)
			accessed, err := ge.Digest.AccessedServices()
			if err != nil {
				grp.OK = false
			}
			grp.LastAccess = make(map[string]time.Time, len(accessed))
			for _, s := range accessed {
				grp.LastAccess[s.Namespace] = asOf.Add(-time.Duration(s.Ago) * time.Second)
			}
			proof = asOf // the last one, the OU directly above, is the evidence
		}
		a.Above = append(a.Above, grp)
	}
	v := carry.Decide(a)
	if !v.Carry {
		proof = time.Time{}
	}
	return v, proof
}

// namespaces are the services d lists.
func namespaces(d *findings.Digest) ([]string, error) {
	svcs, err := d.Services(nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(svcs))
	for k, s := range svcs {
		out[k] = s.Namespace
	}
	return out, nil
}

// Report reads the earlier report entity e of run m carries and returns it
// as this run's: the same job and services, with this run's id, the
// entity as this run names it, and Carried saying whence and as of when.
func Report(ctx context.Context, store objstore.Store, m *manifest.Manifest, e *manifest.Entity) (*reportdoc.EntityReport, error) {
	c := e.Carry
	if c == nil || e.Freshness == "" {
		return nil, fmt.Errorf("carry report of %s: nothing to carry", e.ID)
	}
	b, err := store.Get(ctx, reportdoc.ReportKey(c.RunID, e.ID, ""))
	if err != nil {
		return nil, fmt.Errorf("read the earlier report of %s in run %s: %w", e.ID, c.RunID, err)
	}
	var doc reportdoc.EntityReport
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read the earlier report of %s in run %s: %w", e.ID, c.RunID, err)
	}
	if doc.Entity.ID != e.ID || doc.PolicyID != nil || doc.Job.Status != reportdoc.StatusCompleted || doc.OrganizationID != m.OrganizationID || doc.AsOf().Unix() != c.AsOf {
		return nil, fmt.Errorf("the earlier report of %s in run %s is not the completed report the run recorded", e.ID, c.RunID)
	}
	from := doc.RunID
	if doc.Carried != nil && doc.Carried.FromRunID != "" {
		from = doc.Carried.FromRunID
	}
	asOf := time.Unix(c.AsOf, 0)
	if e.Freshness == reportdoc.Unchanged {
		asOf = time.Unix(c.Proven, 0)
	}
	doc.RunID = m.RunID
	doc.Entity = e.DocEntity()
	doc.Carried = &reportdoc.Carried{Freshness: e.Freshness, AsOf: reportdoc.NewTime(asOf), FromRunID: from}
	if doc.Services == nil {
		doc.Services = []reportdoc.Service{}
	}
	return &doc, nil
}

// Candidate is entity e as package carry orders the accounts to refresh.
func Candidate(i int, e *manifest.Entity) carry.Candidate {
	c := carry.Candidate{Index: i}
	if e.Carry != nil {
		c.AsOf = time.Unix(e.Carry.AsOf, 0)
	}
	return c
}
