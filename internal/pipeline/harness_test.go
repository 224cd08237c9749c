package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orgaudit/orgaudit/internal/athena"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

const testBucket = "audit"

// env is a simulator on a loopback port with a pipeline wired to it
// through real SDK clients.
type env struct {
	t     testing.TB
	org   *orgmodel.Org
	sim   *sim.Simulator
	url   string
	cfg   config.Config
	store objstore.Store
	p     *Pipeline
	now   time.Time
	// httpClient, when set before pipeline is called, carries the
	// pipeline's requests (a test that watches the wire).
	httpClient aws.HTTPClient
}

type envOptions struct {
	org    *orgmodel.Org
	sim    func(*sim.Options)
	config func(*config.Config)
}

func genOrg(t testing.TB, opts orgmodel.GenerateOptions) *orgmodel.Org {
	t.Helper()
	org, err := orgmodel.Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return org
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	org := o.org
	if org == nil {
		org = genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	}
	so := sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.01}, Buckets: []string{testBucket}, Seed: 1}
	if o.sim != nil {
		o.sim(&so)
	}
	s, err := sim.New(so)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.Bucket = testBucket
	cfg.StepBudget = 3 * time.Second
	if o.config != nil {
		o.config(&cfg)
	}
	e := &env{t: t, org: org, sim: s, url: srv.URL, cfg: cfg, now: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}
	e.p, e.store = e.pipeline(cfg, "test", "test")
	return e
}

// pipeline builds a pipeline the way the functions do, from an AWS
// configuration pointing at the simulator.
func (e *env) pipeline(cfg config.Config, akid, secret string) (*Pipeline, objstore.Store) {
	awsCfg := aws.Config{
		Region:       "us-west-2", // the clients must move Organizations and IAM to us-east-1 themselves
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String(e.url),
		HTTPClient:   e.httpClient,
	}
	orgs, iamc, s3c := config.NewClients(context.Background(), awsCfg, cfg)
	store := objstore.NewS3(s3c, cfg.Bucket, cfg.Prefix)
	level := slog.LevelWarn
	if os.Getenv("ORGAUDIT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	p := New(cfg, Deps{Orgs: orgs, IAM: iamc, Store: store, Now: func() time.Time { return e.now },
		Logger: slog.New(slog.NewJSONHandler(testWriter{e.t}, &slog.HandlerOptions{Level: level}))})
	p.tune.saveEvery = 50 * time.Millisecond
	return p, store
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// drive runs the steps after Start as the state machine does until Store
// says done, waiting waitSeconds scaled down to milliseconds.
func (e *env) drive(ctx context.Context, p *Pipeline, st State) State {
	e.t.Helper()
	var err error
	for i := 0; !st.Done; i++ {
		if i > 5000 {
			e.t.Fatalf("run %s not done after %d iterations: %+v", st.RunID, i, st)
		}
		if st.WaitSeconds < 0 {
			e.t.Fatalf("Got(waitSeconds) = %d; want >= 0", st.WaitSeconds)
		}
		time.Sleep(time.Duration(st.WaitSeconds) * 10 * time.Millisecond)
		if st, err = retryStep(ctx, p.Check, st); err != nil {
			e.t.Fatalf("Check: %v", err)
		}
		if st, err = retryStep(ctx, p.Store, st); err != nil {
			e.t.Fatalf("Store: %v", err)
		}
	}
	return st
}

// retryStep runs a step as the state machine does: a StepFailed is tried
// twice more (a step resumes from the manifest, so a repeat is safe).
func retryStep(ctx context.Context, step func(context.Context, State) (State, error), st State) (State, error) {
	for attempt := 0; ; attempt++ {
		out, err := step(ctx, st)
		var sf *StepFailed
		if err == nil || attempt == 2 || !errors.As(err, &sf) || ctx.Err() != nil {
			return out, err
		}
	}
}

// run starts a run with input and drives it to the end.
func (e *env) run(ctx context.Context, input, execName string) State {
	e.t.Helper()
	st := e.start(ctx, e.p, input, execName)
	return e.drive(ctx, e.p, st)
}

