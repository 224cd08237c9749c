package pipeline

import (
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/manifest"
)

// TestPollFloorFollowsShortJobs checks that the shortest poll interval
// shrinks with jobs much shorter than a second (a time-scaled simulator)
// and stays the configured floor, throttling included, for IAM's jobs of
// seconds.
func TestPollFloorFollowsShortJobs(t *testing.T) {
	tests := []struct {
		name      string
		jobMillis int64
		floor     time.Duration // the runner's current floor
		want      time.Duration
	}{
		{"no job seen yet", 0, 50 * time.Millisecond, 50 * time.Millisecond},
		{"jobs of seconds", 2000, 50 * time.Millisecond, 50 * time.Millisecond},
		{"jobs of a second", 1000, 50 * time.Millisecond, 50 * time.Millisecond},
		{"jobs of half a second", 500, 50 * time.Millisecond, 25 * time.Millisecond},
		{"jobs of 100 ms", 100, 50 * time.Millisecond, 5 * time.Millisecond},
		{"jobs of 15 ms", 15, 50 * time.Millisecond, time.Millisecond},
		{"jobs of 5 ms", 5, 50 * time.Millisecond, time.Millisecond},
		{"throttled, jobs of seconds", 2000, 200 * time.Millisecond, 200 * time.Millisecond},
		{"throttled, jobs of 100 ms", 100, 200 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &manifest.Manifest{}
			if tt.jobMillis > 0 {
				m.Pace = map[string]manifest.JobPace{manifest.PaceAccount: {Millis: tt.jobMillis, Low: tt.jobMillis}}
			}
			r := &runner{p: &Pipeline{tune: defaultTuning}, m: m, floor: tt.floor}
			if got := r.pollFloor(manifest.PaceAccount); got != tt.want {
				t.Errorf("Got(pollFloor with account jobs of %d ms, floor %s) = %s; want %s", tt.jobMillis, tt.floor, got, tt.want)
			}
		})
	}
}

// TestFirstPollByKind: a job is first polled when jobs of its kind can
// finish: an account's job after the accounts' low envelope, not after
// the root's and OUs' (which grow with the accounts under them), and the
// other way round; a kind not seen yet is polled at once.
func TestFirstPollByKind(t *testing.T) {
	m := &manifest.Manifest{Pace: map[string]manifest.JobPace{
		manifest.PaceAccount: {Millis: 1500, Low: 1420},
		manifest.PaceGroup:   {Millis: 4800, Low: 2100},
	}}
	r := &runner{p: &Pipeline{tune: defaultTuning}, m: m, floor: defaultTuning.pollFloor}
	account := &manifest.Entity{Type: "ACCOUNT"}
	ou := &manifest.Entity{Type: "ORGANIZATIONAL_UNIT"}
	root := &manifest.Entity{Type: "ROOT"}
	for _, tt := range []struct {
		e    *manifest.Entity
		want time.Duration
	}{
		{account, 1420 * time.Millisecond},
		{ou, 2100 * time.Millisecond},
		{root, 2100 * time.Millisecond},
	} {
		if got := r.firstPoll(tt.e); got != tt.want {
			t.Errorf("Got(firstPoll of %s) = %s; want %s", tt.e.Type, got, tt.want)
		}
	}
	// After the low envelope, a twentieth of the kind's average at a time.
	now := time.UnixMilli(time.Now().UnixMilli()) // SentAt keeps milliseconds
	ou.SentAt = now.Add(-3 * time.Second).UnixMilli()
	if got, want := r.pollInterval(ou, now), 240*time.Millisecond; got != want {
		t.Errorf("Got(pollInterval of an OU job 3 s old) = %s; want %s", got, want)
	}
	account.SentAt = now.Add(-time.Second).UnixMilli()
	if got, want := r.pollInterval(account, now), 420*time.Millisecond; got != want {
		t.Errorf("Got(pollInterval of an account job 1 s old) = %s; want %s (until the low envelope)", got, want)
	}
	delete(m.Pace, manifest.PaceAccount)
	if got := r.firstPoll(account); got != defaultTuning.pollFloor {
		t.Errorf("Got(firstPoll of the first account job) = %s; want the floor %s", got, defaultTuning.pollFloor)
	}
}
