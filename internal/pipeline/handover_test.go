package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/orgaudit/orgaudit/internal/accessreport"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// pollCounter tells the pipeline's status polls (MaxItems 1) from its page
// reads.
type pollCounter struct {
	accessreport.API
	polls, pages atomic.Int64
}

func (c *pollCounter) GetOrganizationsAccessReport(ctx context.Context, in *iam.GetOrganizationsAccessReportInput, optFns ...func(*iam.Options)) (*iam.GetOrganizationsAccessReportOutput, error) {
	if aws.ToInt32(in.MaxItems) == 1 {
		c.polls.Add(1)
	} else {
		c.pages.Add(1)
	}
	return c.API.GetOrganizationsAccessReport(ctx, in, optFns...)
}

// handOverRun is what one run told about the hand-over between jobs, from
// the simulator's side (the slot's idle time, IAM's counters) and the
// pipeline's (polls, throttled answers counted in the State).
type handOverRun struct {
	jobs, handovers          int
	idle                     time.Duration // the slot's idle time, summed over the hand-overs
	generates, refused, gets int
	polls, pages             int64
	throttled                int // State.throttled
	wall                     time.Duration
}

func (h handOverRun) idlePerJob() time.Duration {
	if h.handovers == 0 {
		return 0
	}
	return h.idle / time.Duration(h.handovers)
}

func (h handOverRun) String() string {
	per := func(n int64) float64 { return float64(n) / float64(h.jobs) }
	return fmt.Sprintf("%d jobs, idle %s per hand-over (%d), per job: %.2f Generate, %.2f 409, %.2f polls, %.2f page reads; %d throttled counted; wall %s",
		h.jobs, h.idlePerJob().Round(100*time.Microsecond), h.handovers, per(int64(h.generates)), per(int64(h.refused)), per(h.polls), per(h.pages), h.throttled, h.wall.Round(time.Millisecond))
}

// spreadLatency is a job latency of 4 s ±10%, drawn from a seeded source:
// jobs of one kind whose durations differ as IAM's of similar entities do,
// so that what a run learns of their pace predicts them.
func spreadLatency(seed uint64) func(int) time.Duration {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0))
	return func(int) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(float64(4*time.Second) * (0.9 + 0.2*rng.Float64()))
	}
}

// runHandOver audits org (root, OUs and accounts) through a simulator
// whose network takes rtt per request (jitter a third of it), jobs at
// scale times IAM's latency (latency, when set, instead of the
// simulator's model) and IAM's request rate scaled alike (20 requests a
// second of real time), with the hand-over on or off, checks the outcome
// against the model and returns what it measured.
func runHandOver(t testing.TB, org *orgmodel.Org, scale float64, latency func(int) time.Duration, rtt time.Duration, on bool) handOverRun {
	t.Helper()
	e := newEnv(t, envOptions{org: org,
		sim: func(o *sim.Options) {
			o.IAM.TimeScale = scale
			o.IAM.Latency = latency
			o.IAMTPS = 20 / scale
			o.Network = sim.Network{RoundTrip: rtt, Jitter: rtt / 3}
		},
		config: func(c *config.Config) { c.StepBudget = 5 * time.Minute }, // one Check runs every job
	})
	e.p.tune.handOver = on
	// The functions' save interval: the harness's 50 ms would hold the
	// loop in a manifest save, a round trip long, most of the time.
	e.p.tune.saveEvery = defaultTuning.saveEvery
	counter := &pollCounter{API: e.p.reports.API}
	e.p.reports.API = counter
	ctx := testCtx(t)
	began := time.Now()
	st := e.run(ctx, `{"includeAccounts":true}`, "handover")
	wall := time.Since(began)
	scope := expectScope(org, true, false)
	e.verify(ctx, "handover", scope, nil)
	s := e.sim.IAM().Stats()
	if s.JobsCreated != len(scope) {
		t.Errorf("Got(jobs created) = %d; want %d, one per report", s.JobsCreated, len(scope))
	}
	if st.Throttled < s.LimitExceeded {
		t.Errorf("Got(State.throttled) = %d; want at least the %d 409 answers", st.Throttled, s.LimitExceeded)
	}
	return handOverRun{
		jobs: s.JobsCreated, handovers: s.Handovers, idle: s.SlotIdle,
		generates: s.GenerateCalls, refused: s.LimitExceeded, gets: s.GetCalls,
		polls: counter.polls.Load(), pages: counter.pages.Load(), throttled: st.Throttled, wall: wall,
	}
}

