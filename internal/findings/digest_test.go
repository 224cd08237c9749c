package findings

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

var asOf = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// report builds an entity report whose services were last accessed the given
// number of days before asOf (-1: never).
func report(t testing.TB, id string, ages map[string]int) *reportdoc.EntityReport {
	t.Helper()
	r := &reportdoc.EntityReport{
		SchemaVersion: 1, RunID: "r1", OrganizationID: "o-abcdefghij",
		Entity: reportdoc.Entity{ID: id, Type: reportdoc.TypeOU, Name: id, Path: "o-abcdefghij/r-ab12/" + id},
		Job:    reportdoc.Job{ID: "job-" + id, Status: reportdoc.StatusCompleted, CreatedAt: reportdoc.NewTime(asOf.Add(-5 * time.Second)), CompletedAt: reportdoc.NewTime(asOf)},
	}
	for ns, days := range ages {
		s := reportdoc.Service{Namespace: ns, Name: ServiceName(ns)}
		if days >= 0 {
			s.LastAuthenticated = reportdoc.NewTime(asOf.Add(-time.Duration(days) * 24 * time.Hour))
		}
		r.Services = append(r.Services, s)
	}
	return r
}

func TestDigestRoundTrip(t *testing.T) {
	ages := map[string]int{"s3": 3, "ec2": 400, "iam": -1, "lambda": 90, "not-in-catalog": -1, "zz-custom": 12, "sts": 0}
	r := report(t, "ou-ab12-aaaa1111", ages)
	d := DigestOf(r, 90)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Digest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	svcs, err := back.Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != len(ages) {
		t.Fatalf("Got(len(Services)) = %d; want %d", len(svcs), len(ages))
	}
	for i, s := range svcs {
		if i > 0 && svcs[i-1].Namespace >= s.Namespace {
			t.Errorf("Got(order at %d) = %q after %q; want ascending", i, s.Namespace, svcs[i-1].Namespace)
		}
		if got, want := s.Days(), ages[s.Namespace]; got != want {
			t.Errorf("Got(Days(%q)) = %d; want %d", s.Namespace, got, want)
		}
	}
	// lambda at exactly 90 days is not unused: the reportdoc rule is
	// "before the cutoff", strictly.
	if got, want := back.Unused, len(r.UnusedServices(90, asOf)); got != want {
		t.Errorf("Got(Unused) = %d; want %d", got, want)
	}
	if back.Unused != 3 {
		t.Errorf("Got(Unused) = %d; want 3 (ec2, iam, not-in-catalog)", back.Unused)
	}
}

func TestDigestStaleCatalog(t *testing.T) {
	d := DigestOf(report(t, "ou-ab12-aaaa1111", map[string]int{"s3": 3, "ec2": -1}), 90)
	d.Catalog = "00000000"
	if _, err := d.Services(nil); !errors.Is(err, ErrStaleDigest) {
		t.Errorf("Got(Services error) = %v; want ErrStaleDigest", err)
	}
	acc, err := d.AccessedServices()
	if err != nil || len(acc) != 1 || acc[0].Namespace != "s3" {
		t.Errorf("Got(AccessedServices) = %v, %v; want [s3]", acc, err)
	}
}
