package orgwalk

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// TestOneBurstSlowsOnce: the workers' calls in flight when Organizations
// starts throttling are all throttled; that is one signal, so the gap
// doubles once (from nothing to minGap), not once per worker.
func TestOneBurstSlowsOnce(t *testing.T) {
	const workers = 4
	c := (&Walker{}).caller(&Progress{}, time.Time{})
	var (
		mu        sync.Mutex
		inFlight  int
		throttled = map[int]bool{}
		all       = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.do(context.Background(), "ListChildren", func(context.Context) error {
				mu.Lock()
				first := !throttled[w]
				if first {
					throttled[w] = true
					if inFlight++; inFlight == workers {
						close(all)
					}
				}
				mu.Unlock()
				if !first {
					return nil
				}
				<-all // every worker's first call is in flight: one burst
				return &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded"}
			})
			if err != nil {
				t.Errorf("do: %v", err)
			}
		}()
	}
	wg.Wait()
	if c.p.Throttled != workers {
		t.Fatalf("Throttled = %d; want %d (one per worker of the burst)", c.p.Throttled, workers)
	}
	// One doubling to minGap (50 ms), then four answers that were not
	// throttled shrink it by a sixteenth each: 47, 45, 43, 41 ms. A
	// doubling per throttled answer would have left it at 400 ms.
	if got, most := time.Duration(c.p.PaceMillis)*time.Millisecond, minGap; got > most || got == 0 {
		t.Errorf("gap after one throttled burst of %d calls = %s; want in (0, %s]", workers, got, most)
	}
}

// TestThrottlingAtTheNewPaceSlowsAgain: a call sent after the gap doubled
// and still throttled doubles it again.
func TestThrottlingAtTheNewPaceSlowsAgain(t *testing.T) {
	c := (&Walker{}).caller(&Progress{}, time.Time{})
	answers := 0
	err := c.do(context.Background(), "ListChildren", func(context.Context) error {
		if answers++; answers <= 3 {
			return &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded"}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 50, 100, 200 ms from three throttled answers in a row, then one
	// success: 200 - 200/16 = 188 ms.
	if got, want := c.p.PaceMillis, int64(188); got != want {
		t.Errorf("PaceMillis after three throttled calls in a row and a success = %d; want %d", got, want)
	}
}