// TestHandOverUnderLatency: over a network of 30 ms round trips, with jobs
// of 180-220 ms one at a time, the same audit runs with the hand-over
// off (the next Generate after the poll that sees the running job end) and
// on (the next Generate from the running job's predicted end); both end
// with every report equal to the model's and no job started twice, and the
// slot's idle time between jobs, as the simulator measured it, is well
// below half the other's with the hand-over on.
func TestHandOverUnderLatency(t *testing.T) {
	t.Parallel()
	org := genOrg(t, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	const rtt = 30 * time.Millisecond
	var mu sync.Mutex
	got := map[bool]handOverRun{}
	t.Run("arms", func(t *testing.T) {
		for _, on := range []bool{false, true} {
			t.Run(fmt.Sprintf("handOver=%v", on), func(t *testing.T) {
				t.Parallel()
				h := runHandOver(t, org, 0.05, spreadLatency(1), rtt, on)
				t.Logf("hand-over %v: %s", on, h)
				mu.Lock()
				got[on] = h
				mu.Unlock()
			})
		}
	})
	off, on := got[false], got[true]
	if t.Failed() || off.handovers == 0 || on.handovers == 0 {
		t.Fatalf("Got(hand-overs off, on) = %d, %d; want runs that finished with some", off.handovers, on.handovers)
	}
	// The premise: today's hand-over costs at least a round trip (the
	// poll's answer and the Generate's way there).
	if off.idlePerJob() < rtt/2 {
		t.Errorf("Got(idle per hand-over, hand-over off) = %s; want at least half the %s round trip: is the network delay on?", off.idlePerJob(), rtt)
	}
	if on.idlePerJob()*2 > off.idlePerJob() {
		t.Errorf("Got(idle per hand-over) = %s on, %s off; want on well below half of off", on.idlePerJob(), off.idlePerJob())
	}
	if off.refused != 0 {
		t.Errorf("Got(409 answers, hand-over off) = %d; want none with one job at a time", off.refused)
	}
}

// BenchmarkHandOver measures the hand-over between jobs at round trips of
// 0, 30 and 120 ms, on and off, on root + 8 OUs + 12 accounts at a tenth
// of IAM's job latency, with the simulator's latency model (jobs of 160 ms
// to 1.1 s, durations that differ widely within a kind) and with jobs of
// 4 s ±10%: the slot's idle time per hand-over (simulator's side) and IAM
// calls per job.
//
//	go test ./internal/pipeline -run '^$' -bench HandOver -benchtime 1x -count 3
func BenchmarkHandOver(b *testing.B) {
	org := genOrg(b, orgmodel.GenerateOptions{OUs: 8, Accounts: 12, Depth: 3, Seed: 7})
	for _, model := range []string{"model", "spread"} {
		for _, rtt := range []time.Duration{0, 30 * time.Millisecond, 120 * time.Millisecond} {
			for _, on := range []bool{false, true} {
				b.Run(fmt.Sprintf("latency=%s/rtt=%s/handOver=%v", model, rtt, on), func(b *testing.B) {
					for range b.N {
						var latency func(int) time.Duration
						if model == "spread" {
							latency = spreadLatency(1)
						}
						h := runHandOver(b, org, 0.1, latency, rtt, on)
						jobs := float64(h.jobs)
						b.ReportMetric(float64(h.idlePerJob().Microseconds())/1000, "idle-ms/handover")
						b.ReportMetric(float64(h.generates)/jobs, "generate/job")
						b.ReportMetric(float64(h.refused)/jobs, "409/job")
						b.ReportMetric(float64(h.polls)/jobs, "polls/job")
						b.ReportMetric(float64(h.pages)/jobs, "pages/job")
						b.ReportMetric(float64(h.throttled-h.refused), "throttled")
						b.ReportMetric(h.wall.Seconds(), "s-wall")
					}
				})
			}
		}
	}
}
