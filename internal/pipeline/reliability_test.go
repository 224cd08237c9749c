package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/athena"
	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// checkOutcome checks what every row of the fault matrix
// (docs/reliability.md) promises of a run as stored, knowing nothing of the
// organization, so it also holds for runs that FAILED part-way: every
// entity of the manifest is listed once in the summary; a COMPLETED one has
// its report file at its documented key, a FAILED one an error with a code
// (and, if its file was written, a FAILED report with that code); no report
// file belongs to no entity; every stored JSON document parses; every
// Athena part decompresses, each line parses, and each completed report has
// exactly one row per service, a failed one none; the summary's counts and
// status agree with its lines.
func checkOutcome(ctx context.Context, t testing.TB, store objstore.Store, runID string) reportdoc.Summary {
	t.Helper()
	get := func(key string) []byte {
		t.Helper()
		b, err := store.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%s): %v", key, err)
		}
		return b
	}
	keys, err := store.List(ctx, reportdoc.RunDir(runID))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{} // report files not yet matched to an entity
	for _, k := range keys {
		if strings.HasSuffix(k, ".json") && !json.Valid(get(k)) {
			t.Errorf("Got(%s) not a whole JSON document; want every stored document complete", k)
		}
		if strings.HasPrefix(k, reportdoc.RunDir(runID)+"reports/") {
			files[k] = true
		}
	}
	var sum reportdoc.Summary
	if err := json.Unmarshal(get(reportdoc.SummaryKey(runID)), &sum); err != nil {
		t.Fatalf("summary of %s: %v", runID, err)
	}
	m, err := manifest.Load(ctx, store, runID)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, l := range sum.Reports {
		lines[l.Key]++
	}
	for i := range m.Entities {
		if k := m.Entities[i].ReportKey(runID); lines[k] != 1 {
			t.Errorf("Got(summary lines for %s) = %d; want 1", m.Entities[i].Label(), lines[k])
		}
	}
	if len(sum.Reports) != len(m.Entities) {
		t.Errorf("Got(summary lines) = %d; want the manifest's %d entities", len(sum.Reports), len(m.Entities))
	}
	errs := map[string]reportdoc.SummaryError{}
	for _, er := range sum.Errors {
		errs[reportdoc.ReportKey(runID, er.EntityID, deref(er.PolicyID))] = er
	}
	services := map[string]int{} // report key of a COMPLETED report -> its services
	failed := 0
	for _, l := range sum.Reports {
		if want := reportdoc.ReportKey(runID, l.EntityID, deref(l.PolicyID)); l.Key != want {
			t.Errorf("Got(summary key of %s) = %s; want %s", l.EntityID, l.Key, want)
		}
		var r *reportdoc.EntityReport
		if files[l.Key] {
			r = &reportdoc.EntityReport{}
			if err := json.Unmarshal(get(l.Key), r); err != nil {
				t.Errorf("%s: %v", l.Key, err)
				r = nil
			} else if r.RunID != runID || r.Entity.ID != l.EntityID || deref(r.PolicyID) != deref(l.PolicyID) {
				t.Errorf("Got(%s) = report of %s %s in run %s; want %s %s in %s", l.Key, r.Entity.ID, deref(r.PolicyID), r.RunID, l.EntityID, deref(l.PolicyID), runID)
			}
			delete(files, l.Key)
		}
		switch l.Status {
		case reportdoc.StatusCompleted:
			if r == nil {
				t.Errorf("Got(no report file for COMPLETED %s); want one at %s", l.EntityID, l.Key)
				continue
			}
			if r.Job.Status != reportdoc.StatusCompleted || r.Job.Error != nil {
				t.Errorf("Got(%s job) = %s %+v; want COMPLETED without error, as the summary says", l.Key, r.Job.Status, r.Job.Error)
			}
			services[l.Key] = len(r.Services)
		case reportdoc.StatusFailed:
			failed++
			er, ok := errs[l.Key]
			if !ok || er.Code == "" || er.Message == "" {
				t.Errorf("Got(summary error for FAILED %s) = %+v (listed: %v); want one with a code and a message", l.Key, er, ok)
			}
			if r != nil && (r.Job.Status != reportdoc.StatusFailed || r.Job.Error == nil || r.Job.Error.Code != er.Code || len(r.Services) != 0) {
				t.Errorf("Got(%s job) = %s %+v with %d services; want FAILED with code %q, no services", l.Key, r.Job.Status, r.Job.Error, len(r.Services), er.Code)
			}
		default:
			t.Errorf("Got(summary status of %s) = %q; want COMPLETED or FAILED", l.Key, l.Status)
		}
	}
	for k := range files {
		t.Errorf("Got(report file %s) of no entity in the summary; want none", k)
	}
	if len(sum.Errors) != failed {
		t.Errorf("Got(summary errors) = %d; want %d, one per FAILED line", len(sum.Errors), failed)
	}
	total := len(sum.Reports)
	if want := (reportdoc.SummaryEntities{Total: total, Succeeded: total - failed, Failed: failed}); sum.Entities != want {
		t.Errorf("Got(summary entities) = %+v; want %+v", sum.Entities, want)
	}
	runFailed := m.RunError != nil
	honest := map[string]bool{
		reportdoc.RunSucceeded: failed == 0 && !runFailed,
		reportdoc.RunPartial:   failed > 0 && failed < total && !runFailed,
		reportdoc.RunFailed:    runFailed || (total > 0 && failed == total),
	}
	if !honest[sum.Status] {
		t.Errorf("Got(summary status) = %s with %d of %d failed, run error %v; want the status those say", sum.Status, failed, total, m.RunError)
	}
	// Athena rows.
	parts, err := store.List(ctx, athena.PartPrefix(m.StartedAt.Time, runID))
	if err != nil {
		t.Fatal(err)
	}
	rows, seen := map[string]int{}, map[string]bool{}
	for _, k := range parts {
		zr, err := gzip.NewReader(bytes.NewReader(get(k)))
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		br := bufio.NewReader(zr)
		for n := 1; ; n++ {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				var row athena.Row
				if jerr := json.Unmarshal(line, &row); jerr != nil {
					t.Errorf("%s line %d: %v", k, n, jerr)
				} else {
					key := reportdoc.ReportKey(row.RunID, row.EntityID, deref(row.PolicyID))
					if seen[key+"|"+row.ServiceNamespace] {
						t.Errorf("Got(row %s %s) twice; want once", key, row.ServiceNamespace)
					}
					seen[key+"|"+row.ServiceNamespace] = true
					rows[key]++
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", k, err)
				break
			}
		}
	}
	for k, n := range services {
		if rows[k] != n {
			t.Errorf("Got(access rows of %s) = %d; want %d, one per service", k, rows[k], n)
		}
	}
	for k, n := range rows {
		if _, ok := services[k]; !ok {
			t.Errorf("Got(%d access rows of %s); want none: not a COMPLETED report of the run", n, k)
		}
	}
	return sum
}

