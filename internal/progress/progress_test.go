package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	tests := []struct {
		name string
		c    Counts
		el   time.Duration
		want string
	}{
		{"nothing done", Counts{Total: 10, Queued: 9, Running: 1}, time.Second,
			"[..........] 0/10  1 running  9 queued  0 throttled  ETA ?"},
		{"half done", Counts{Total: 10, Completed: 4, Failed: 1, Running: 1, Queued: 4, Throttled: 2}, 10 * time.Second,
			"[#####.....] 5/10 (1 failed)  1 running  4 queued  2 throttled  ETA 10s"},
		{"all done", Counts{Total: 4, Completed: 4}, 3 * time.Minute,
			"[##########] 4/4  0 running  0 queued  0 throttled  ETA 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A width of exactly the wanted line leaves ten columns of bar.
			if got := Bar(tt.c, tt.el, len(tt.want)); got != tt.want {
				t.Errorf("Bar() = %q; want %q", got, tt.want)
			}
			// At a realistic width the whole line fits and the bar is wider.
			got := Bar(tt.c, tt.el, 100)
			if len(got) > 100 || !strings.HasSuffix(got, strings.SplitN(tt.want, "]", 2)[1]) {
				t.Errorf("Bar(width 100) = %q; want the stats %q within 100 columns", got, strings.SplitN(tt.want, "]", 2)[1])
			}
		})
	}
}

func TestReporterLogLinesArePeriodic(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	r := New(&buf, Options{Interval: 10 * time.Second, Now: func() time.Time { return now }})
	for i := 0; i < 30; i++ { // 30 updates over 29 s: lines at 0 s, 10 s, 20 s
		r.Update(Counts{Total: 30, Completed: i})
		now = now.Add(time.Second)
	}
	r.Finish(Counts{Total: 30, Completed: 30})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d log lines; want 4 (three periodic, one final):\n%s", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[3], "progress: 30/30 done (0 failed), 0 running, 0 queued") {
		t.Errorf("final line = %q", lines[3])
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("log output contains carriage returns; want plain lines")
	}
}

func TestReporterTerminalRedrawsInPlace(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	r := New(&buf, Options{Terminal: true, Width: 80, Now: func() time.Time { return now }})
	r.Update(Counts{Total: 2, Queued: 1, Running: 1})
	now = now.Add(time.Second)
	r.Update(Counts{Total: 2, Completed: 1, Running: 1})
	r.Finish(Counts{Total: 2, Completed: 2})
	out := buf.String()
	if got := strings.Count(out, "\r"); got != 3 {
		t.Errorf("got %d redraws; want 3 in %q", got, out)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("want exactly one newline, at the end: %q", out)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := Thousands(n); got != want {
			t.Errorf("Got(Thousands(%d)) = %q; want %q", n, got, want)
		}
	}
}

// TestReporterETAOfAResumedRun: a run resumed with 90 of 100 done, doing
// one a second, has 9 s left after 1 s, not the tenth of a second the
// 91 done in 1 s would suggest.
func TestReporterETAOfAResumedRun(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	r := New(&buf, Options{Interval: time.Second, Now: func() time.Time { return now }})
	r.Update(Counts{Total: 100, Completed: 90})
	now = now.Add(time.Second)
	r.Update(Counts{Total: 100, Completed: 91})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "progress: 90/100 done") || !strings.HasSuffix(lines[0], "ETA ?") || !strings.HasSuffix(lines[1], "ETA 9s") {
		t.Errorf("log lines %q; want 90/100 with ETA ?, then ETA 9s", lines)
	}
}
