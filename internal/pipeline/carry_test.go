package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// simClock is the simulator's IAM clock: it runs in real time from the
// instant it was last set, so that tests can move it across days.
type simClock struct {
	mu          sync.Mutex
	base, start time.Time
}

func newSimClock(t time.Time) *simClock { return &simClock{base: t, start: time.Now()} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.start))
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.start = c.base.Add(time.Since(c.start)+d), time.Now()
}

// generateCounter passes requests on and counts the report jobs IAM
// handed out (GenerateOrganizationsAccessReport answered 200), by the kind
// of entity the request's path names.
type generateCounter struct {
	mu     sync.Mutex
	byKind map[string]int
	paths  map[string]int
}

func newGenerateCounter() *generateCounter {
	return &generateCounter{byKind: map[string]int{}, paths: map[string]int{}}
}

func (g *generateCounter) Do(req *http.Request) (*http.Response, error) {
	var path string
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") == "GenerateOrganizationsAccessReport" && v.Get("OrganizationsPolicyId") == "" {
			path = v.Get("EntityPath")
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || path == "" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	kind := reportdoc.TypeAccount
	switch {
	case strings.HasPrefix(last, "r-"):
		kind = reportdoc.TypeRoot
	case strings.HasPrefix(last, "ou-"):
		kind = reportdoc.TypeOU
	}
	g.mu.Lock()
	g.byKind[kind]++
	g.paths[path]++
	g.mu.Unlock()
	return resp, nil
}

// take returns the counts so far and starts again from zero.
func (g *generateCounter) take() (map[string]int, map[string]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k, p := g.byKind, g.paths
	g.byKind, g.paths = map[string]int{}, map[string]int{}
	return k, p
}

// carryEnv is an env whose IAM clock tests move, watching the jobs asked.
type carryEnv struct {
	*env
	clock *simClock
	gen   *generateCounter
}

func newCarryEnv(t *testing.T, org *orgmodel.Org) *carryEnv {
	t.Helper()
	// The first run a day after the activity the organization was
	// generated with: all of it older than IAM's publication delay.
	clock := newSimClock(org.AsOf.Add(24 * time.Hour))
	e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) { o.IAM.Now = clock.Now }})
	ce := &carryEnv{env: e, clock: clock, gen: newGenerateCounter()}
	ce.httpClient = ce.gen
	ce.p, ce.store = ce.pipeline(ce.cfg, "test", "test")
	return ce
}

// night moves the clock a day on and runs the whole organization with
// accounts under runID.
func (e *carryEnv) night(ctx context.Context, runID, extra string) (State, map[string]int, map[string]int) {
	e.t.Helper()
	e.clock.Advance(24 * time.Hour)
	e.now = e.clock.Now().UTC().Truncate(time.Second)
	st := e.run(ctx, `{"includeAccounts":true`+extra+`}`, runID)
	kinds, paths := e.gen.take()
	return st, kinds, paths
}

