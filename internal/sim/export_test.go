package sim

import "time"

// SetClock replaces the clock session expiry is judged by.
func SetClock(s *Simulator, now func() time.Time) { s.now = now }