// execute runs the steps after Start as the state machine does, retries
// and failure path included: a step failing with StepFailed is tried twice
// more (the definition's retrier), then the Catch hands the failing step's
// input and error to RecordFailure (Store with the error). It returns the
// last State and the number of step failures.
func (e *env) execute(ctx context.Context, p *Pipeline, st State) (State, int) {
	e.t.Helper()
	failures := 0
	step := func(name string, fn func(context.Context, State) (State, error), in State) (State, error) {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			var out State
			if out, err = fn(ctx, in); err == nil {
				return out, nil
			}
			failures++
			var sf *StepFailed
			if !errors.As(err, &sf) {
				e.t.Fatalf("%s: %T %v; want nil or a *StepFailed", name, err, err)
			}
		}
		return State{}, err
	}
	for i := 0; !st.Done; i++ {
		if i > 5000 {
			e.t.Fatalf("run %s not done after %d iterations: %+v", st.RunID, i, st)
		}
		time.Sleep(time.Duration(st.WaitSeconds) * 10 * time.Millisecond)
		in := st
		next, err := step("Check", p.Check, in)
		if err == nil {
			in = next
			next, err = step("Store", p.Store, in)
		}
		if err != nil {
			in.Error = &StepError{Error: "StepFailed", Cause: err.Error()}
			out, err := p.Store(ctx, in)
			if err != nil || !out.Done {
				e.t.Fatalf("RecordFailure = %+v, %v; want done", out, err)
			}
			return out, failures
		}
		st = next
	}
	return st, failures
}