// start calls Start, and again while the walk goes on, as the state
// machine's Walk loop does.
func (e *env) start(ctx context.Context, p *Pipeline, input, execName string) State {
	e.t.Helper()
	for i := 0; ; i++ {
		st, err := p.Start(ctx, StartEvent{ExecutionName: execName, Input: json.RawMessage(input)})
		if err != nil {
			e.t.Fatalf("Start(%s): %v", input, err)
		}
		checkState(e.t, st)
		if !st.Walking {
			return st
		}
		if i > 1000 {
			e.t.Fatalf("walk of run %s not done after %d Starts: %+v", st.RunID, i, st)
		}
	}
}

func checkState(t testing.TB, st State) {
	t.Helper()
	if st.RunID == "" || st.ManifestKey != reportdoc.ManifestKey(st.RunID) {
		t.Errorf("Got(state) = %+v; want runId and its manifest key", st)
	}
	if sum := st.Completed + st.Failed + st.Running + st.Queued; sum > st.Total {
		t.Errorf("Got(state counters) = %+v; their sum %d exceeds total", st, sum)
	}
	b, _ := json.Marshal(st)
	if len(b) > 1024 {
		t.Errorf("Got(state size) = %d bytes; want a small payload", len(b))
	}
}

// scopeKey names one report of a run.
type scopeKey struct{ id, policy string }

func (k scopeKey) String() string {
	if k.policy == "" {
		return k.id
	}
	return k.id + "." + k.policy
}

// expectScope computes from the model which reports a whole-organization
// run must produce.
func expectScope(org *orgmodel.Org, accounts, policies bool) map[scopeKey]orgmodel.Node {
	out := map[scopeKey]orgmodel.Node{}
	var walk func(id string)
	walk = func(id string) {
		n, _ := org.Node(id)
		if n.Type != orgmodel.TypeAccount || accounts {
			out[scopeKey{id, ""}] = n
			if policies && id != org.ManagementAccountID {
				for _, p := range org.PoliciesFor(id) {
					out[scopeKey{id, p}] = n
				}
			}
		}
		for _, c := range org.ChildOUs(id) {
			walk(c)
		}
		for _, a := range org.ChildAccounts(id) {
			walk(a)
		}
	}
	walk(org.Root.ID)
	return out
}

// outcome is what a finished run left in the store.
type outcome struct {
	summary  reportdoc.Summary
	reports  map[scopeKey]*reportdoc.EntityReport
	rows     map[string]int // run|entity|policy|service -> count
	rowCount int
	manifest *manifest.Manifest
}

func (e *env) read(ctx context.Context, key string) []byte {
	e.t.Helper()
	b, err := e.store.Get(ctx, key)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", key, err)
	}
	return b
}

func (e *env) outcome(ctx context.Context, runID string) *outcome {
	e.t.Helper()
	o := &outcome{reports: map[scopeKey]*reportdoc.EntityReport{}, rows: map[string]int{}}
	if err := json.Unmarshal(e.read(ctx, reportdoc.SummaryKey(runID)), &o.summary); err != nil {
		e.t.Fatalf("summary: %v", err)
	}
	keys, err := e.store.List(ctx, reportdoc.RunDir(runID)+"reports/")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range keys {
		var r reportdoc.EntityReport
		if err := json.Unmarshal(e.read(ctx, k), &r); err != nil {
			e.t.Fatalf("%s: %v", k, err)
		}
		pol := ""
		if r.PolicyID != nil {
			pol = *r.PolicyID
		}
		sk := scopeKey{r.Entity.ID, pol}
		if want := reportdoc.ReportKey(runID, r.Entity.ID, pol); k != want {
			e.t.Errorf("Got(report at %s) for %s; want it at %s", k, sk, want)
		}
		o.reports[sk] = &r
	}
	m, err := manifest.Load(ctx, e.store, runID)
	if err != nil {
		e.t.Fatal(err)
	}
	o.manifest = m
	parts, err := e.store.List(ctx, athena.PartPrefix(m.StartedAt.Time, runID))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range parts {
		zr, err := gzip.NewReader(bytes.NewReader(e.read(ctx, k)))
		if err != nil {
			e.t.Fatalf("%s: %v", k, err)
		}
		dec := json.NewDecoder(zr)
		for {
			var row map[string]any
			if err := dec.Decode(&row); err == io.EOF {
				break
			} else if err != nil {
				e.t.Fatalf("%s: %v", k, err)
			}
			pol, _ := row["policy_id"].(string)
			o.rows[fmt.Sprintf("%v|%v|%s|%v", row["run_id"], row["entity_id"], pol, row["service_namespace"])]++
			o.rowCount++
		}
	}
	return o
}

