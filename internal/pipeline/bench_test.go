package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/scpplan"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// BenchmarkRun1001 runs a whole audit of 1,000 OUs and the root through
// the simulator, storing to a local directory, under the soft memory limit
// the functions set for 128 MB, and reports the peak heap in use above the
// simulator's own (the simulator runs in this process, so its request
// garbage is included), the manifest's size and the wall time per job.
//
//	go test ./internal/pipeline -run '^$' -bench Run1001 -benchtime 1x
func BenchmarkRun1001(b *testing.B) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 1000, Accounts: 1500, Depth: 5, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		e := newEnv(b, envOptions{org: org, sim: func(o *sim.Options) { o.IAM.TimeScale = 0.0005 }})
		ctx := testCtx(b)
		e.store = objstore.NewDir(b.TempDir(), "orgaudit/")
		e.p.store = e.store
		e.p.tune.pollFloor = 2 * time.Millisecond
		e.p.tune.saveEvery = 2 * time.Second
		old := debug.SetMemoryLimit(128 << 20 * 8 / 10)
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}()
		start := time.Now()
		st := e.run(ctx, `{}`, "big")
		elapsed := time.Since(start)
		close(stop)
		wg.Wait()
		debug.SetMemoryLimit(old)
		mb, err := e.store.Get(ctx, "runs/big/manifest.json")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak.Load()-base.HeapInuse)/1e6, "MB-peak-heap-above-base")
		b.ReportMetric(float64(len(mb))/float64(st.Total), "manifest-B/entity")
		b.ReportMetric(float64(elapsed.Milliseconds())/float64(st.Total), "ms/job")
		if st.Completed != st.Total {
			b.Errorf("Got(completed) = %d; want %d", st.Completed, st.Total)
		}
	}
}

// BenchmarkFinalize11001 is the heaviest step of the largest run: Store's
// final call for 1,000 OUs and 10,000 accounts plus the root, with a
// previous run to compare with. It loads both manifests, builds the
// summary, findings and HTML and writes them (to a local directory), under
// the soft memory limit the functions set for 128 MB, and reports the peak
// heap in use (sampled) and the total allocated.
//
//	go test ./internal/pipeline -run '^$' -bench 'Finalize11001$' -benchtime 1x
func BenchmarkFinalize11001(b *testing.B) { benchFinalize11001(b, false) }

// BenchmarkFinalize11001Checked is BenchmarkFinalize11001 for a run that
// records its SCPs (policies.json, FullAWSAccess everywhere), as every run
// does since the walk records them: every root and OU suggestion is then
// checked by the what-if evaluator against the accounts' reports. Its OU
// and root reports show what their accounts used, as IAM's do, so that the
// suggestions are the safe ones a real run makes.
//
//	go test ./internal/pipeline -run '^$' -bench Finalize11001Checked -benchtime 1x
func BenchmarkFinalize11001Checked(b *testing.B) { benchFinalize11001(b, true) }

