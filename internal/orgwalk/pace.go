package orgwalk

import (
	"context"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// Pacing of the walk's calls: the gap between two calls starts at zero (as
// fast as the workers go), doubles on a throttled answer up to maxGap,
// and shrinks by a sixteenth on every answer that was not throttled, so the walk settles just under the rate Organizations grants
// this caller, whatever it is. The calls in flight when one is throttled
// were sent at the same pace and are throttled together: only a call sent
// after the last slow-down doubles the gap again, so one burst of the
// workers is one signal, not a doubling per worker (over a network of
// tens of milliseconds, four doublings at once left a walk at an eighth of
// its rate for dozens of calls).
const (
	minGap = 50 * time.Millisecond
	maxGap = 10 * time.Second
)

// caller makes the walk's calls: paced, counted, retried.
type caller struct {
	w     *Walker
	p     *Progress
	until time.Time // zero: no deadline

	mu sync.Mutex // guards p and slowed
	// slowed is when the gap last doubled: a throttled answer to a call
	// sent before it says nothing about the new pace.
	slowed time.Time
}

func (w *Walker) caller(p *Progress, until time.Time) *caller {
	return &caller{w: w, p: p, until: until}
}

// slot waits for the next call's turn. It returns errStop when the turn
// comes after the deadline.
func (c *caller) slot(ctx context.Context) error {
	c.mu.Lock()
	now := time.Now()
	at := now
	if next := time.UnixMilli(c.p.NextCall); next.After(now) {
		at = next
	}
	if !c.until.IsZero() && at.After(c.until) {
		// Not this slice's turn: use the slice up, then pause.
		c.mu.Unlock()
		if err := backoff.Sleep(ctx, c.until.Sub(now)); err != nil {
			return err
		}
		return errStop
	}
	if c.p.PaceMillis > 0 {
		c.p.NextCall = at.Add(time.Duration(c.p.PaceMillis) * time.Millisecond).UnixMilli()
	} else {
		c.p.NextCall = 0
	}
	c.mu.Unlock()
	return backoff.Sleep(ctx, at.Sub(now))
}

// do calls fn until it succeeds, fails for good, or the deadline comes.
// Throttled answers slow the walk and are retried without a count, up to
// the walker's ThrottleLimit of nothing but throttling; other transient
// failures are retried up to the walker's Attempts with backoff.
func (c *caller) do(ctx context.Context, what string, fn func(context.Context) error) error {
	policy, attempts := c.w.Backoff, c.w.Attempts
	if policy.Base == 0 {
		policy = backoff.Default
	}
	if attempts == 0 {
		attempts = 10
	}
	failures := 0
	for {
		if err := c.slot(ctx); err != nil {
			return err
		}
		sent := time.Now()
		err := fn(ctx)
		c.mu.Lock()
		c.p.Calls++
		throttled := backoff.IsThrottle(err)
		if throttled {
			c.p.Throttled++
			if !sent.Before(c.slowed) {
				gap := max(2*time.Duration(c.p.PaceMillis)*time.Millisecond, minGap)
				c.p.PaceMillis = min(gap, maxGap).Milliseconds()
				c.slowed = time.Now()
			}
			now := c.w.now()
			if c.p.ThrottledSince == 0 {
				c.p.ThrottledSince = now.UnixMilli()
			}
			if since := now.Sub(time.UnixMilli(c.p.ThrottledSince)); since > c.w.throttleLimit() {
				tooLong := &ThrottledTooLong{For: since, Throttled: c.p.Throttled, Last: err}
				c.mu.Unlock()
				return tooLong
			}
		} else if err == nil || !backoff.IsTransient(err) {
			c.p.ThrottledSince = 0
			c.p.PaceMillis -= c.p.PaceMillis / 16
			if c.p.PaceMillis < minGap.Milliseconds()/2 {
				c.p.PaceMillis = 0
			}
		}
		c.mu.Unlock()
		if err == nil || !backoff.IsTransient(err) || ctx.Err() != nil {
			if err != nil && !gone(err) {
				return wrap(what, err)
			}
			return err
		}
		if c.w.Logger != nil {
			c.w.Logger.Debug("organizations call retried", "call", what, "code", backoff.Code(err), "throttled", throttled)
		}
		if throttled {
			continue // the pacing is the wait
		}
		failures++
		if failures >= attempts {
			return wrap(what, err)
		}
		d := policy.Delay(failures - 1)
		if !c.until.IsZero() && time.Now().Add(d).After(c.until) {
			return errStop
		}
		if err := backoff.Sleep(ctx, d); err != nil {
			return wrap(what, err)
		}
	}
}

func wrap(what string, err error) error {
	return &callError{what: what, err: err}
}

type callError struct {
	what string
	err  error
}

func (e *callError) Error() string { return e.what + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }
