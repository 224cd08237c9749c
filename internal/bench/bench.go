// Package bench measures orgaudit at AWS-quota scale on the simulator: the
// wall time of a run against the least time the report jobs allow, the
// same for the naive script a user would write instead, state transitions,
// Lambda time, peak memory of each step and the size of the manifest.
//
// Drive runs the real pipeline steps in-process the way the state machine
// does (Start, then Wait → Check → Store → Choice until done), each step
// under its Lambda deadline, and counts what the state machine would bill.
// Naive is the baseline: generate, poll every N seconds, fetch, one entity
// after the other.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orgaudit/orgaudit/internal/pipeline"
)

// Prices used for the cost figures: AWS's published on-demand prices in
// us-east-1 as of 2026-11 (aws.amazon.com/step-functions/pricing,
// aws.amazon.com/lambda/pricing).
const (
	// USDPerTransition is Step Functions Standard: $0.025 per 1,000 state
	// transitions.
	USDPerTransition = 0.025 / 1000
	// USDPerGBSecond is Lambda on arm64 (first pricing tier).
	USDPerGBSecond = 0.0000133334
	// USDPerRequest is Lambda: $0.20 per 1M requests.
	USDPerRequest = 0.20 / 1e6
)

// Function is a Lambda function of the template: what bounds and bills a
// step.
type Function struct {
	Name     string
	Timeout  time.Duration
	MemoryMB int
}

// Functions are the template's functions by state name (template.yaml:
// Timeout, MemorySize); a test keeps them in step with the template.
var Functions = map[string]Function{
	"Start": {Name: "StartFunction", Timeout: 300 * time.Second, MemoryMB: 256},
	"Check": {Name: "CheckFunction", Timeout: 900 * time.Second, MemoryMB: 128},
	"Store": {Name: "StoreFunction", Timeout: 900 * time.Second, MemoryMB: 256},
}

// Steps runs the pipeline's steps; a Child, when set, runs some of them in
// a separate process instead (to measure their peak memory alone).
type Steps struct {
	P *pipeline.Pipeline
	// Child runs step fn with the given event in a child process and
	// returns its result and peak RSS in KiB. Nil: every step in-process.
	Child func(ctx context.Context, fn string, event []byte) (pipeline.State, int64, error)
	// InChild says whether the step fn of loop iteration iter (0 for
	// Start), called with state s, runs in the child.
	InChild func(fn string, iter int, s pipeline.State) bool
}

// Trace is what one driven run did.
type Trace struct {
	Wall        time.Duration
	Iterations  int // Wait → Check → Store → Choice loops
	Walks       int // WaitWalk → Walk → Walked loops (Start invocations after the first)
	OrgCalls    int // Organizations requests of the walk
	Transitions int
	Invocations map[string]int
	// Billed is the summed billed duration per function (each invocation
	// rounded up to the millisecond, as Lambda bills).
	Billed  map[string]time.Duration
	Waited  time.Duration // time spent in the Wait state
	PeakRSS map[string]int64
	Final   pipeline.State
}

// Transitions counts the state transitions of a run whose walk took walks
// more Start invocations and that loops iterations times: AWS bills one per
// state entered (retries included; none happen in a clean run): Start and
// the Walked Choice, then WaitWalk, Walk and Walked per further walk
// invocation, then Wait, Check, Store and the Done Choice per iteration,
// then Succeeded.
func Transitions(walks, iterations int) int { return 3 + 3*walks + 4*iterations }

// GBSeconds returns the Lambda GB-seconds of t.
func (t Trace) GBSeconds() float64 {
	var gbs float64
	for fn, d := range t.Billed {
		gbs += d.Seconds() * float64(Functions[fn].MemoryMB) / 1024
	}
	return gbs
}

// Requests is the number of Lambda invocations of t.
func (t Trace) Requests() int {
	n := 0
	for _, c := range t.Invocations {
		n += c
	}
	return n
}

// CostUSD is the Step Functions and Lambda cost of a run with the given
// transitions, GB-seconds and Lambda requests.
func CostUSD(transitions int, gbSeconds float64, requests int) (sfn, lambda float64) {
	return float64(transitions) * USDPerTransition, gbSeconds*USDPerGBSecond + float64(requests)*USDPerRequest
}