// verify checks a finished run against the model: every report in scope
// once, each equal to the model's answer, Athena rows exactly once per
// (report, service), a consistent summary; then checkOutcome.
func (e *env) verify(ctx context.Context, runID string, scope map[scopeKey]orgmodel.Node, failed map[scopeKey]string) *outcome {
	e.t.Helper()
	o := e.outcome(ctx, runID)
	if len(o.reports) != len(scope) {
		e.t.Errorf("Got(report files) = %d; want %d", len(o.reports), len(scope))
	}
	wantRows := 0
	for k, n := range scope {
		r, ok := o.reports[k]
		if !ok {
			e.t.Errorf("Got(no report for %s); want one", k)
			continue
		}
		if r.RunID != runID || r.OrganizationID != e.org.ID || r.SchemaVersion != 1 {
			e.t.Errorf("Got(report %s header) = %q %q %d; want %q %q 1", k, r.RunID, r.OrganizationID, r.SchemaVersion, runID, e.org.ID)
		}
		if r.Entity.Path != n.Path || r.Entity.Type != n.Type || r.Entity.Name != n.Name {
			e.t.Errorf("Got(report %s entity) = %+v; want %+v", k, r.Entity, n)
		}
		if code, bad := failed[k]; bad {
			if r.Job.Status != reportdoc.StatusFailed || r.Job.Error == nil || r.Job.Error.Code != code || len(r.Services) != 0 {
				e.t.Errorf("Got(report %s job) = %+v; want FAILED with code %s and no services", k, r.Job, code)
			}
			continue
		}
		if r.Job.Status != reportdoc.StatusCompleted || r.Job.Error != nil || r.Job.ID == "" || r.Job.CompletedAt == nil || r.Job.CreatedAt == nil {
			e.t.Errorf("Got(report %s job) = %+v; want COMPLETED with id and dates", k, r.Job)
		}
		want, err := e.org.AccessReport(n.Path, k.policy)
		if err != nil {
			e.t.Fatalf("model AccessReport(%s, %s): %v", n.Path, k.policy, err)
		}
		compareReport(e.t, k, r, want)
		wantRows += len(want.Services)
	}
	for k := range o.reports {
		if _, ok := scope[k]; !ok {
			e.t.Errorf("Got(report for %s); want none (not in scope)", k)
		}
	}
	// Athena rows: exactly once per (report, service).
	if o.rowCount != wantRows || len(o.rows) != wantRows {
		e.t.Errorf("Got(access rows) = %d (%d distinct); want %d", o.rowCount, len(o.rows), wantRows)
	}
	for k, n := range o.rows {
		if n != 1 {
			e.t.Errorf("Got(access row %s) %d times; want once", k, n)
		}
	}
	// Summary: every entity once, counts and status consistent.
	s := o.summary
	seen := map[scopeKey]bool{}
	for _, rep := range s.Reports {
		pol := ""
		if rep.PolicyID != nil {
			pol = *rep.PolicyID
		}
		k := scopeKey{rep.EntityID, pol}
		if seen[k] {
			e.t.Errorf("Got(summary lists %s twice); want once", k)
		}
		seen[k] = true
		wantStatus := reportdoc.StatusCompleted
		if _, bad := failed[k]; bad {
			wantStatus = reportdoc.StatusFailed
		}
		if rep.Status != wantStatus || rep.Key != reportdoc.ReportKey(runID, rep.EntityID, pol) {
			e.t.Errorf("Got(summary report %s) = %s at %s; want %s", k, rep.Status, rep.Key, wantStatus)
		}
		if r := o.reports[k]; r != nil && wantStatus == reportdoc.StatusCompleted {
			if rep.ServicesAccessible != r.NumberOfServicesAccessible || rep.ServicesNotAccessed != r.NumberOfServicesNotAccessed {
				e.t.Errorf("Got(summary counts %s) = %d/%d; want %d/%d", k, rep.ServicesAccessible, rep.ServicesNotAccessed, r.NumberOfServicesAccessible, r.NumberOfServicesNotAccessed)
			}
			if unused := len(r.UnusedServices(o.manifest.Settings.UnusedDays, r.AsOf())); rep.UnusedServices != unused {
				e.t.Errorf("Got(summary unused %s) = %d; want %d", k, rep.UnusedServices, unused)
			}
		}
	}
	if len(s.Reports) != len(scope) {
		e.t.Errorf("Got(summary reports) = %d; want %d", len(s.Reports), len(scope))
	}
	wantStatus := reportdoc.RunSucceeded
	switch {
	case len(failed) == len(scope):
		wantStatus = reportdoc.RunFailed
	case len(failed) > 0:
		wantStatus = reportdoc.RunPartial
	}
	if s.Status != wantStatus || s.Entities.Total != len(scope) || s.Entities.Failed != len(failed) || s.Entities.Succeeded != len(scope)-len(failed) || len(s.Errors) != len(failed) {
		e.t.Errorf("Got(summary) = %s %+v with %d errors; want %s, %d total, %d failed", s.Status, s.Entities, len(s.Errors), wantStatus, len(scope), len(failed))
	}
	for _, er := range s.Errors {
		pol := ""
		if er.PolicyID != nil {
			pol = *er.PolicyID
		}
		if code, ok := failed[scopeKey{er.EntityID, pol}]; !ok || er.Code != code || er.Message == "" {
			e.t.Errorf("Got(summary error) = %+v; want one of the failed entities with its code", er)
		}
	}
	if s.StartedAt == nil || s.CompletedAt == nil || !s.StartedAt.Equal(e.now) {
		e.t.Errorf("Got(summary times) = %v %v; want both, startedAt %v", s.StartedAt, s.CompletedAt, e.now)
	}
	// The other documents exist.
	for _, k := range []string{reportdoc.FindingsKey(runID), reportdoc.HTMLKey(runID)} {
		if b := e.read(ctx, k); len(b) == 0 {
			e.t.Errorf("Got(%s) empty; want a document", k)
		}
	}
	if !o.manifest.Finished() {
		e.t.Errorf("Got(manifest not finished); want every entity stored")
	}
	// And what every row of the fault matrix promises, model or not.
	checkOutcome(ctx, e.t, e.store, runID)
	return o
}

