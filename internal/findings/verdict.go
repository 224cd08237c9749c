package findings

import (
	"errors"
	"time"

	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
	"github.com/orgaudit/orgaudit/internal/whatif"
)

// Checker judges suggested SCPs with the what-if evaluator, against the
// run's recorded SCPs and the reports under the entity: a suggestion denies
// only services unused for the threshold, so it must come out SAFE.
type Checker struct {
	run  *whatif.Run
	days int
	// accounts tells whether account suggestions are checked too: only
	// in runs of at most maxAccountChecks reports.
	accounts bool
}

// maxAccountChecks bounds the runs whose account suggestions Finalize
// checks one by one. A check costs about a millisecond, which 10,000
// accounts would add to the Store step; the root and OU suggestions, which
// cover those accounts, are always checked, and `orgaudit scp` and
// `orgaudit whatif` check any account's on demand.
const maxAccountChecks = 2000

// AccountsUnchecked is the reason given for an account suggestion a large
// run does not check.
const AccountsUnchecked = "a run of more than 2,000 reports checks the root and OU suggestions only; orgaudit scp checks this one"

// NewChecker prepares the run's reports (from their digests) and its SCPs
// for checking suggestions made with the unused threshold days; nil when
// policies is nil (the run records no SCPs).
func NewChecker(policies *policyset.Document, entries []Entry, managementAccountID string, days int) (*Checker, error) {
	if policies == nil {
		return nil, nil
	}
	var reports []whatif.Report
	var buf []ServiceAge
	for _, e := range entries {
		if e.Digest == nil || e.PolicyID != "" {
			continue
		}
		svcs, err := e.Digest.Services(buf)
		if err != nil {
			return nil, err
		}
		buf = svcs
		asOf := time.Unix(e.Digest.AsOf, 0).UTC()
		r := whatif.Report{Entity: e.Entity, AsOf: asOf, Stale: e.Freshness == reportdoc.Stale}
		// Only an access within the threshold can be broken: older ones
		// are left out, and the rest held at their exact size, since
		// 11,001 reports' accesses are the largest part of the checker.
		names := make([]string, 0, len(svcs))
		used := 0
		for _, s := range svcs {
			names = append(names, s.Namespace)
			if !s.UnusedFor(days) {
				used++
			}
		}
		r.Accessed = make([]whatif.Access, 0, used)
		for _, s := range svcs {
			if !s.UnusedFor(days) {
				r.Accessed = append(r.Accessed, whatif.Access{Namespace: s.Namespace, Last: asOf.Add(-time.Duration(s.Ago) * time.Second)})
			}
		}
		r.Listed = whatif.NewSet(names...)
		reports = append(reports, r)
	}
	run, err := whatif.NewRun(whatif.Input{Policies: policies, Reports: reports, ManagementAccountID: managementAccountID})
	if err != nil {
		return nil, err
	}
	return &Checker{run: run, days: days, accounts: len(entries) <= maxAccountChecks}, nil
}

// CheckAccounts makes c check account suggestions whatever the run's size
// (for one suggestion asked for on demand).
func (c *Checker) CheckAccounts() {
	if c != nil {
		c.accounts = true
	}
}

// Check sets the verdict of f's suggestion (f.SCP); a nil Checker leaves
// it unset.
func (c *Checker) Check(f *EntityFindings, opts scpsuggest.Options) error {
	if c == nil || f.SCP == nil || f.SCP.Policies == 0 {
		return nil
	}
	if f.Entity.Type == reportdoc.TypeAccount && !c.accounts {
		f.SCP.Unchecked = AccountsUnchecked
		return nil
	}
	s, err := scpsuggest.Suggest(f.Unused, opts)
	if err != nil {
		return err
	}
	var docs []*scpeval.Policy
	for _, d := range s.Policies {
		p, err := scpeval.Parse([]byte(d))
		if err != nil {
			return err
		}
		docs = append(docs, p)
	}
	res, err := c.run.Verdict([]whatif.Change{{Target: f.Entity.ID, Attach: docs}}, c.days)
	var ie *whatif.InputError
	switch {
	case errors.As(err, &ie):
		f.SCP.Unchecked = ie.Msg
		return nil
	case err != nil:
		return err
	}
	f.SCP.Verdict = res.Verdict
	for _, b := range res.Breaks {
		f.SCP.Breaks = append(f.SCP.Breaks, b.EntityID+" "+b.Namespace)
	}
	return nil
}
