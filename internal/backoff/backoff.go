// Package backoff computes retry delays: exponential growth from a base,
// capped, with jitter so that callers throttled together do not retry
// together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff with jitter.
type Policy struct {
	Base time.Duration // delay of the first retry (before jitter)
	Cap  time.Duration // longest delay
}

// Default suits AWS throttling: 200 ms doubling up to 20 s.
var Default = Policy{Base: 200 * time.Millisecond, Cap: 20 * time.Second}

// Delay returns the delay before retry number attempt (0 for the first
// retry): min(Cap, Base·2^attempt), scaled by a random factor in [0.5, 1].
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Base
	for i := 0; i < attempt && d < p.Cap; i++ {
		d *= 2
	}
	if d > p.Cap {
		d = p.Cap
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