// moveTo replaces the simulator by one of org (the same organization
// changed), carrying the bucket over, as if the organization had changed
// between two nights.
func (e *carryEnv) moveTo(ctx context.Context, org *orgmodel.Org) {
	e.t.Helper()
	s, err := sim.New(sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.01, Now: e.clock.Now}, Buckets: []string{testBucket}, Seed: 1})
	if err != nil {
		e.t.Fatalf("sim.New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	e.t.Cleanup(srv.Close)
	old := e.store
	e.org, e.sim, e.url = org, s, srv.URL
	e.p, e.store = e.pipeline(e.cfg, "test", "test")
	copyStore(ctx, e.t, old, e.store)
}

func copyStore(ctx context.Context, t testing.TB, from, to objstore.Store) {
	t.Helper()
	keys, err := from.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		b, err := from.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := to.Put(ctx, k, b, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
}

// cloneOrg returns a copy of org through its file format, with change
// applied before it is indexed.
func cloneOrg(t testing.TB, org *orgmodel.Org, change func(*orgmodel.Org)) *orgmodel.Org {
	t.Helper()
	b, err := json.Marshal(org)
	if err != nil {
		t.Fatal(err)
	}
	var raw orgmodel.Org
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	change(&raw)
	b, err = json.Marshal(&raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := orgmodel.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Load(changed organization): %v", err)
	}
	return out
}

// parentPath is the path of the OU (or root) directly above path.
func parentPath(path string) string { return path[:strings.LastIndexByte(path, '/')] }

// checkCarried checks the reports of a run against what the test expects
// of each account: carried from run from (freshness unchanged, as of its
// parent's report in this run, or stale, as of the earlier report's
// as-of), or fresh.
func checkCarried(t *testing.T, o *outcome, want map[string]string, from string, earlier *outcome) {
	t.Helper()
	byPath := map[string]*reportdoc.EntityReport{}
	for _, r := range o.reports {
		byPath[r.Entity.Path] = r
	}
	lines := map[string]reportdoc.SummaryReport{}
	for _, l := range o.summary.Reports {
		lines[l.EntityID] = l
	}
	counts := map[string]int{}
	for k, r := range o.reports {
		fresh := want[k.id]
		if fresh == "" {
			fresh = reportdoc.Fresh
		}
		counts[fresh]++
		line := lines[k.id]
		if line.Freshness != fresh || line.AsOf == nil || !line.AsOf.Equal(r.AsOf()) {
			t.Errorf("Got(summary line of %s) freshness %q as of %v; want %q as of %v", k, line.Freshness, line.AsOf, fresh, r.AsOf())
		}
		switch fresh {
		case reportdoc.Fresh:
			if r.Carried != nil {
				t.Errorf("Got(report %s carried %+v); want a fresh report", k, r.Carried)
			}
			continue
		case reportdoc.Unchanged:
			parent := byPath[parentPath(r.Entity.Path)]
			if parent == nil {
				t.Errorf("Got(no report of the OU above %s); want one", k)
			} else if r.Carried == nil || r.Carried.Freshness != fresh || !r.Carried.AsOf.Equal(parent.Job.CompletedAt.Time) {
				t.Errorf("Got(report %s carried %+v); want unchanged as of its parent's report %+v", k, r.Carried, parent.Job)
			}
		case reportdoc.Stale:
			prev := earlier.reports[k]
			if r.Carried == nil || r.Carried.Freshness != fresh || prev == nil || !r.Carried.AsOf.Equal(prev.AsOf()) {
				t.Errorf("Got(report %s carried %+v); want stale as of its earlier report", k, r.Carried)
			}
		}
		if r.Carried != nil && r.Carried.FromRunID != from {
			t.Errorf("Got(report %s carried from %s); want from %s", k, r.Carried.FromRunID, from)
		}
	}
	f := o.summary.Freshness
	if f.Fresh != counts[reportdoc.Fresh] || f.Unchanged != counts[reportdoc.Unchanged] || f.Stale != counts[reportdoc.Stale] {
		t.Errorf("Got(summary freshness) = %+v; want %v", f, counts)
	}
}

// TestCarryUnchangedOrganization: a second and a third night on an
// organization where nothing happened carry every account report
// unchanged and ask IAM for the root's and OUs' jobs only (and the
// management account's, which nothing can prove); the carried
// reports equal what IAM would answer now, and their days-since figures
// are counted from the new as-of.
func TestCarryUnchangedOrganization(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	e := newCarryEnv(t, org)
	ctx := testCtx(t)
	scope := expectScope(org, true, false)
	ous, accounts := org.EntityCount()

	_, kinds, _ := e.night(ctx, "night-1", "")
	first := e.verify(ctx, "night-1", scope, nil)
	if kinds[reportdoc.TypeRoot] != 1 || kinds[reportdoc.TypeOU] != ous || kinds[reportdoc.TypeAccount] != accounts {
		t.Errorf("Got(jobs of the first night) = %v; want 1 root, %d OUs, %d accounts", kinds, ous, accounts)
	}
	checkCarried(t, first, nil, "", nil)

	for _, night := range []string{"night-2", "night-3"} {
		_, kinds, paths := e.night(ctx, night, "")
		o := e.verify(ctx, night, scope, nil)
		// The management account is the one account asked again: the
		// root's and OUs' reports leave it out, so nothing proves it.
		mgmt, _ := org.Node(org.ManagementAccountID)
		if kinds[reportdoc.TypeRoot] != 1 || kinds[reportdoc.TypeOU] != ous || kinds[reportdoc.TypeAccount] != 1 || paths[mgmt.Path] != 1 {
			t.Errorf("Got(jobs of %s) = %v; want 1 root, %d OUs and the management account's only", night, kinds, ous)
		}
		if j := o.summary.Jobs; j.Root != 1 || j.OUs != ous || j.Accounts != 1 {
			t.Errorf("Got(summary jobs of %s) = %+v; want 1 root, %d OUs, 1 account", night, j, ous)
		}
		want := map[string]string{}
		for _, a := range org.Accounts {
			if a.ID != org.ManagementAccountID {
				want[a.ID] = reportdoc.Unchanged
			}
		}
		checkCarried(t, o, want, "night-1", nil)
		checkDaysSince(t, e.env, ctx, night, o)
	}
}

// TestCarryManagementAccountRefreshed: the management account is refreshed
// every night, since the root's and OUs' reports leave it out.
func TestCarryManagementAccountRefreshed(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 4, Accounts: 6, Depth: 2, Seed: 11})
	e := newCarryEnv(t, org)
	ctx := testCtx(t)
	e.night(ctx, "n1", "")
	_, kinds, paths := e.night(ctx, "n2", "")
	mgmt, _ := org.Node(org.ManagementAccountID)
	if kinds[reportdoc.TypeAccount] != 1 || paths[mgmt.Path] != 1 {
		t.Errorf("Got(account jobs of the second night) = %v; want the management account's only", paths)
	}
	o := e.verify(ctx, "n2", expectScope(org, true, false), nil)
	if r := o.reports[scopeKey{org.ManagementAccountID, ""}]; r == nil || r.Carried != nil {
		t.Errorf("Got(management account report carried); want it fresh")
	}
}

