package carry

import (
	"strings"
	"testing"
	"time"
)

const (
	root    = "o-abcdefghij/r-ab12"
	ouA     = root + "/ou-ab12-aaaaaaaa"
	ouB     = root + "/ou-ab12-bbbbbbbb"
	account = ouA + "/111111111111"
)

var asOf = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func base() Account {
	return Account{
		Path:     account,
		Policies: "fp",
		Earlier:  &Earlier{AsOf: asOf, Path: account, Policies: "fp", Services: []string{"s3", "ec2"}, OK: true},
		Above: []*Group{
			{Path: root, OK: true, LastAccess: map[string]time.Time{"s3": asOf.Add(-30 * 24 * time.Hour)}},
			{Path: ouA, OK: true, LastAccess: map[string]time.Time{"s3": asOf.Add(-30 * 24 * time.Hour)},
				Listed: []string{"ec2", "lambda", "s3"}, EarlierListed: []string{"ec2", "lambda", "s3"}},
		},
		Depth: 2,
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Account)
		carry  bool
		reason string // part of the reason
	}{
		{"nothing newer above", func(*Account) {}, true, "shows no access"},
		{"access just inside the publication delay", func(a *Account) {
			a.Above[1].LastAccess["s3"] = asOf.Add(-PublicationDelay + time.Second)
		}, false, "shows access to s3"},
		{"access exactly at as-of less the delay", func(a *Account) {
			a.Above[1].LastAccess["s3"] = asOf.Add(-PublicationDelay)
		}, true, "shows no access"},
		{"access after the report at the root only (in another OU's account)", func(a *Account) {
			a.Above[0].LastAccess["ec2"] = asOf.Add(time.Hour)
		}, true, ouA + " shows no access"},
		{"access after the report in the OU above", func(a *Account) {
			a.Above[0].LastAccess["ec2"] = asOf.Add(time.Hour)
			a.Above[1].LastAccess["ec2"] = asOf.Add(time.Hour)
		}, false, ouA + " shows access to ec2"},
		{"access to a service the account may not use", func(a *Account) {
			a.Above[1].LastAccess["lambda"] = asOf.Add(time.Hour)
		}, true, "shows no access"},
		{"no earlier report", func(a *Account) { a.Earlier = nil }, false, "no earlier report"},
		{"failed earlier report", func(a *Account) { a.Earlier.OK = false }, false, "failed"},
		{"moved", func(a *Account) { a.Earlier.Path = ouB + "/111111111111" }, false, "moved"},
		{"SCPs changed", func(a *Account) { a.Policies = "fp2" }, false, "SCPs"},
		{"the OU report above failed", func(a *Account) { a.Above[1].OK = false }, false, "no completed report"},
		{"the OU above not reported", func(a *Account) { a.Above[1] = nil }, false, "no completed report"},
		{"fewer levels than the path", func(a *Account) { a.Above = a.Above[:1] }, false, "every OU"},
		{"management account", func(a *Account) { a.Management = true }, false, "management"},
		{"a service the OU above did not list before", func(a *Account) {
			a.Above[1].Listed = append(a.Above[1].Listed, "newsvc")
		}, false, "lists newsvc, which it did not list"},
		{"a service the OU above no longer lists", func(a *Account) { a.Above[1].Listed = []string{"lambda", "s3"} }, false, "no longer lists ec2"},
		{"a service the OU above no longer lists, not the account's", func(a *Account) { a.Above[1].Listed = []string{"ec2", "s3"} }, true, "shows no access"},
		{"the OU above unknown to the earlier run", func(a *Account) { a.Above[1].EarlierListed = nil }, false, "no report of the OU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base()
			tt.change(&a)
			v := Decide(a)
			if v.Carry != tt.carry || !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("Got(Decide) = %+v; want carry %v with a reason containing %q", v, tt.carry, tt.reason)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	pols := map[string][]Attached{
		"r-ab12":           {{ID: "p-FullAWSAccess", Content: `{"allow":"*"}`}},
		"ou-ab12-aaaaaaaa": {{ID: "p-deny1234", Content: `{"deny":"s3:*"}`}, {ID: "p-allow123", Content: `{"allow":"ec2:*"}`}},
	}
	of := func(m map[string][]Attached) func(string) []Attached {
		return func(t string) []Attached { return m[t] }
	}
	fp := Fingerprint(account, of(pols))
	reordered := map[string][]Attached{
		"r-ab12":           pols["r-ab12"],
		"ou-ab12-aaaaaaaa": {pols["ou-ab12-aaaaaaaa"][1], pols["ou-ab12-aaaaaaaa"][0]},
	}
	if got := Fingerprint(account, of(reordered)); got != fp {
		t.Errorf("Got(Fingerprint of the same SCPs listed in another order) = %s; want %s", got, fp)
	}
	edited := map[string][]Attached{"r-ab12": pols["r-ab12"], "ou-ab12-aaaaaaaa": {{ID: "p-deny1234", Content: `{"deny":"ec2:*"}`}, pols["ou-ab12-aaaaaaaa"][1]}}
	moved := map[string][]Attached{"r-ab12": pols["r-ab12"], "111111111111": pols["ou-ab12-aaaaaaaa"]}
	detached := map[string][]Attached{"r-ab12": pols["r-ab12"]}
	for name, m := range map[string]map[string][]Attached{"edited document": edited, "attached at another level": moved, "detached": detached} {
		if got := Fingerprint(account, of(m)); got == fp {
			t.Errorf("Got(Fingerprint with the SCPs %s) = the same %s; want another", name, got)
		}
	}
}

func TestOrder(t *testing.T) {
	now := asOf
	day := 24 * time.Hour
	c := []Candidate{
		{Index: 0, AsOf: now.Add(-2 * day)},
		{Index: 1, AsOf: now.Add(-9 * day)},
		{Index: 2},
		{Index: 3, AsOf: now.Add(-1 * day)},
		{Index: 4, AsOf: now.Add(-8 * day)},
		{Index: 5},
	}
	Order(c, now, 7*day)
	var got []int
	for _, x := range c {
		got = append(got, x.Index)
	}
	want := []int{2, 5, 1, 4, 0, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Got(Order) = %v; want %v (no report first, then oldest first)", got, want)
		}
	}
}
