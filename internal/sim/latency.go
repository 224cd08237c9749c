package sim

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Network is the simulated network between a client and every service:
// each request takes RoundTrip, half on its way to the service (before the
// service sees it) and half on its way back (after the service acted and
// before the client has the answer), each half drawn uniformly within
// ±Jitter/2 of RoundTrip/2. The zero Network is loopback.
type Network struct {
	RoundTrip time.Duration
	Jitter    time.Duration
}

func (n Network) validate() error {
	switch {
	case n.RoundTrip < 0 || n.Jitter < 0:
		return errors.New("network delay: round trip and jitter must not be negative")
	case n.Jitter > n.RoundTrip:
		return fmt.Errorf("network delay: jitter %s is more than the round trip %s", n.Jitter, n.RoundTrip)
	}
	return nil
}

// oneWay draws the delay of one direction.
func (s *Simulator) oneWay() time.Duration {
	d := s.network.RoundTrip / 2
	if s.network.Jitter > 0 {
		s.mu.Lock()
		d += time.Duration((s.rng.Float64() - 0.5) * float64(s.network.Jitter) / 2)
		s.mu.Unlock()
	}
	return d
}

// delayedAnswer holds a service's answer back until the way back is over:
// the status and body are kept and written by send. A hijacked connection
// (a reset) bypasses it through Unwrap.
type delayedAnswer struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (d *delayedAnswer) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

func (d *delayedAnswer) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return d.body.Write(b)
}

func (d *delayedAnswer) Unwrap() http.ResponseWriter { return d.ResponseWriter }

func (d *delayedAnswer) send() {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	d.ResponseWriter.WriteHeader(d.status)
	_, _ = d.ResponseWriter.Write(d.body.Bytes())
}

// delayed serves one request across the simulated network.
func (s *Simulator) delayed(w http.ResponseWriter, r *http.Request, x *exchange, serve func(http.ResponseWriter, *http.Request, *exchange)) {
	if !sleepCtx(r, s.oneWay()) {
		return // the client gave up on the way
	}
	d := &delayedAnswer{ResponseWriter: w}
	serve(d, r, x)
	if x.reset {
		return
	}
	sleepCtx(r, s.oneWay())
	d.send()
}

func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