// checkDaysSince checks findings.json against the reports: each entity's
// asOf is its report's, and the days since an unused service's last access
// are counted from it.
func checkDaysSince(t *testing.T, e *env, ctx context.Context, runID string, o *outcome) {
	t.Helper()
	var doc findings.Document
	if err := json.Unmarshal(e.read(ctx, reportdoc.FindingsKey(runID)), &doc); err != nil {
		t.Fatalf("findings.json: %v", err)
	}
	checked := 0
	for _, rec := range doc.Entities {
		r := o.reports[scopeKey{rec.Entity.ID, ""}]
		if r == nil || rec.PolicyID != nil {
			continue
		}
		want := reportdoc.Fresh
		if r.Carried != nil {
			want = r.Carried.Freshness
		}
		if rec.AsOf == nil || !rec.AsOf.Equal(r.AsOf()) || rec.Freshness != want {
			t.Errorf("Got(findings of %s) as of %v, %q; want as of %v, %q", rec.Entity.ID, rec.AsOf, rec.Freshness, r.AsOf(), want)
		}
		for _, s := range r.Services {
			days, ok := rec.LastAccessed[s.Namespace]
			if !ok || s.LastAuthenticated == nil {
				continue
			}
			if w := int(r.AsOf().Sub(s.LastAuthenticated.Time) / (24 * time.Hour)); days != w {
				t.Errorf("Got(findings of %s: %s last accessed %d days ago); want %d", rec.Entity.ID, s.Namespace, days, w)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Errorf("Got(no unused service with a last access in findings.json); want some to check")
	}
}

// TestCarryActivityRefreshesItsOU: a new access in one account shows in
// the report of the OU directly above it: that account and the other
// accounts directly under that OU are refreshed, every other account is
// carried unchanged.
func TestCarryActivityRefreshesItsOU(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 16, Depth: 3, Seed: 7})
	e := newCarryEnv(t, org)
	ctx := testCtx(t)
	e.night(ctx, "n1", "")
	first := e.outcome(ctx, "n1")

	// An account below an OU (not directly under the root) that shares its
	// OU with another account.
	var active orgmodel.Node
	for _, a := range org.Accounts {
		n, _ := org.Node(a.ID)
		if a.ID != org.ManagementAccountID && strings.HasPrefix(a.ParentID, "ou-") && len(org.ChildAccounts(a.ParentID)) > 1 {
			active = n
			break
		}
	}
	if active.ID == "" {
		t.Fatal("no account shares an OU with another in this organization")
	}
	rep := first.reports[scopeKey{active.ID, ""}]
	// A service every account of its OU may use.
	var ns string
	for _, s := range rep.Services {
		all := true
		for _, a := range org.ChildAccounts(active.ParentID) {
			all = all && slices.ContainsFunc(first.reports[scopeKey{a, ""}].Services, func(x reportdoc.Service) bool { return x.Namespace == s.Namespace })
		}
		if all {
			ns = s.Namespace
			break
		}
	}
	if ns == "" {
		t.Fatal("no service every account of the OU may use")
	}
	// An access an hour after the first night, which the second night's
	// report of its OU shows.
	at := rep.AsOf().Add(time.Hour)
	if org.Activity[active.ID] == nil {
		org.Activity[active.ID] = map[string]orgmodel.Access{}
	}
	org.Activity[active.ID][ns] = orgmodel.Access{Time: at, Region: "eu-west-1"}

	_, kinds, paths := e.night(ctx, "n2", "")
	o := e.verify(ctx, "n2", expectScope(org, true, false), nil)
	want := map[string]string{}
	refreshed := map[string]bool{org.ManagementAccountID: true}
	for _, a := range org.ChildAccounts(active.ParentID) {
		refreshed[a] = true
	}
	for _, a := range org.Accounts {
		n, _ := org.Node(a.ID)
		if !refreshed[a.ID] {
			want[a.ID] = reportdoc.Unchanged
		} else if paths[n.Path] != 1 {
			t.Errorf("Got(%d jobs for %s, directly under the active account's OU); want 1", paths[n.Path], a.ID)
		}
	}
	if kinds[reportdoc.TypeAccount] != len(refreshed) {
		t.Errorf("Got(account jobs) = %d %v; want %d (the active account's OU and the management account)", kinds[reportdoc.TypeAccount], paths, len(refreshed))
	}
	checkCarried(t, o, want, "n1", nil)
	if r := o.reports[scopeKey{active.ID, ""}]; r.Carried != nil || !slices.ContainsFunc(r.Services, func(s reportdoc.Service) bool {
		return s.Namespace == ns && s.LastAuthenticated != nil && s.LastAuthenticated.Equal(at)
	}) {
		t.Errorf("Got(the active account's report) without its access to %s at %v; want it fresh with it", ns, at)
	}
}

// TestCarrySCPChangeAndMoveRefresh: an SCP attached to an OU refreshes the
// accounts below it (their SCPs changed), an account moved to another OU
// is refreshed, a new account gets its first report; the rest is carried.
func TestCarrySCPChangeAndMoveRefresh(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 16, Depth: 3, Seed: 7})
	e := newCarryEnv(t, org)
	ctx := testCtx(t)
	e.night(ctx, "n1", "")

	// The OU with the most accounts below it gets an SCP; an account
	// elsewhere moves to the root; a new account joins under the root.
	var target string
	for _, ou := range org.OUs {
		if target == "" || org.CountAccountsUnder(ou.ID) > org.CountAccountsUnder(target) {
			target = ou.ID
		}
	}
	under := map[string]bool{}
	for _, a := range org.AccountsUnder(target) {
		under[a] = true
	}
	var moved string
	for _, a := range org.Accounts {
		if !under[a.ID] && a.ID != org.ManagementAccountID && a.ParentID != org.Root.ID {
			moved = a.ID
			break
		}
	}
	if len(under) == 0 || moved == "" {
		t.Fatalf("organization has no OU with accounts (%s) or no account to move", target)
	}
	const newAccount = "123456789012"
	changed := cloneOrg(t, org, func(o *orgmodel.Org) {
		for i := range o.Accounts {
			if o.Accounts[i].ID == moved {
				o.Accounts[i].ParentID = o.Root.ID
			}
		}
		o.Accounts = append(o.Accounts, orgmodel.Account{ID: newAccount, Name: "newcomer", Email: "newcomer@example.com", ParentID: o.Root.ID, Joined: o.AsOf})
		o.Policies = append(o.Policies, orgmodel.Policy{ID: "p-denysagemaker1", Name: "DenySageMaker",
			Content: orgmodel.Document(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sagemaker:*","Resource":"*"}]}`)})
		o.Attachments[target] = append(o.Attachments[target], "p-denysagemaker1")
	})
	e.moveTo(ctx, changed)

	_, _, paths := e.night(ctx, "n2", "")
	o := e.verify(ctx, "n2", expectScope(changed, true, false), nil)
	want := map[string]string{}
	for _, a := range changed.Accounts {
		n, _ := changed.Node(a.ID)
		refresh := under[a.ID] || a.ID == moved || a.ID == newAccount || a.ID == changed.ManagementAccountID
		if !refresh {
			want[a.ID] = reportdoc.Unchanged
		} else if paths[n.Path] != 1 {
			t.Errorf("Got(%d jobs for %s); want 1 (under the OU with a new SCP %v, moved %v, new %v)", paths[n.Path], a.ID, under[a.ID], a.ID == moved, a.ID == newAccount)
		}
	}
	// Accounts directly under the root are refreshed only when the
	// root's report shows new access; it shows none here, and the moved
	// and new accounts are fresh by rule, not by that.
	checkCarried(t, o, want, "n1", nil)
}

// TestCarryBudgetLeavesStale: the night after an SCP change at the root
// (every account's SCPs changed) has too short a budget for every account:
// it ends on time, the root's and OUs' reports are fresh, the accounts that
// fitted are refreshed oldest report first, the rest carried stale as of
// their earlier reports, every entity once.
func TestCarryBudgetLeavesStale(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 40, Depth: 3, Seed: 19})
	e := newCarryEnv(t, org)
	e.p.tune.firstEstimate = 50 * time.Millisecond
	ctx := testCtx(t)
	e.night(ctx, "n1", "")
	first := e.outcome(ctx, "n1")

	changed := cloneOrg(t, org, func(o *orgmodel.Org) {
		o.Policies = append(o.Policies, orgmodel.Policy{ID: "p-denysagemaker1", Name: "DenySageMaker",
			Content: orgmodel.Document(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sagemaker:*","Resource":"*"}]}`)})
		o.Attachments[o.Root.ID] = append(o.Attachments[o.Root.ID], "p-denysagemaker1")
	})
	e.moveTo(ctx, changed)
	e.p.tune.firstEstimate = 50 * time.Millisecond

	const minutes = 0.04
	began := time.Now()
	st, _, _ := e.night(ctx, "n2", `,"maxRunMinutes":0.04`)
	took := time.Since(began)
	// The budget, the test driver's waits, and the copies of the stale
	// reports, made in the reserve the budget keeps for Store: a sixtieth,
	// 40 ms here (six minutes of a six-hour night), too little for them on
	// a loaded test machine.
	if budget, slack := time.Duration(minutes*float64(time.Minute)), time.Second; took > budget+slack {
		t.Errorf("Got(run took) %s; want at most the budget %s (+%s)", took, budget, slack)
	}
	o := e.outcome(ctx, "n2")
	want := map[string]string{}
	var fresh, stale []*reportdoc.EntityReport
	for k, r := range o.reports {
		if r.Entity.Type != reportdoc.TypeAccount {
			if r.Carried != nil || r.Job.Status != reportdoc.StatusCompleted {
				t.Errorf("Got(report of %s) carried %+v, %s; want the root's and OUs' fresh", k, r.Carried, r.Job.Status)
			}
			continue
		}
		if r.Carried != nil {
			want[k.id] = r.Carried.Freshness
			stale = append(stale, first.reports[k])
		} else if k.id != org.ManagementAccountID {
			fresh = append(fresh, first.reports[k])
		}
	}
	if len(stale) == 0 || len(fresh) == 0 || st.Failed != 0 {
		t.Fatalf("Got(%d accounts refreshed, %d stale, %d failed); want some of each of the first two and none failed", len(fresh), len(stale), st.Failed)
	}
	for _, f := range fresh {
		for _, s := range stale {
			if s.AsOf().Before(f.AsOf()) {
				t.Errorf("Got(%s refreshed, its report as of %v, while %s as of %v stays stale); want the oldest refreshed first", f.Entity.ID, f.AsOf(), s.Entity.ID, s.AsOf())
			}
		}
	}
	for id, f := range want {
		if f != reportdoc.Stale {
			t.Errorf("Got(%s carried %s); want stale: its SCPs changed", id, f)
		}
	}
	// The stale reports are the earlier ones; the fresh ones are IAM's
	// answers now: verify compares every report with the model, so give it
	// the earlier model for the stale ones.
	scope := expectScope(changed, true, false)
	staleScope := map[scopeKey]orgmodel.Node{}
	for k, n := range scope {
		model := changed
		if want[k.id] == reportdoc.Stale {
			staleScope[k] = n
			model = org
		}
		wantReport, err := model.AccessReport(n.Path, "")
		if err != nil {
			t.Fatal(err)
		}
		compareReport(t, k, o.reports[k], wantReport)
	}
	if len(o.summary.Reports) != len(scope) || o.summary.Status != reportdoc.RunSucceeded {
		t.Errorf("Got(summary) %d reports, %s; want %d, SUCCEEDED (stale reports are reports)", len(o.summary.Reports), o.summary.Status, len(scope))
	}
	checkCarried(t, o, want, "n1", first)
	checkDaysSince(t, e.env, ctx, "n2", o)
	checkOutcome(ctx, t, e.store, "n2")
	// findings.json and report.html say which reports are stale.
	var doc findings.Document
	if err := json.Unmarshal(e.read(ctx, reportdoc.FindingsKey("n2")), &doc); err != nil {
		t.Fatal(err)
	}
	line := strconv.Itoa(len(stale)) + " account reports are stale: carried from an earlier run without proof"
	if !slices.ContainsFunc(doc.Caveats, func(c string) bool { return strings.HasPrefix(c, line) }) {
		t.Errorf("Got(findings caveats) = %q; want one starting %q", doc.Caveats, line)
	}
	html := string(e.read(ctx, reportdoc.HTMLKey("n2")))
	if n := strings.Count(html, `["stale","`); n != len(stale) {
		t.Errorf("Got(%d rows of report.html marked stale); want %d", n, len(stale))
	}
	if head := "<b>" + strconv.Itoa(len(stale)) + "</b> stale"; !strings.Contains(html, head) {
		t.Errorf("Got(report.html header) without %q", head)
	}
}

// TestCarryDailyActivity: nights on an organization whose activity moves
// with the clock (some accounts active each day, bursts, publication up
// to four hours late). Every report of every night, carried or fresh,
// equals what IAM answers for the account that night, and nights after
// the first ask IAM for fewer account jobs than there are accounts.
func TestCarryDailyActivity(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 10, Accounts: 36, Depth: 3, Seed: 23, Daily: true})
	e := newCarryEnv(t, org)
	ctx := testCtx(t)
	_, accounts := org.EntityCount()
	carried := 0
	for night := 1; night <= 3; night++ {
		runID := "daily-" + strconv.Itoa(night)
		_, kinds, _ := e.night(ctx, runID, "")
		o := e.verify(ctx, runID, expectScope(org, true, false), nil)
		f := o.summary.Freshness
		t.Logf("night %d: account jobs %d of %d accounts; fresh %d, unchanged %d, stale %d", night, kinds[reportdoc.TypeAccount], accounts, f.Fresh, f.Unchanged, f.Stale)
		if night > 1 {
			if kinds[reportdoc.TypeAccount]+f.Unchanged != accounts || f.Stale != 0 {
				t.Errorf("Got(night %d: %d account jobs, %d unchanged, %d stale); want the %d accounts refreshed or carried unchanged", night, kinds[reportdoc.TypeAccount], f.Unchanged, f.Stale, accounts)
			}
			carried += f.Unchanged
		}
	}
	if carried == 0 {
		t.Errorf("Got(no account carried in two nights); want the idle ones carried")
	}
}

// TestCarryCheckInterruptedAndRetried: the night that carries, with its
// Checks cancelled mid-way or losing their storage (a crash: work since the
// last save is lost), run again until done: every account is still carried
// once, unchanged, every report once; and the finished run started again
// rewrites the same bytes.
func TestCarryCheckInterruptedAndRetried(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancelled", true: "storage lost"}[crash], func(t *testing.T) {
			t.Parallel()
			org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 24, Depth: 3, Seed: 5})
			e := newCarryEnv(t, org)
			ctx := testCtx(t)
			e.night(ctx, "n1", "")

			e.clock.Advance(24 * time.Hour)
			e.now = e.clock.Now().UTC().Truncate(time.Second)
			st := e.start(ctx, e.p, `{"includeAccounts":true}`, "n2")
			interrupted := 0
			for i := 0; i < 4; i++ {
				cctx, cancel := context.WithCancel(ctx)
				p := e.p
				if crash {
					faulty := &faultyStore{Store: e.store, prefix: "runs/n2/manifest.json", after: 1 + i}
					p = New(e.cfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: faulty, Now: e.p.now, Logger: e.p.log})
					p.tune = e.p.tune
				} else {
					time.AfterFunc(time.Duration(60+40*i)*time.Millisecond, cancel)
				}
				if _, err := p.Check(cctx, st); err != nil {
					interrupted++
				}
				cancel()
			}
			if interrupted == 0 {
				t.Fatalf("no Check was interrupted; the test proves nothing")
			}
			m, err := manifest.Load(ctx, e.store, "n2")
			if err != nil {
				t.Fatal(err)
			}
			decided, stored := 0, 0
			for _, ent := range m.Entities {
				if ent.Freshness != "" {
					decided++
					if ent.State == manifest.StateStored {
						stored++
					}
				}
			}
			t.Logf("after the interrupted Checks: %d accounts decided unchanged, %d of them stored", decided, stored)
			if decided == 0 {
				t.Errorf("Got(no carry decided before the interruptions ended); want the interruptions to reach the carry")
			}
			e.drive(ctx, e.p, st)
			o := e.verify(ctx, "n2", expectScope(org, true, false), nil)
			want := map[string]string{}
			for _, a := range org.Accounts {
				if a.ID != org.ManagementAccountID {
					want[a.ID] = reportdoc.Unchanged
				}
			}
			checkCarried(t, o, want, "n1", nil)
			if j := o.summary.Jobs; j.Accounts != 1 {
				t.Errorf("Got(summary jobs) = %+v; want the management account's job only among accounts", j)
			}

			before := e.snapshot(ctx)
			e.run(ctx, `{"includeAccounts":true}`, "n2")
			after := e.snapshot(ctx)
			for k, b := range before {
				if strings.HasPrefix(k, "runs/n2/") && string(after[k]) != string(b) {
					t.Errorf("Got(%s) changed when the finished run was started again; want the same bytes", k)
				}
			}
		})
	}
}
