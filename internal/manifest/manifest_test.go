package manifest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// storedEntity is a realistic finished entity: a deep account path, a
// full report digest with some accessed services.
func storedEntity(i int) Entity {
	done := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	var services []reportdoc.Service
	for j, s := range catalog.All() {
		svc := reportdoc.Service{Namespace: s.Namespace, Name: s.Name}
		if j%12 == 0 {
			svc.LastAuthenticated = reportdoc.NewTime(done.Add(-time.Duration(j) * 7 * time.Hour))
		}
		services = append(services, svc)
	}
	d := findings.DigestOf(&reportdoc.EntityReport{Job: reportdoc.Job{CompletedAt: reportdoc.NewTime(done)}, Services: services}, 90)
	id := fmt.Sprintf("%012d", 100000000000+i)
	return Entity{
		ID: id, Type: reportdoc.TypeAccount, Name: fmt.Sprintf("workload-%05d-prod", i),
		Path:  "o-abcdefghij/r-ab12/ou-ab12-11111111/ou-ab12-22222222/ou-ab12-33333333/" + id,
		State: StateStored, JobID: "6f1c2a8e-4b1d-4c7e-9a55-0d2b8c1e7f30", Attempts: 1,
		CreatedAt: reportdoc.NewTime(done.Add(-3 * time.Second)), CompletedAt: reportdoc.NewTime(done),
		Accessible: 31, NotAccessed: 331, Unused: 340, Part: 7, Digest: &d,
	}
}

func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewDir(t.TempDir(), "")
	if _, err := Load(ctx, store, "nope"); !IsNotFound(err) {
		t.Fatalf("Got(Load absent) = %v; want not found", err)
	}
	m := New("run-1", "o-abcdefghij", "111111111111", Settings{UnusedDays: 90, MaxConcurrentJobs: 1}, time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC),
		[]Entity{
			{ID: "r-ab12", Type: reportdoc.TypeRoot, Path: "o-abcdefghij/r-ab12", State: StateQueued},
			{ID: "ou-1", Type: reportdoc.TypeOU, Path: "o-abcdefghij/r-ab12/ou-1", State: StateRunning, JobID: "j"},
			{ID: "ou-2", Type: reportdoc.TypeOU, Path: "o-abcdefghij/r-ab12/ou-2", State: StateFailed, Error: &reportdoc.Error{Code: "X", Message: "m"}},
			{ID: "ou-3", Type: reportdoc.TypeOU, Path: "o-abcdefghij/r-ab12/ou-3", State: StateCompleted},
			storedEntity(1),
			func() Entity {
				e := storedEntity(2)
				e.Error = &reportdoc.Error{Code: "ServiceFailure"}
				e.Digest = nil
				return e
			}(),
		})
	if err := m.Save(ctx, store); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, store, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Marshal()
	b, _ := got.Marshal()
	if string(a) != string(b) {
		t.Errorf("Got(round trip) = %s; want %s", b, a)
	}
	c := got.Counts()
	want := Counts{Total: 6, Queued: 1, Running: 1, Completed: 2, Failed: 2, Unstored: 2}
	if c != want {
		t.Errorf("Got(Counts) = %+v; want %+v", c, want)
	}
	if got.Finished() {
		t.Errorf("Got(Finished) = true; want false")
	}
	if n := len(got.FindingsEntries()); n != 2 {
		t.Errorf("Got(FindingsEntries) = %d; want the 2 stored", n)
	}
	// A manifest stored under another run's key is refused.
	if err := store.Put(ctx, reportdoc.ManifestKey("run-2"), a, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, store, "run-2"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Got(Load of a mislabelled manifest) = %v; want an error", err)
	}
}

// TestSizePerEntity measures the manifest's size per finished entity and
// guards it: 11,001 entities must stay well under the 128 MB of a step.
func TestSizePerEntity(t *testing.T) {
	const n = 1000
	es := make([]Entity, n)
	for i := range es {
		es[i] = storedEntity(i)
	}
	m := New("run", "o-abcdefghij", "111111111111", Settings{}, time.Now(), es)
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	per := len(b) / n
	t.Logf("manifest: %d bytes per finished entity; 11,001 entities ≈ %.1f MB", per, float64(per*11001)/1e6)
	if per > 1536 {
		t.Errorf("Got(bytes per entity) = %d; want at most 1536", per)
	}
}

// BenchmarkLoadSave11001 loads and saves the manifest of a run of 11,001
// finished entities (1,000 OUs and 10,000 accounts) and reports the heap
// it needs.
func BenchmarkLoadSave11001(b *testing.B) {
	ctx := context.Background()
	store := objstore.NewDir(b.TempDir(), "")
	es := make([]Entity, 11001)
	for i := range es {
		es[i] = storedEntity(i)
	}
	if err := New("big", "o-abcdefghij", "111111111111", Settings{}, time.Now(), es).Save(ctx, store); err != nil {
		b.Fatal(err)
	}
	es = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		m, err := Load(ctx, store, "big")
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Save(ctx, store); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/1e6, "MB-alloc/op")
}

// TestJobPaceObserve: the average follows the jobs; the low envelope drops
// to a shorter job at once and rises slowly towards longer ones.
func TestJobPaceObserve(t *testing.T) {
	var p JobPace
	p.Observe(1000)
	if p != (JobPace{Millis: 1000, Low: 1000}) {
		t.Fatalf("Got(after one job) = %+v; want {1000 1000}", p)
	}
	p.Observe(800)
	if p.Low != 800 || p.Millis != 940 {
		t.Errorf("Got(after a shorter job) = %+v; want low 800, millis 940", p)
	}
	for range 5 {
		p.Observe(4000)
	}
	if p.Low <= 800 || p.Low >= 2500 || p.Millis < 3400 {
		t.Errorf("Got(after five long jobs) = %+v; want the average near 4000 and the low envelope risen a little", p)
	}
	p.Observe(0)
	if p.Low != 1 {
		t.Errorf("Got(after a 0 ms job) = %+v; want low 1 (never 0: 0 means not seen)", p)
	}
}
