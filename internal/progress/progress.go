// Package progress shows how far a run is: a live bar redrawn in place when
// the output is a terminal, plain periodic lines when it is not.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Counts is a snapshot of a run's jobs.
type Counts struct {
	Total, Completed, Failed, Running, Queued, Throttled int
}

// Done is how many entities have an outcome (a report or a recorded error).
func (c Counts) Done() int { return c.Completed + c.Failed }

// Reporter writes progress to one writer. Update may be called as often as
// wanted: a terminal is redrawn at most every Interval/4, a log gets one
// line per Interval.
type Reporter struct {
	w        io.Writer
	terminal bool
	width    int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	start   time.Time
	last    time.Time
	drawn   bool
	lastLen int
	// base is the number done when the reporter first showed anything:
	// a resumed run starts with work done before, which says nothing of
	// this process's pace.
	base int
}

// Options configure a Reporter.
type Options struct {
	Terminal bool          // redraw a bar in place (stderr is a TTY)
	Width    int           // terminal columns; 0 means 80
	Interval time.Duration // log line period; 0 means 10 s
	Now      func() time.Time
}

// New returns a Reporter writing to w.
func New(w io.Writer, opts Options) *Reporter {
	r := &Reporter{w: w, terminal: opts.Terminal, width: opts.Width, interval: opts.Interval, now: opts.Now}
	if r.width <= 0 {
		r.width = 80
	}
	if r.interval <= 0 {
		r.interval = 10 * time.Second
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.start = r.now()
	return r
}

// Update shows c if enough time has passed since the last update.
func (r *Reporter) Update(c Counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	period := r.interval
	if r.terminal {
		period = r.interval / 40
	}
	if r.drawn && now.Sub(r.last) < period {
		return
	}
	r.show(c, now)
}

// Finish shows c unconditionally and ends the bar's line.
func (r *Reporter) Finish(c Counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.show(c, r.now())
	if r.terminal {
		fmt.Fprintln(r.w)
	}
}

func (r *Reporter) show(c Counts, now time.Time) {
	if !r.drawn {
		r.base = c.Done()
	}
	r.last, r.drawn = now, true
	elapsed := now.Sub(r.start)
	if !r.terminal {
		fmt.Fprintf(r.w, "progress: %d/%d done (%d failed), %d running, %d queued, %d throttled retries, elapsed %s, ETA %s\n",
			c.Done(), c.Total, c.Failed, c.Running, c.Queued, c.Throttled, elapsed.Round(time.Second), ETASince(c, r.base, elapsed))
		return
	}
	line := bar(c, r.base, elapsed, r.width)
	pad := ""
	if n := r.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	r.lastLen = len(line)
	fmt.Fprint(r.w, "\r"+line+pad)
}

// Bar renders one line of at most width columns:
//
//	[#########.........]  45/120  1 running  74 queued  3 throttled  ETA 2m10s
func Bar(c Counts, elapsed time.Duration, width int) string { return bar(c, 0, elapsed, width) }

func bar(c Counts, base int, elapsed time.Duration, width int) string {
	stats := fmt.Sprintf(" %d/%d", c.Done(), c.Total)
	if c.Failed > 0 {
		stats += fmt.Sprintf(" (%d failed)", c.Failed)
	}
	stats += fmt.Sprintf("  %d running  %d queued  %d throttled  ETA %s", c.Running, c.Queued, c.Throttled, ETASince(c, base, elapsed))
	barWidth := width - len(stats) - 2
	if barWidth < 10 {
		barWidth = 10
	}
	filled := 0
	if c.Total > 0 {
		filled = barWidth * c.Done() / c.Total
	}
	line := "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]" + stats
	if len(line) > width && width > 0 {
		line = line[:width]
	}
	return line
}

// ETA estimates the time left from the pace so far: "?" until something is
// done, "0s" when everything is.
func ETA(c Counts, elapsed time.Duration) string { return ETASince(c, 0, elapsed) }

// ETASince is ETA for a count that stood at base done when elapsed began
// (a resumed run): the pace is that of the work done since.
func ETASince(c Counts, base int, elapsed time.Duration) string {
	done := c.Done()
	switch {
	case c.Total > 0 && done >= c.Total:
		return "0s"
	case done-base <= 0 || elapsed <= 0:
		return "?"
	}
	left := time.Duration(float64(elapsed) / float64(done-base) * float64(c.Total-done))
	if left > time.Minute {
		return left.Round(time.Second).String()
	}
	return left.Round(100 * time.Millisecond).String()
}

// Thousands formats n with a comma between groups of three digits
// (12,345).
func Thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
