package findings

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpplan"
)

// orgRun is a run of a root, OUs two levels deep and accounts under them,
// the management account under the root, over the first 60 catalog
// services. Each OU's own report shows only part of what its accounts used
// (reports taken at different instants), so a plan that dropped the
// accounts' use would deny services in use. The OU at index failedOU has a
// failed report.
func orgRun(t testing.TB, ous, accounts int, seed uint64) Input {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var nss []string
	for _, s := range catalog.All()[:60] {
		nss = append(nss, s.Namespace)
	}
	mk := func(ent reportdoc.Entity, used map[string]int) Entry {
		ages := map[string]int{}
		for _, ns := range nss {
			ages[ns] = -1
		}
		for ns, d := range used {
			ages[ns] = d
		}
		r := report(t, ent.ID, ages)
		r.Entity = ent
		d := DigestOf(r, 90)
		return Entry{Entity: ent, Status: reportdoc.StatusCompleted, Digest: &d}
	}
	use := func(n int) map[string]int {
		u := map[string]int{}
		for range n {
			u[nss[rng.IntN(len(nss))]] = rng.IntN(200) // some within 90 days, some not
		}
		return u
	}
	root := reportdoc.Entity{ID: "r-ab12", Type: reportdoc.TypeRoot, Name: "Root", Path: "o-abcdefghij/r-ab12"}
	entries := []Entry{mk(root, use(3))}
	var ouPaths []string
	for i := range ous {
		parent := root.Path
		if i >= 4 { // the first four OUs are top-level, the rest under them
			parent = ouPaths[i%4]
		}
		ent := reportdoc.Entity{ID: fmt.Sprintf("ou-ab12-%08d", i), Type: reportdoc.TypeOU, Name: fmt.Sprintf("OU %d", i)}
		ent.Path = parent + "/" + ent.ID
		ouPaths = append(ouPaths, ent.Path)
		if i == failedOU {
			entries = append(entries, Entry{Entity: ent, Status: reportdoc.StatusFailed, Error: &reportdoc.Error{Code: "FAILED", Message: "x"}})
			continue
		}
		entries = append(entries, mk(ent, use(2)))
	}
	mgmt := reportdoc.Entity{ID: "100000000000", Type: reportdoc.TypeAccount, Name: "Management", Path: root.Path + "/100000000000"}
	m := mk(mgmt, use(40))
	m.Management = true
	entries = append(entries, m)
	for i := range accounts {
		ent := reportdoc.Entity{ID: fmt.Sprintf("%012d", 100000000001+i), Type: reportdoc.TypeAccount, Name: fmt.Sprintf("acct %d", i)}
		ent.Path = ouPaths[i%len(ouPaths)] + "/" + ent.ID
		if i%50 == 7 {
			entries = append(entries, Entry{Entity: ent, Status: reportdoc.StatusFailed, Error: &reportdoc.Error{Code: "FAILED", Message: "x"}})
			continue
		}
		entries = append(entries, mk(ent, use(4)))
	}
	return Input{Summary: summary(), UnusedDays: 90, Entries: sortedEntries(entries)}
}

const failedOU = 5

// planOracle plans in with the planner itself over every entity's node,
// accounts included, with OUsOnly as given.
func planOracle(t *testing.T, in Input, ousOnly bool) *scpplan.Plan {
	t.Helper()
	nodes, known, err := PlanNodes(in.Entries, 90)
	if err != nil {
		t.Fatal(err)
	}
	p, err := scpplan.Make(scpplan.Input{Nodes: nodes, AttachmentsKnown: known, OUsOnly: ousOnly})
	if err != nil {
		t.Fatal(err)
	}
	if err := scpplan.Verify(p, nodes); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanOfLargeRunTargetsRootAndOUs(t *testing.T) {
	in := orgRun(t, 24, maxPlanReports+100, 5)
	got := planOf(in.Entries, 90)
	if got.Plan == nil {
		t.Fatalf("Got(plan error) = %q; want a plan", got.Error)
	}
	if !got.OUsOnly || got.Reports != len(in.Entries) {
		t.Errorf("Got(OUsOnly, Reports) = %v, %d; want true, %d", got.OUsOnly, got.Reports, len(in.Entries))
	}
	want := planOracle(t, in, true)
	if !reflect.DeepEqual(got.Plan.Policies, want.Policies) || !reflect.DeepEqual(got.Plan.Stopped, want.Stopped) {
		t.Errorf("Got(plan) = %d policies %+v; want %d policies %+v (the planner over every node, OUs only)",
			len(got.Plan.Policies), got.Plan.Stopped, len(want.Policies), want.Stopped)
	}
	if len(want.Policies) == 0 {
		t.Fatal("Got(no policies); want a plan with something to compare")
	}
	for _, p := range got.Plan.Policies {
		for _, id := range p.Targets {
			if reportdoc.EntityTypeOf(id) == reportdoc.TypeAccount {
				t.Errorf("Got(target %s in %s); want root and OU targets only", id, p.Name)
			}
		}
	}
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.HTML), "orgaudit scp --plan") || !strings.Contains(string(res.HTML), `"o":"this run has more than 2,000 reports`) {
		t.Error("Got(report.html without the note); want the plan's restriction said, with the command for the full plan")
	}
}

func TestPlanOfSmallRunIsTheFullPlan(t *testing.T) {
	in := orgRun(t, 12, 300, 6)
	got := planOf(in.Entries, 90)
	if got.Plan == nil || got.OUsOnly {
		t.Fatalf("Got(plan) = %+v; want a full plan", got)
	}
	want := planOracle(t, in, false)
	if !reflect.DeepEqual(got.Plan.Policies, want.Policies) || !reflect.DeepEqual(got.Plan.Stopped, want.Stopped) {
		t.Errorf("Got(%d policies); want %d, the planner's own", len(got.Plan.Policies), len(want.Policies))
	}
	accounts := 0
	for _, p := range got.Plan.Policies {
		for _, id := range p.Targets {
			if reportdoc.EntityTypeOf(id) == reportdoc.TypeAccount {
				accounts++
			}
		}
	}
	if accounts == 0 {
		t.Error("Got(no account targets); want accounts planned below the limit")
	}
}
