package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Cap: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{4, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for i := 0; i < 200; i++ {
			if d := p.Delay(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("Got(Delay(%d)) = %v; want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Got(Sleep cancelled) = %v; want context.Canceled", err)
	}
}
