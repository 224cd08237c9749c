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
		{"jobs of half a second", 500, 50 * time.Millisecond, 50 * time.Millisecond},
		{"jobs of 100 ms", 100, 50 * time.Millisecond, 10 * time.Millisecond},
		{"jobs of 15 ms", 15, 50 * time.Millisecond, 1500 * time.Microsecond},
		{"jobs of 5 ms", 5, 50 * time.Millisecond, time.Millisecond},
		{"throttled, jobs of seconds", 2000, 200 * time.Millisecond, 200 * time.Millisecond},
		{"throttled, jobs of 100 ms", 100, 200 * time.Millisecond, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{p: &Pipeline{tune: defaultTuning}, m: &manifest.Manifest{JobMillis: tt.jobMillis}, floor: tt.floor}
			if got := r.pollFloor(); got != tt.want {
				t.Errorf("Got(pollFloor with JobMillis %d, floor %s) = %s; want %s", tt.jobMillis, tt.floor, got, tt.want)
			}
		})
	}
}
