package sim_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestNetworkDelay: with a simulated round trip, a request reaches the
// service half a round trip after it left, and its answer reaches the
// client half a round trip after the service acted.
func TestNetworkDelay(t *testing.T) {
	const rtt = 80 * time.Millisecond
	var mu sync.Mutex
	var seen []time.Time
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n := time.Now()
		seen = append(seen, n)
		return n
	}
	s, url := startSim(t, sim.Options{Network: sim.Network{RoundTrip: rtt}, IAM: iamreports.Options{Now: now, TimeScale: 0.01}})
	ctx := testCtx(t)
	client := iam.NewFromConfig(awsConfig(url, "test", "test", "", false))
	org := s.Org()
	sent := time.Now()
	if _, err := client.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(org.ID + "/" + org.Root.ID)}); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	mu.Lock()
	first := seen[0]
	mu.Unlock()
	if d := first.Sub(sent); d < rtt/2 {
		t.Errorf("Got(service saw the request %s after it left); want at least half the round trip, %s", d, rtt/2)
	}
	if d := back.Sub(first); d < rtt/2 {
		t.Errorf("Got(answer back %s after the service acted); want at least half the round trip, %s", d, rtt/2)
	}
	if d := back.Sub(sent); d > rtt+2*time.Second {
		t.Errorf("Got(round trip) = %s; want about %s", d, rtt)
	}
}

// TestNetworkJitter: each half varies within the jitter, and a reset
// connection still ends the request at once on the way back.
func TestNetworkJitter(t *testing.T) {
	const rtt, jitter = 40 * time.Millisecond, 30 * time.Millisecond
	_, url := startSim(t, sim.Options{Network: sim.Network{RoundTrip: rtt, Jitter: jitter}, Seed: 3})
	ctx := testCtx(t)
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	lo, hi := time.Hour, time.Duration(0)
	for range 20 {
		start := time.Now()
		if _, err := client.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < rtt-jitter/2 {
		t.Errorf("Got(fastest round trip) = %s; want at least %s", lo, rtt-jitter/2)
	}
	if hi-lo < 3*time.Millisecond {
		t.Errorf("Got(round trips) within %s..%s; want them spread by the jitter %s", lo, hi, jitter)
	}

	_, resetURL := startSim(t, sim.Options{Network: sim.Network{RoundTrip: rtt}, ResetRate: 1})
	reset := organizations.NewFromConfig(awsConfig(resetURL, "test", "test", "", false))
	start := time.Now()
	if _, err := reset.ListRoots(ctx, &organizations.ListRootsInput{}); err == nil {
		t.Error("Got(ListRoots on a reset connection) = nil error; want the connection error")
	}
	if d := time.Since(start); d < rtt/2 || d > 5*time.Second {
		t.Errorf("Got(reset after %s); want after the way there, %s, and at once after", d, rtt/2)
	}
}

func TestNetworkIsChecked(t *testing.T) {
	for _, n := range []sim.Network{{RoundTrip: -time.Millisecond}, {RoundTrip: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}} {
		if _, err := sim.New(sim.Options{Org: testOrg(t), Network: n}); err == nil || !strings.Contains(err.Error(), "network delay") {
			t.Errorf("Got(sim.New with %+v) = %v; want a network delay error", n, err)
		}
	}
}