func benchFinalize11001(b *testing.B, checked bool) {
	ctx := context.Background()
	store := objstore.NewDir(b.TempDir(), "orgaudit/")
	done := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	// uses says whether entity i used the j-th catalog service: accounts
	// (1001…11000, under OU i%1000+1) by a fixed pattern; with checked,
	// each OU what its accounts used and the root everything they did.
	uses := func(i, j int) bool { return (i+j)%12 == 0 }
	if checked {
		account := uses
		uses = func(i, j int) bool {
			switch {
			case i == 0:
				return true // the accounts' patterns cover every residue
			case i <= 1000:
				for k := 1000 + i - 1; k <= 11000; k += 1000 {
					if k >= 1001 && account(k, j) {
						return true
					}
				}
				return false
			}
			return account(i, j)
		}
	}
	mk := func(runID string, shift time.Duration) {
		es := make([]manifest.Entity, 0, 11001)
		for i := range 11001 {
			var services []reportdoc.Service
			for j, s := range catalog.All() {
				svc := reportdoc.Service{Namespace: s.Namespace, Name: s.Name}
				if uses(i, j) {
					svc.LastAuthenticated = reportdoc.NewTime(done.Add(-time.Duration(j)*7*time.Hour - shift))
				}
				services = append(services, svc)
			}
			d := findings.DigestOf(&reportdoc.EntityReport{Job: reportdoc.Job{CompletedAt: reportdoc.NewTime(done)}, Services: services}, 90)
			typ, id, path := reportdoc.TypeAccount, fmt.Sprintf("%012d", 100000000000+i), ""
			switch {
			case i == 0:
				typ, id, path = reportdoc.TypeRoot, "r-ab12", "o-abcdefghij/r-ab12"
			case i <= 1000:
				typ, id = reportdoc.TypeOU, fmt.Sprintf("ou-ab12-%08d", i)
				path = "o-abcdefghij/r-ab12/" + id
			default:
				path = fmt.Sprintf("o-abcdefghij/r-ab12/ou-ab12-%08d/%s", i%1000+1, id)
			}
			es = append(es, manifest.Entity{ID: id, Type: typ, Name: "name-" + id, Path: path, State: manifest.StateStored,
				JobID: "6f1c2a8e-4b1d-4c7e-9a55-0d2b8c1e7f30", Attempts: 1, CreatedAt: reportdoc.NewTime(done), CompletedAt: reportdoc.NewTime(done),
				Accessible: 31, NotAccessed: 331, Unused: d.Unused, Part: 1 + i/200, Digest: &d})
		}
		m := manifest.New(runID, "o-abcdefghij", "100000000001", manifest.Settings{UnusedDays: 90, MaxConcurrentJobs: 1, IncludeAccounts: true}, done, es)
		m.NextPart = 57
		if err := m.Save(ctx, store); err != nil {
			b.Fatal(err)
		}
	}
	mk("day-1", 0)
	mk("day-2", 48*time.Hour)
	if checked {
		att := map[string][]string{}
		for i := range 11001 {
			switch {
			case i == 0:
				att["r-ab12"] = []string{scpplan.FullAWSAccess}
			case i <= 1000:
				att[fmt.Sprintf("ou-ab12-%08d", i)] = []string{scpplan.FullAWSAccess}
			default:
				att[fmt.Sprintf("%012d", 100000000000+i)] = []string{scpplan.FullAWSAccess}
			}
		}
		full := policyset.Policy{ID: scpplan.FullAWSAccess, Name: "FullAWSAccess", AWSManaged: true, Content: scpeval.FullAWSAccess}
		doc, err := policyset.New("day-2", "o-abcdefghij", []policyset.Policy{full}, att)
		if err != nil {
			b.Fatal(err)
		}
		if err := policyset.Save(ctx, store, doc); err != nil {
			b.Fatal(err)
		}
	}
	latest, _ := json.Marshal(reportdoc.Latest{RunID: "day-1", SummaryKey: reportdoc.SummaryKey("day-1"), CompletedAt: reportdoc.NewTime(done)})
	if err := store.Put(ctx, reportdoc.LatestKey, latest, "application/json"); err != nil {
		b.Fatal(err)
	}
	p := New(config.Default(), Deps{Store: store, Now: func() time.Time { return done.Add(time.Hour) }})
	old := debug.SetMemoryLimit(128 << 20 * 8 / 10)
	defer debug.SetMemoryLimit(old)
	for range b.N {
		runtime.GC()
		var base, end runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak, live atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				peak.Store(max(peak.Load(), ms.HeapInuse))
				metrics.Read(sample)
				live.Store(max(live.Load(), sample[0].Value.Uint64()))
			}
		}()
		st, err := p.Store(ctx, State{RunID: "day-2"})
		close(stop)
		wg.Wait()
		runtime.ReadMemStats(&end)
		if err != nil || !st.Done {
			b.Fatalf("Store = %+v, %v", st, err)
		}
		// The plan is in report.html, bounded to the root and OUs.
		html, err := store.Get(ctx, "runs/day-2/report.html")
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Contains(html, []byte(`"o":"`+findings.PlanOUsOnly)) || bytes.Contains(html, []byte(`"q":{"n":0,`)) {
			b.Fatal("Got(report.html without its bounded SCP plan); want the root and OU plan and its note")
		}
		b.ReportMetric(float64(peak.Load())/1e6, "MB-peak-heap")
		b.ReportMetric(float64(live.Load())/1e6, "MB-peak-live-heap")
		b.ReportMetric(float64(end.TotalAlloc-base.TotalAlloc)/1e6, "MB-alloc")
		// Run it again from scratch: the final step is idempotent.
		m, err := manifest.Load(ctx, store, "day-2")
		if err != nil {
			b.Fatal(err)
		}
		m.FinishedAt, m.PreviousResolved, m.PreviousRunID = nil, false, ""
		if err := m.Save(ctx, store); err != nil {
			b.Fatal(err)
		}
		if err := store.Put(ctx, reportdoc.LatestKey, latest, "application/json"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartQuotaScale walks an organization at AWS's quotas (1,000
// OUs five levels deep, 10,000 accounts) with includeAccounts and
// includePolicies and writes its manifest: the whole of Start's work.
//
//	go test ./internal/pipeline -run '^$' -bench StartQuotaScale -benchtime 1x
func BenchmarkStartQuotaScale(b *testing.B) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 9})
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		e := newEnv(b, envOptions{org: org})
		e.store = objstore.NewDir(b.TempDir(), "orgaudit/")
		e.p.store = e.store
		ctx := testCtx(b)
		start := time.Now()
		st, err := e.p.Start(ctx, StartEvent{ExecutionName: fmt.Sprintf("quota-%d", i), Input: json.RawMessage(`{"includeAccounts":true,"includePolicies":true}`)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-start")
		b.ReportMetric(float64(st.Total), "reports")
	}
}
