package orgmodel

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// Daily is the day-by-day activity model of an organization: from AsOf on,
// the organization's activity moves with the clock instead of standing
// still, so that consecutive runs differ as real nights do.
//
// Each account draws (from Seed and its id) how often it is active: a
// share of accounts are idle and never active again, the others are active
// on a given day with a probability of their own, whose mean over the
// non-idle accounts is ActiveShare. On an active day an account uses its
// habits, the services its activity up to AsOf shows: each one it used in
// the week before AsOf with probability 0.8, each older one with 0.1. On a
// few active days (BurstShare) it also uses one or two services it had
// never used. Each use falls at a random second of the day and reaches the
// reports only after a publication delay of up to PublicationDelay, as IAM
// publishes activity late.
//
// Everything is drawn from hashes of the seed, account, day and service,
// never from the order of calls, so the activity at an instant is the same
// however the clock got there.
type Daily struct {
	Seed int64 `json:"seed"`
	// ActiveShare is the mean probability that a non-idle account is
	// active on a given day, 0..1.
	ActiveShare float64 `json:"activeShare"`
	// IdleShare is the share of accounts never active after AsOf, 0..1.
	IdleShare float64 `json:"idleShare"`
	// BurstShare is the probability that an active day also uses one or
	// two services new to the account, 0..1.
	BurstShare float64 `json:"burstShare"`
}

// PublicationDelay is the longest the simulated IAM takes to publish an
// access in its reports.
const PublicationDelay = 4 * time.Hour

// DefaultDaily is the daily model of generated organizations that ask for
// one: a fifth of the accounts active on a given day, a tenth idle.
func DefaultDaily(seed int64) *Daily {
	return &Daily{Seed: seed, ActiveShare: 0.2, IdleShare: 0.1, BurstShare: 0.03}
}

func (d *Daily) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"activeShare", d.ActiveShare}, {"idleShare", d.IdleShare}, {"burstShare", d.BurstShare}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 1 {
			return fmt.Errorf("daily.%s must be 0..1, got %v", f.name, f.v)
		}
	}
	return nil
}

// use is one simulated access: account Account used service Namespace at
// At, and the reports show it from Published on.
type use struct {
	published time.Time
	at        time.Time
	account   string
	namespace string
	region    string
}

// habit is one service an account uses on its active days.
type habit struct {
	namespace string
	region    string
	p         float64
}

// dailyState is what AdvanceTo has done so far.
type dailyState struct {
	through   time.Time      // activity is published up to this instant
	nextDay   time.Time      // the first day not yet drawn
	pending   []use          // drawn, not yet published, by published
	accounts  []dailyAccount // the accounts that may be active
	newcomers []string       // namespaces a burst draws from
}

// dailyAccount is what an account that may be active draws once: its
// daily rate, its habits from the activity at AsOf, and its home region
// (that of its last habit with one), where its bursts happen.
type dailyAccount struct {
	id     string
	rate   float64
	habits []habit
	home   string
}

// AdvanceTo moves the organization's activity to instant t under its
// Daily model: every simulated use published by t is merged into
// Activity. Without a Daily model, or for an instant not after the last
// one, it does nothing (the clock does not run backwards). It is safe
// beside concurrent reports.
func (o *Org) AdvanceTo(t time.Time) {
	if o.Daily == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.daily
	if st == nil {
		st = o.startDaily()
		o.daily = st
	}
	if !t.After(st.through) {
		return
	}
	for !st.nextDay.After(t) {
		st.pending = append(st.pending, o.drawDay(st, st.nextDay)...)
		st.nextDay = st.nextDay.Add(24 * time.Hour)
	}
	slices.SortFunc(st.pending, func(a, b use) int { return a.published.Compare(b.published) })
	n := 0
	for ; n < len(st.pending) && !st.pending[n].published.After(t); n++ {
		u := st.pending[n]
		acts := o.Activity[u.account]
		if acts == nil {
			acts = map[string]Access{}
			o.Activity[u.account] = acts
		}
		if u.at.After(acts[u.namespace].Time) {
			acts[u.namespace] = Access{Time: u.at, Region: u.region}
		}
	}
	st.pending = slices.Delete(st.pending, 0, n)
	st.through = t
}

// startDaily takes the habits from the activity at AsOf.
func (o *Org) startDaily() *dailyState {
	st := &dailyState{
		through: o.AsOf,
		nextDay: o.AsOf.UTC().Truncate(24 * time.Hour),
	}
	if o.Activity == nil {
		o.Activity = map[string]map[string]Access{}
	}
	week := o.AsOf.Add(-7 * 24 * time.Hour)
	used := map[string]bool{}
	for _, a := range o.Accounts {
		if a.Status == "SUSPENDED" || o.Daily.draw("idle", a.ID) < o.Daily.IdleShare {
			continue
		}
		var hs []habit
		for ns, acc := range o.Activity[a.ID] {
			used[ns] = true
			p := 0.1
			if acc.Time.After(week) {
				p = 0.8
			}
			hs = append(hs, habit{namespace: ns, region: acc.Region, p: p})
		}
		slices.SortFunc(hs, func(x, y habit) int { return cmp.Compare(x.namespace, y.namespace) })
		home := "us-east-1"
		for _, h := range hs {
			if h.region != "" {
				home = h.region
			}
		}
		// The account's own rate: uniform on [0, 2·ActiveShare], capped at 1.
		rate := math.Min(1, 2*o.Daily.ActiveShare*o.Daily.draw("rate", a.ID))
		st.accounts = append(st.accounts, dailyAccount{id: a.ID, rate: rate, habits: hs, home: home})
	}
	for _, s := range catalog.All() {
		if !used[s.Namespace] {
			st.newcomers = append(st.newcomers, s.Namespace)
		}
	}
	return st
}

// drawDay draws the uses of the day that starts at day, leaving out those
// at or before the instant the activity already covers.
func (o *Org) drawDay(st *dailyState, day time.Time) []use {
	d := o.Daily
	key := day.Format(time.DateOnly)
	var out []use
	add := func(acct, ns, region string) {
		at := day.Add(time.Duration(d.draw("at", acct, key, ns) * float64(24*time.Hour))).Truncate(time.Second)
		if !at.After(o.AsOf) {
			return
		}
		lag := time.Duration(d.draw("lag", acct, key, ns) * float64(PublicationDelay))
		out = append(out, use{published: at.Add(lag), at: at, account: acct, namespace: ns, region: region})
	}
	for _, a := range st.accounts {
		acct := a.id
		if d.draw("active", acct, key) >= a.rate {
			continue
		}
		for _, h := range a.habits {
			if d.draw("use", acct, key, h.namespace) < h.p {
				add(acct, h.namespace, h.region)
			}
		}
		if len(st.newcomers) > 0 && d.draw("burst", acct, key) < d.BurstShare {
			for i := range 1 + int(d.draw("burst size", acct, key)*2) {
				ns := st.newcomers[int(d.draw("burst service", acct, key, fmt.Sprint(i))*float64(len(st.newcomers)))%len(st.newcomers)]
				add(acct, ns, a.home)
			}
		}
	}
	return out
}

// draw returns a number in [0, 1) fixed by the seed and the parts.
func (d *Daily) draw(parts ...string) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(d.Seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	// splitmix64's finaliser spreads FNV's low-entropy high bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
