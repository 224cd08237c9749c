package sim

import "time"

// SetClock replaces the clock session expiry is judged by.
func SetClock(s *Simulator, now func() time.Time) { s.now = now }

// SetResetRate changes Options.ResetRate of a running simulator.
func SetResetRate(s *Simulator, rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rstRate = rate
}