func compareReport(t testing.TB, k scopeKey, got *reportdoc.EntityReport, want *orgmodel.Report) {
	t.Helper()
	if got.NumberOfServicesAccessible != want.Accessible || got.NumberOfServicesNotAccessed != want.NotAccessed {
		t.Errorf("Got(report %s counts) = %d/%d; want %d/%d", k, got.NumberOfServicesAccessible, got.NumberOfServicesNotAccessed, want.Accessible, want.NotAccessed)
	}
	if len(got.Services) != len(want.Services) {
		t.Errorf("Got(report %s services) = %d; want %d", k, len(got.Services), len(want.Services))
		return
	}
	if !sort.SliceIsSorted(got.Services, func(i, j int) bool { return got.Services[i].Namespace < got.Services[j].Namespace }) {
		t.Errorf("Got(report %s services) not sorted by namespace", k)
	}
	for i, w := range want.Services {
		g := got.Services[i]
		gotLast := time.Time{}
		if g.LastAuthenticated != nil {
			gotLast = g.LastAuthenticated.Time
		}
		if g.Namespace != w.Namespace || g.Name != w.Name || !gotLast.Equal(w.LastAuthenticated.Truncate(time.Second)) ||
			deref(g.Region) != w.Region || deref(g.EntityPath) != w.EntityPath || g.TotalAuthenticatedEntities != w.TotalAuthenticatedEntities {
			t.Errorf("Got(report %s service %d) = %s %q %v %q %q %d; want %s %q %v %q %q %d", k, i,
				g.Namespace, g.Name, gotLast, deref(g.Region), deref(g.EntityPath), g.TotalAuthenticatedEntities,
				w.Namespace, w.Name, w.LastAuthenticated, w.Region, w.EntityPath, w.TotalAuthenticatedEntities)
			return
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