// WaitDuration is how long the bench sleeps for a Wait state of seconds:
// the pipeline derives waitSeconds from the job durations it observed, so
// the wait is scaled with the jobs (a 1-second Wait at TimeScale 0.01 is
// 10 ms).
func WaitDuration(seconds int, timeScale float64) time.Duration {
	return time.Duration(float64(seconds) * timeScale * float64(time.Second))
}

// Drive runs one execution: Start with an execution named runID and the
// given input, then the loop until Store says done.
func Drive(ctx context.Context, st Steps, runID string, input json.RawMessage, timeScale float64) (Trace, error) {
	t := Trace{Invocations: map[string]int{}, Billed: map[string]time.Duration{}, PeakRSS: map[string]int64{}}
	begin := time.Now()
	ev := pipeline.StartEvent{ExecutionName: runID, Input: input}
	s, err := st.step(ctx, &t, "Start", 0, ev, pipeline.State{})
	if err != nil {
		return t, err
	}
	for s.Walking {
		t.Walks++
		t.OrgCalls = s.WalkCalls
		if s.WaitSeconds > 0 {
			// The walk's Wait follows Organizations' real rate, which the
			// bench does not scale.
			d := time.Duration(s.WaitSeconds) * time.Second
			t.Waited += d
			time.Sleep(d)
		}
		if s, err = st.step(ctx, &t, "Start", 0, ev, s); err != nil {
			return t, err
		}
	}
	for !s.Done {
		t.Iterations++
		if s.WaitSeconds > 0 {
			d := WaitDuration(s.WaitSeconds, timeScale)
			t.Waited += d
			time.Sleep(d)
		}
		if s, err = st.step(ctx, &t, "Check", t.Iterations, s, s); err != nil {
			return t, err
		}
		if s, err = st.step(ctx, &t, "Store", t.Iterations, s, s); err != nil {
			return t, err
		}
		if s.Error != nil {
			return t, fmt.Errorf("run %s failed: %s: %s", runID, s.Error.Error, s.Error.Cause)
		}
	}
	t.Wall = time.Since(begin)
	t.Transitions = Transitions(t.Walks, t.Iterations)
	t.Final = s
	return t, nil
}

// step runs one Lambda invocation under its function's deadline.
func (st Steps) step(ctx context.Context, t *Trace, fn string, iter int, event any, s pipeline.State) (pipeline.State, error) {
	f := Functions[fn]
	sctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	began := time.Now()
	var out pipeline.State
	var err error
	if st.Child != nil && st.InChild != nil && st.InChild(fn, iter, s) {
		b, merr := json.Marshal(event)
		if merr != nil {
			return out, merr
		}
		var rss int64
		out, rss, err = st.Child(sctx, fn, b)
		t.PeakRSS[fn] = max(t.PeakRSS[fn], rss)
	} else {
		switch fn {
		case "Start":
			out, err = st.P.Start(sctx, event.(pipeline.StartEvent))
		case "Check":
			out, err = st.P.Check(sctx, event.(pipeline.State))
		case "Store":
			out, err = st.P.Store(sctx, event.(pipeline.State))
		}
	}
	d := time.Since(began)
	t.Invocations[fn]++
	t.Billed[fn] += time.Duration(math.Ceil(float64(d)/float64(time.Millisecond))) * time.Millisecond
	if err != nil {
		return out, fmt.Errorf("%s (iteration %d): %w", fn, iter, err)
	}
	return out, nil
}

// CallCounter is an http.RoundTripper that counts requests per AWS service,
// read from the SigV4 credential scope.
type CallCounter struct {
	Next http.RoundTripper
	orgs atomic.Int64
	iam  atomic.Int64
	s3   atomic.Int64
}

// RoundTrip counts req and passes it on.
func (c *CallCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	switch ServiceOf(req.Header.Get("Authorization")) {
	case "organizations":
		c.orgs.Add(1)
	case "iam":
		c.iam.Add(1)
	case "s3":
		c.s3.Add(1)
	}
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// Organizations returns the Organizations requests so far.
func (c *CallCounter) Organizations() int64 { return c.orgs.Load() }

// IAM returns the IAM requests so far.
func (c *CallCounter) IAM() int64 { return c.iam.Load() }

// ServiceOf returns the service of a SigV4 Authorization header
// ("Credential=AKID/date/region/service/aws4_request"), or "".
func ServiceOf(authorization string) string {
	_, cred, ok := strings.Cut(authorization, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// Median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ { // insertion sort: a handful of runs
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