// TestIAMThrottlingStorm: IAM allows two calls a second, far fewer than
// the run makes; nearly every poll and read is throttled at first. The run
// rides it out: every report, none twice, no job started twice, and every
// throttled answer counted in the State.
func TestIAMThrottlingStorm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.IAMTPS = 2 }})
	// Jobs take a hundredth of IAM's time here; the waits that follow
	// throttling (up to 2 s between polls, 20 s between retries) shrink
	// by ten, so the storm is the same in calls and shorter in seconds.
	e.p.tune.pollCap /= 10
	e.p.reports.Backoff = backoff.Policy{Base: backoff.Default.Base / 10, Cap: backoff.Default.Cap / 10}
	ctx := testCtx(t)
	st := e.run(ctx, `{}`, "iam-storm")
	scope := expectScope(e.org, false, false)
	e.verify(ctx, "iam-storm", scope, nil)
	throttled := e.sim.Faults().Throttled["iam"]
	t.Logf("storm: %d throttled, state %d", throttled, st.Throttled)
	if throttled < len(scope) {
		t.Errorf("Got(IAM throttling answers) = %d; want a storm, at least one per entity (%d)", throttled, len(scope))
	}
	if st.Throttled < throttled {
		t.Errorf("Got(State.throttled) = %d; want every one of the %d throttling answers counted", st.Throttled, throttled)
	}
	if jobs := e.sim.IAM().Stats().JobsCreated; jobs != len(scope) {
		t.Errorf("Got(jobs created) = %d; want %d, one per report", jobs, len(scope))
	}
}

// TestOrganizationsThrottlingStorm: Organizations throttles Start's walk
// (four list calls in flight against a rate of three a second); the walk
// retries until it has the whole tree, so the scope is exactly the
// organization's, accounts and attached SCPs included.
func TestOrganizationsThrottlingStorm(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 4, Accounts: 6, Depth: 2, Seed: 11})
	e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) { o.OrgTPS = 3 }})
	ctx := testCtx(t)
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "org-storm", Input: json.RawMessage(`{"includeAccounts":true,"includePolicies":true}`)})
	if err != nil {
		t.Fatalf("Start under Organizations throttling: %v", err)
	}
	throttled := e.sim.Faults().Throttled["organizations"]
	if throttled == 0 || st.Throttled < throttled {
		t.Errorf("Got(throttling answers, State.throttled after Start) = %d, %d; want some, all counted", throttled, st.Throttled)
	}
	e.drive(ctx, e.p, st)
	e.verify(ctx, "org-storm", expectScope(org, true, true), nil)
}

// TestInjectedFaults: 5xx answers and connection resets (before the
// service acted, or after it did and the answer was lost) on every
// service, S3 included; each run ends with every report exactly once, and
// no job is started twice: a Generate repeated after a lost answer gets
// IAM's job back.
func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		errRate, rstRate float64
	}{
		{"5xx", 0.08, 0},
		{"resets", 0, 0.08},
		{"5xx and resets", 0.05, 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{sim: func(o *sim.Options) { o.ErrorRate, o.ResetRate, o.Seed = tt.errRate, tt.rstRate, 5 }})
			ctx := testCtx(t)
			e.run(ctx, `{"includeAccounts":true}`, "faults")
			scope := expectScope(e.org, true, false)
			e.verify(ctx, "faults", scope, nil)
			f := e.sim.Faults()
			if (tt.errRate > 0) != (f.Errors > 0) || (tt.rstRate > 0) != (f.LostAnswers > 0 && f.Resets > f.LostAnswers) {
				t.Errorf("Got(Faults) = %+v; want 5xx: %v, resets before and after the service acted: %v", f, tt.errRate > 0, tt.rstRate > 0)
			}
			if jobs := e.sim.IAM().Stats().JobsCreated; jobs != len(scope) {
				t.Errorf("Got(jobs created) = %d; want %d, one per report", jobs, len(scope))
			}
		})
	}
}

// TestConsoleReportsHoldTheSlot: someone runs access reports on accounts
// from the IAM console while the nightly run goes on, in bursts that take
// the account's only job slot back to back: a storm of 409s for the run.
// The run waits its turn with backoff; every report arrives, no job of the
// run is started twice, and every 409 it met is counted.
func TestConsoleReportsHoldTheSlot(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 80, Depth: 3, Seed: 7})
	e := newEnv(t, envOptions{org: org})
	e.p.tune.backoff = backoff.Policy{Base: backoff.Default.Base / 10, Cap: backoff.Default.Cap / 10}
	ctx := testCtx(t)

	// The console user is another principal of the management account.
	consoleCfg := e.cfg
	consoleCfg.ReportRoleARN = "arn:aws:iam::" + org.ManagementAccountID + ":role/SecurityAuditor"
	consoleCfg.ReportRoleSession = "console-user"
	console, _ := e.pipeline(consoleCfg, "test", "test")
	stormCtx, stopStorm := context.WithCancel(ctx)
	stormDone := make(chan int)
	go func() {
		jobs := 0
		defer func() { stormDone <- jobs }()
		// Distinct accounts, so IAM never hands back a finished job for
		// a repeated request and every burst holds the slot anew.
		for i := 0; i < len(org.Accounts) && stormCtx.Err() == nil; i++ {
			n, _ := org.Node(org.Accounts[i].ID)
			id, err := console.reports.Generate(stormCtx, n.Path, "")
			if err != nil {
				// The run holds the slot: the console user tries again.
				time.Sleep(5 * time.Millisecond)
				i--
				continue
			}
			jobs++
			for stormCtx.Err() == nil {
				st, err := console.reports.Poll(stormCtx, id)
				if err == nil && st.Status != accessreport.StatusInProgress {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			if i%4 == 3 {
				time.Sleep(60 * time.Millisecond) // between bursts of four
			}
		}
	}()
	st := e.run(ctx, `{}`, "console-storm")
	stopStorm()
	consoleJobs := <-stormDone

	scope := expectScope(org, false, false)
	o := e.verify(ctx, "console-storm", scope, nil)
	for _, ent := range o.manifest.Entities {
		if ent.Attempts != 1 {
			t.Errorf("Got(attempts for %s) = %d; want 1: a 409 starts nothing", ent.ID, ent.Attempts)
		}
	}
	limited := e.sim.IAM().Stats().LimitExceeded
	t.Logf("console jobs %d, 409 answers %d, run's throttled count %d", consoleJobs, limited, st.Throttled)
	if consoleJobs < 4 || st.Throttled == 0 {
		t.Errorf("Got(console jobs, 409s counted by the run) = %d, %d; want a storm: some of each", consoleJobs, st.Throttled)
	}
}

// credentialCatcher passes requests on and remembers every credential STS
// issued in its AssumeRole answers, so a test knows what must never be
// logged.
type credentialCatcher struct {
	mu      sync.Mutex
	secrets []string
}

var stsSecretRE = regexp.MustCompile(`<(AccessKeyId|SecretAccessKey|SessionToken)>([^<]+)</`)

func (c *credentialCatcher) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte("<AssumeRoleResult>")) {
		c.mu.Lock()
		for _, m := range stsSecretRE.FindAllSubmatch(body, -1) {
			c.secrets = append(c.secrets, string(m[2]))
		}
		c.mu.Unlock()
	}
	return resp, nil
}

