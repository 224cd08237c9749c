package findings

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// synthRun builds a run of nEntities OU reports over nServices services
// (the catalog, topped up with made-up namespaces), with a deterministic
// spread of access ages: most services never used, a few recent, some old.
// Entity 1 carries a hostile name to exercise escaping; every 97th entity
// failed.
func synthRun(t testing.TB, nEntities, nServices int, seed uint64) Input {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var namespaces []string
	for _, s := range catalog.All() {
		if len(namespaces) == nServices {
			break
		}
		namespaces = append(namespaces, s.Namespace)
	}
	for i := 0; len(namespaces) < nServices; i++ {
		namespaces = append(namespaces, fmt.Sprintf("zz-extra-%03d", i))
	}
	completed := asOf.Add(10 * time.Minute)
	sum := &reportdoc.Summary{
		SchemaVersion: 1, RunID: "2026-11-25T03-00-00Z", OrganizationID: "o-abcdefghij",
		StartedAt: reportdoc.NewTime(asOf.Add(-time.Hour)), CompletedAt: reportdoc.NewTime(completed),
		Status: reportdoc.RunPartial,
	}
	var entries []Entry
	for i := range nEntities {
		id := fmt.Sprintf("ou-ab12-%08d", i)
		name := fmt.Sprintf("Team %04d", i)
		if i == 0 {
			id, name = "r-ab12", "Root"
		}
		if i == 1 {
			name = `<script>alert("x")</script> & "Ops"`
		}
		ent := reportdoc.Entity{ID: id, Type: reportdoc.TypeOU, Name: name, Path: fmt.Sprintf("o-abcdefghij/r-ab12/%s", id)}
		if i == 0 {
			ent.Type, ent.Path = reportdoc.TypeRoot, "o-abcdefghij/r-ab12"
		}
		sum.Entities.Total++
		if i%97 == 96 {
			sum.Entities.Failed++
			entries = append(entries, Entry{Entity: ent, Status: reportdoc.StatusFailed, Error: &reportdoc.Error{Code: "ReportGenerationLimitExceeded", Message: "too many jobs"}})
			continue
		}
		sum.Entities.Succeeded++
		ages := map[string]int{}
		for _, ns := range namespaces {
			switch x := rng.IntN(100); {
			case x < 4:
				continue // denied by an SCP: not listed
			case x < 80:
				ages[ns] = -1
			case x < 90:
				ages[ns] = rng.IntN(31)
			case x < 94:
				ages[ns] = 31 + rng.IntN(60)
			case x < 97:
				ages[ns] = 91 + rng.IntN(275)
			default:
				ages[ns] = 366 + rng.IntN(34)
			}
		}
		r := report(t, id, ages)
		r.Entity = ent
		d := DigestOf(r, 90)
		entries = append(entries, Entry{Entity: ent, Status: reportdoc.StatusCompleted, Digest: &d})
	}
	return Input{Summary: sum, UnusedDays: 90, Entries: entries}
}
