package findings

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFinalize measures Finalize at the largest scope AWS's quotas allow
// (the root, 1,000 OUs and 10,000 accounts: 11,001 reports) over 450
// services, and reports the sizes that matter to the Store step's memory.
func BenchmarkFinalize(b *testing.B) {
	for _, size := range []struct {
		name     string
		entities int
	}{{"1001x450", 1001}, {"11001x450", 11001}} {
		b.Run(size.name, func(b *testing.B) {
			in := synthRun(b, size.entities, 450, 9)
			digestBytes := 0
			for _, e := range in.Entries {
				if e.Digest != nil {
					j, _ := json.Marshal(e.Digest)
					digestBytes += len(j)
				}
			}
			var res *Result
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			peak := make(chan uint64)
			stop := make(chan struct{})
			go func() {
				// Sample the live heap while Finalize runs.
				var m runtime.MemStats
				var hi uint64
				for {
					select {
					case <-stop:
						peak <- hi
						return
					case <-time.After(5 * time.Millisecond):
						runtime.ReadMemStats(&m)
						hi = max(hi, m.HeapInuse)
					}
				}
			}()
			for b.Loop() {
				res = nil
				var err error
				if res, err = Finalize(in); err != nil {
					b.Fatal(err)
				}
			}
			close(stop)
			hi := <-peak
			b.ReportMetric(float64(digestBytes)/float64(len(in.Entries)), "digest-B/entity")
			b.ReportMetric(float64(len(res.HTML)), "html-B")
			b.ReportMetric(float64(len(res.FindingsJSON)), "findings-B")
			b.ReportMetric(float64(hi-min(hi, base.HeapInuse))/(1<<20), "peak-heap-over-input-MiB")
		})
	}
}
