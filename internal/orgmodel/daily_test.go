package orgmodel_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

func dailyOrg(t *testing.T, accounts int) *orgmodel.Org {
	t.Helper()
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 20, Accounts: accounts, Depth: 3, Seed: 11, Daily: true})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func activityCopy(o *orgmodel.Org) map[string]map[string]orgmodel.Access {
	out := map[string]map[string]orgmodel.Access{}
	for a, m := range o.Activity {
		out[a] = maps.Clone(m)
	}
	return out
}

func sameActivity(a, b map[string]map[string]orgmodel.Access) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]orgmodel.Access) bool { return maps.Equal(x, y) })
}

func TestDailyActivityIsTheSameHoweverTheClockGotThere(t *testing.T) {
	direct, stepped := dailyOrg(t, 300), dailyOrg(t, 300)
	end := direct.AsOf.Add(5*24*time.Hour + 7*time.Hour)
	direct.AdvanceTo(end)
	for at := stepped.AsOf; at.Before(end); at = at.Add(97 * time.Minute) {
		stepped.AdvanceTo(at)
	}
	stepped.AdvanceTo(end)
	stepped.AdvanceTo(end.Add(-time.Hour)) // the clock does not run backwards
	if !sameActivity(direct.Activity, stepped.Activity) {
		t.Fatal("Got(activity stepped to the instant) != activity advanced at once; want the same")
	}
	if base := dailyOrg(t, 300); sameActivity(base.Activity, direct.Activity) {
		t.Fatal("Got(activity after five days) = the activity at AsOf; want it moved")
	}
}

func TestDailyActivityNeverRunsAhead(t *testing.T) {
	org := dailyOrg(t, 1000)
	prev := activityCopy(org)
	for step := 1; step <= 7*6; step++ {
		at := org.AsOf.Add(time.Duration(step) * 4 * time.Hour)
		org.AdvanceTo(at)
		for _, a := range org.Accounts {
			for ns, acc := range org.Activity[a.ID] {
				if acc.Time.After(at) {
					t.Fatalf("Got(%s %s last access) = %s; want none after the clock %s", a.ID, ns, acc.Time, at)
				}
				if p, ok := prev[a.ID][ns]; ok && acc.Time.Before(p.Time) {
					t.Fatalf("Got(%s %s last access) moved back from %s to %s", a.ID, ns, p.Time, acc.Time)
				}
			}
			if a.Status == "SUSPENDED" && !maps.Equal(prev[a.ID], org.Activity[a.ID]) {
				t.Fatalf("Got(suspended account %s) with new activity; want none", a.ID)
			}
		}
		prev = activityCopy(org)
	}
}

func TestDailyActivityIsPublishedLate(t *testing.T) {
	org := dailyOrg(t, 500)
	end := org.AsOf.Add(2 * 24 * time.Hour)
	org.AdvanceTo(end)
	final := activityCopy(org)
	late := dailyOrg(t, 500)
	// Just before end, the uses of the last hours are not all published:
	// at least one use seen at end happened before end-1h but is missing
	// at end-1h.
	late.AdvanceTo(end.Add(-time.Hour))
	hidden := 0
	for a, m := range final {
		for ns, acc := range m {
			if acc.Time.Before(end.Add(-time.Hour)) && late.Activity[a][ns].Time.Before(acc.Time) {
				hidden++
			}
		}
	}
	if hidden == 0 {
		t.Error("Got(uses made before end-1h but published after it) = 0; want some (IAM publishes late)")
	}
	// Nothing stays unpublished past the delay: what a later clock shows
	// of the uses up to end, the clock at end plus the delay shows too.
	byDelay, later := dailyOrg(t, 500), dailyOrg(t, 500)
	byDelay.AdvanceTo(end.Add(orgmodel.PublicationDelay))
	later.AdvanceTo(end.Add(3 * orgmodel.PublicationDelay))
	for a, m := range later.Activity {
		for ns, acc := range m {
			if !acc.Time.After(end) && byDelay.Activity[a][ns] != acc {
				t.Fatalf("Got(%s %s at %s) published only after %s; want within %s", a, ns, acc.Time, end, orgmodel.PublicationDelay)
			}
		}
	}
}

func TestActivityStandsStillWithoutTheDailyModel(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 5, Accounts: 50, Depth: 2, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	before := activityCopy(org)
	org.AdvanceTo(org.AsOf.Add(30 * 24 * time.Hour))
	if !sameActivity(before, org.Activity) {
		t.Fatal("Got(activity moved) without a daily model; want it to stand still")
	}
}

func TestGeneratedOrganizationsHaveTheirOwnID(t *testing.T) {
	ids := map[string]orgmodel.GenerateOptions{}
	for _, o := range []orgmodel.GenerateOptions{
		{OUs: 40, Accounts: 300, Depth: 4, Seed: 7},
		{OUs: 40, Accounts: 301, Depth: 4, Seed: 7},
		{OUs: 41, Accounts: 300, Depth: 4, Seed: 7},
		{OUs: 40, Accounts: 300, Depth: 3, Seed: 7},
		{OUs: 40, Accounts: 300, Depth: 4, Seed: 8},
		{OUs: 40, Accounts: 300, Depth: 4, Seed: 7, Policies: 3},
		{OUs: 40, Accounts: 300, Depth: 4, Seed: 7, Policies: -1},
	} {
		org, err := orgmodel.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := ids[org.ID]; dup {
			t.Errorf("Got(id of %+v) = %s, the id of %+v; want its own", o, org.ID, prev)
		}
		ids[org.ID] = o
		o.AsOf, o.Daily = time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), true
		again, _ := orgmodel.Generate(o)
		if again.ID != org.ID || orgmodel.GeneratedID(o) != org.ID {
			t.Errorf("Got(id of %+v twice) = %s, %s; want the same", o, org.ID, again.ID)
		}
	}
}

func TestDailyModelIsChecked(t *testing.T) {
	org := dailyOrg(t, 20)
	org.Daily.ActiveShare = 1.5
	if err := org.Index(); err == nil || !strings.Contains(err.Error(), "daily.activeShare") {
		t.Errorf("Got(Index with activeShare 1.5) = %v; want an error naming daily.activeShare", err)
	}
}