// lockedBuffer is a log destination shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsCarryNoCredentials runs the pipeline at debug level through the
// report role, with injected 5xx and resets and a failing job,
// so that every log line the steps can write (warnings and errors with AWS
// error text included) is written; none carries the caller's keys or the
// session credentials STS issued for the role.
func TestLogsCarryNoCredentials(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	const akid, secret = "AKIAORGAUDITLOGSCAN1", "orgaudit/log/scan/Secret+Key/0123456789abcd"
	e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) {
		o.Credentials = []sim.Credential{{AccessKeyID: akid, SecretAccessKey: secret, ARN: "arn:aws:iam::" + org.ManagementAccountID + ":user/auditor"}}
		o.ErrorRate, o.ResetRate, o.Seed = 0.1, 0.05, 3
		o.IAM.FailEntities = []string{org.OUs[1].ID}
	}})
	catcher := &credentialCatcher{}
	e.httpClient = catcher
	cfg := e.cfg
	cfg.ReportRoleARN = "arn:aws:iam::" + org.ManagementAccountID + ":role/OrgAuditReport"
	e.p, e.store = e.pipeline(cfg, akid, secret)
	var logs lockedBuffer
	e.p.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p.walker.Logger = e.p.log
	ctx := testCtx(t)
	e.run(ctx, `{"includeAccounts":true}`, "log-scan")
	e.verify(ctx, "log-scan", expectScope(org, true, false), map[scopeKey]string{{org.OUs[1].ID, ""}: "ServiceFailure"})

	catcher.mu.Lock()
	secrets := append([]string{akid, secret}, catcher.secrets...)
	catcher.mu.Unlock()
	if len(secrets) < 5 {
		t.Fatalf("Got(%d credentials to look for); want the caller's two and at least one issued set of three", len(secrets))
	}
	text := logs.String()
	lines := strings.Count(text, "\n")
	warnings := strings.Count(text, `"level":"WARN"`)
	if lines < 60 || warnings == 0 || !strings.Contains(text, `"run_id":"log-scan"`) {
		t.Fatalf("Got(%d log lines, %d warnings, run id present: %v); want a full run's logs with warnings to scan", lines, warnings, strings.Contains(text, "log-scan"))
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("Got(a log line carrying a credential %.6s…); want none", s)
		}
	}
	for _, marker := range []string{"X-Amz-Security-Token", "AWS4-HMAC-SHA256", "Credential=", "Signature=", "SecretAccessKey", "SessionToken"} {
		if strings.Contains(text, marker) {
			t.Errorf("Got(a log line with %q); want no signing material in logs", marker)
		}
	}
	t.Logf("scanned %d log lines (%d warnings) for %d credentials", lines, warnings, len(secrets))
}

// TestStuckJobAmongOthers: one OU's report job never leaves IN_PROGRESS.
// Past the job time limit it is started again once (IAM hands back the
// same job within a minute), then recorded as JobTimedOut, and the run
// goes on to its end. Where IAM allows a second job, every other entity
// gets its report (PARTIAL). Where the stuck job holds IAM's only slot,
// the entities after it cannot start; once the limit has refused them
// for longer than a job may take they are recorded as
// ReportGenerationLimitExceeded rather than waited for forever.
func TestStuckJobAmongOthers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		iamJobs int // IAM's concurrent job limit for the account
		input   string
	}{
		{"a second slot free", 2, `{"maxConcurrentJobs":2}`},
		{"the only slot held", 1, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
			scope := expectScope(org, false, false)
			keys := slices.SortedFunc(maps.Keys(scope), func(a, b scopeKey) int { return strings.Compare(scope[a].Path, scope[b].Path) })
			stuck := keys[len(keys)/2] // the run reaches it after some reports
			e := newEnv(t, envOptions{org: org, sim: func(o *sim.Options) {
				o.IAM.MaxJobs = tt.iamJobs
				o.IAM.StuckEntities = []string{stuck.id}
			}})
			e.p.tune.jobTimeout = 150 * time.Millisecond
			ctx := testCtx(t)
			st := e.run(ctx, tt.input, "stuck-among-others")
			failed := map[scopeKey]string{stuck: "JobTimedOut"}
			if tt.iamJobs == 1 {
				for _, k := range keys[len(keys)/2+1:] {
					failed[k] = accessreport.CodeLimitExceeded
				}
			}
			o := e.verify(ctx, "stuck-among-others", scope, failed)
			if st.Failed != len(failed) || o.summary.Status != reportdoc.RunPartial {
				t.Errorf("Got(failed, status) = %d, %s; want %d, PARTIAL", st.Failed, o.summary.Status, len(failed))
			}
		})
	}
}
