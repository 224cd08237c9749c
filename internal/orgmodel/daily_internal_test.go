package orgmodel

import (
	"testing"
	"time"
)

// TestDailyShareOfActiveAccounts counts, day by day, the accounts the
// model has use something: about ActiveShare of the accounts that are
// neither idle under the model nor without any activity to repeat.
func TestDailyShareOfActiveAccounts(t *testing.T) {
	org, err := Generate(GenerateOptions{OUs: 20, Accounts: 3000, Depth: 3, Seed: 5, Daily: true})
	if err != nil {
		t.Fatal(err)
	}
	st := org.startDaily()
	habitual := 0
	for _, a := range st.accounts {
		if len(a.habits) > 0 {
			habitual++
		}
	}
	day := org.AsOf
	var used, days int
	for range 14 {
		seen := map[string]bool{}
		for _, u := range org.drawDay(st, day) {
			if u.at.Before(day) || !u.at.Before(day.Add(24*time.Hour)) {
				t.Fatalf("Got(use at %s) drawn for the day %s; want within it", u.at, day)
			}
			if u.published.Before(u.at) || u.published.Sub(u.at) >= PublicationDelay {
				t.Fatalf("Got(use at %s published %s); want within %s after", u.at, u.published, PublicationDelay)
			}
			seen[u.account] = true
		}
		used += len(seen)
		days++
		day = day.Add(24 * time.Hour)
	}
	share := float64(used) / float64(days*habitual)
	if want := org.Daily.ActiveShare; share < want*0.85 || share > want*1.1 {
		t.Errorf("Got(share of accounts using something a day) = %.3f; want about %.2f", share, want)
	}
	idle := 1 - float64(len(st.accounts))/float64(len(org.Accounts))
	if want := org.Daily.IdleShare; idle < want*0.7 || idle > want*1.4+0.01 {
		t.Errorf("Got(share of idle accounts) = %.3f; want about %.2f", idle, want)
	}
}
