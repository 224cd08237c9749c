package iamreports_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestReportsFollowTheDailyActivity: an organization with a daily model
// answers a report with the activity of the service's clock, so a report
// asked a day later shows newer last accesses, and never one after the
// job's creation.
func TestReportsFollowTheDailyActivity(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 4, Accounts: 60, Depth: 2, Seed: 3, Daily: true, AsOf: start.Truncate(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, org, iamreports.Options{Latency: func(int) time.Duration { return time.Second }})
	c := e.client("admin")
	root := org.ID + "/" + org.Root.ID
	newest := func() time.Time {
		out := wait(t, c, generate(t, c, root, ""))
		var last time.Time
		for _, d := range out.AccessDetails {
			if l := aws.ToTime(d.LastAuthenticatedTime); l.After(last) {
				last = l
			}
		}
		if created := aws.ToTime(out.JobCreationDate); last.After(created) {
			t.Fatalf("Got(last access %s) after the job's creation %s; want none", last, created)
		}
		return last
	}
	first := newest()
	e.clock.Add(24 * time.Hour)
	if second := newest(); !second.After(first.Add(12 * time.Hour)) {
		t.Errorf("Got(newest access a day later) = %s, against %s the day before; want the activity moved on", second, first)
	}
}
