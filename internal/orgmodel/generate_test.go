package orgmodel_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

func generate(t testing.TB, opts orgmodel.GenerateOptions) *orgmodel.Org {
	t.Helper()
	o, err := orgmodel.Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v) = %v", opts, err)
	}
	return o
}

func marshal(t testing.TB, o *orgmodel.Org) []byte {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatalf("Marshal = %v", err)
	}
	return b
}

func TestGenerateDeterministic(t *testing.T) {
	opts := orgmodel.GenerateOptions{OUs: 40, Accounts: 300, Depth: 4, Seed: 7}
	a, b := marshal(t, generate(t, opts)), marshal(t, generate(t, opts))
	if !bytes.Equal(a, b) {
		t.Errorf("Got(two runs of seed 7) differ; want identical output")
	}
	opts.Seed = 8
	if c := marshal(t, generate(t, opts)); bytes.Equal(a, c) {
		t.Errorf("Got(seeds 7 and 8) identical; want different organizations")
	}
	if o := generate(t, opts); !o.AsOf.Equal(orgmodel.DefaultAsOf) {
		t.Errorf("Got(AsOf) = %s; want DefaultAsOf %s", o.AsOf, orgmodel.DefaultAsOf)
	}
}

func TestGenerateOptionErrors(t *testing.T) {
	tests := []struct {
		opts orgmodel.GenerateOptions
		want string
	}{
		{orgmodel.GenerateOptions{OUs: -1, Accounts: 1, Depth: 1}, "ous must be 0..1000"},
		{orgmodel.GenerateOptions{OUs: 1001, Accounts: 1, Depth: 1}, "ous must be 0..1000"},
		{orgmodel.GenerateOptions{OUs: 1, Accounts: 1, Depth: 0}, "depth must be 1..5"},
		{orgmodel.GenerateOptions{OUs: 1, Accounts: 1, Depth: 6}, "depth must be 1..5"},
		{orgmodel.GenerateOptions{OUs: 1, Accounts: 0, Depth: 1}, "accounts must be >= 1 (the management account)"},
		{orgmodel.GenerateOptions{OUs: 1, Accounts: 100001, Depth: 1}, "accounts must be at most 100000"},
		{orgmodel.GenerateOptions{OUs: 1, Accounts: 1, Depth: 1, Policies: 101}, "policies must be at most 100"},
	}
	for _, tc := range tests {
		_, err := orgmodel.Generate(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Got(%+v) = %v; want an error containing %q", tc.opts, err, tc.want)
		}
	}
}

var (
	orgIDRE     = regexp.MustCompile(`^o-[0-9a-z]{10}$`)
	rootIDRE    = regexp.MustCompile(`^r-[0-9a-z]{4}$`)
	accountIDRE = regexp.MustCompile(`^\d{12}$`)
	emailRE     = regexp.MustCompile(`^[a-z0-9+.-]+@[a-z0-9.-]+$`)
)

func TestGenerateQuotas(t *testing.T) {
	tests := []orgmodel.GenerateOptions{
		{OUs: 0, Accounts: 1, Depth: 1, Seed: 1},
		{OUs: 0, Accounts: 30, Depth: 3, Seed: 2},
		{OUs: 3, Accounts: 10, Depth: 5, Seed: 3},
		{OUs: 5, Accounts: 10, Depth: 5, Seed: 3},
		{OUs: 9, Accounts: 10, Depth: 3, Seed: 3},
		{OUs: 12, Accounts: 50, Depth: 5, Seed: 4, Policies: -1},
		{OUs: 60, Accounts: 400, Depth: 2, Seed: 5, Policies: 12},
		{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 6},
	}
	for _, opts := range tests {
		o := generate(t, opts)
		if ous, accts := o.EntityCount(); ous != opts.OUs || accts != opts.Accounts {
			t.Errorf("Got(%+v) = %d OUs, %d accounts; want %d, %d", opts, ous, accts, opts.OUs, opts.Accounts)
		}
		if !orgIDRE.MatchString(o.ID) || !rootIDRE.MatchString(o.Root.ID) {
			t.Errorf("Got(%+v) ids = %s %s; want o-<10> r-<4>", opts, o.ID, o.Root.ID)
		}
		ouRE := regexp.MustCompile(`^ou-` + strings.TrimPrefix(o.Root.ID, "r-") + `-[0-9a-z]{8}$`)
		maxDepth := 0
		for _, ou := range o.OUs {
			n, _ := o.Node(ou.ID)
			maxDepth = max(maxDepth, n.Depth)
			if !ouRE.MatchString(ou.ID) || ou.Name == "" {
				t.Errorf("Got(%+v) OU %q %q; want ou-<root>-<8> and a name", opts, ou.ID, ou.Name)
			}
		}
		if maxDepth > opts.Depth || (opts.OUs >= opts.Depth && maxDepth != opts.Depth) {
			t.Errorf("Got(%+v) deepest OU level = %d; want %d", opts, maxDepth, opts.Depth)
		}
		names := map[string]bool{}
		for _, a := range o.Accounts {
			if !accountIDRE.MatchString(a.ID) || !emailRE.MatchString(a.Email) || names[a.Name] {
				t.Errorf("Got(%+v) account %q %q %q; want 12 digits, an email and a unique name", opts, a.ID, a.Name, a.Email)
			}
			names[a.Name] = true
		}
		mgmt, _ := o.Node(o.ManagementAccountID)
		if mgmt.Name != "management" || mgmt.ParentID != o.Root.ID {
			t.Errorf("Got(%+v) management account = %+v; want \"management\" under the root", opts, mgmt)
		}
		// FullAWSAccess, the allow-lists and the two deny SCPs.
		wantPolicies := 1 + orgmodel.DefaultPolicies + 2
		if opts.Policies < 0 {
			wantPolicies = 1
		} else if opts.Policies > 0 {
			wantPolicies = 1 + opts.Policies + 2
		}
		if len(o.Policies) != wantPolicies {
			t.Errorf("Got(%+v) = %d policies; want %d", opts, len(o.Policies), wantPolicies)
		}
		for _, n := range o.Entities() {
			if p := o.PoliciesFor(n.ID); len(p) < 1 || len(p) > 5 {
				t.Errorf("Got(%+v) %s has %d SCPs; want 1..5", opts, n.ID, len(p))
			}
			if len(n.Path) > 427 {
				t.Errorf("Got(%+v) %s path of %d characters; want at most 427", opts, n.ID, len(n.Path))
			}
		}
		if got := o.PoliciesFor(o.Root.ID); got[0] != orgmodel.FullAWSAccessID || len(got) != min(2, wantPolicies) {
			t.Errorf("Got(%+v) root SCPs = %v; want [p-FullAWSAccess] and the region deny", opts, got)
		}
		// The region deny is conditional: the root keeps every service.
		if got := len(o.AllowedServices(o.Root.ID)); got != len(catalog.All()) {
			t.Errorf("Got(%+v) root allows %d services; want all %d", opts, got, len(catalog.All()))
		}
		for acct, svcs := range o.Activity {
			for ns, a := range svcs {
				if a.Time.After(o.AsOf) || a.Time.Before(o.AsOf.AddDate(0, 0, -401)) || a.Region == "" {
					t.Errorf("Got(%+v) activity %s %s = %+v; want within 400 days before %s", opts, acct, ns, a, o.AsOf)
				}
			}
		}
		// The file format round-trips: Load validates ids, namespaces and
		// the tree, then indexes.
		back, err := orgmodel.Load(bytes.NewReader(marshal(t, o)))
		if err != nil {
			t.Fatalf("Got(Load(Generate(%+v))) = %v", opts, err)
		}
		if !bytes.Equal(marshal(t, back), marshal(t, o)) {
			t.Errorf("Got(%+v) a different organization after a JSON round trip", opts)
		}
	}
}

func TestGenerateSkew(t *testing.T) {
	o := generate(t, orgmodel.GenerateOptions{OUs: 50, Accounts: 1000, Depth: 4, Seed: 11})
	users := map[string]int{}
	for _, svcs := range o.Activity {
		for ns := range svcs {
			users[ns]++
		}
	}
	active := len(o.Activity)
	if idle := len(o.Accounts) - active; idle < 10 || idle > 300 {
		t.Errorf("Got(idle accounts) = %d; want some, not most (10..300 of 1000)", idle)
	}
	for _, ns := range []string{"sts", "s3", "ec2", "iam", "kms", "logs", "cloudwatch"} {
		if users[ns] < active*9/10 {
			t.Errorf("Got(accounts using %s) = %d; want nearly every one of %d active accounts", ns, users[ns], active)
		}
	}
	never, rare := 0, 0
	for _, s := range catalog.All() {
		switch n := users[s.Namespace]; {
		case n == 0:
			never++
		case n < active/20:
			rare++
		}
	}
	if never < len(catalog.All())/2 {
		t.Errorf("Got(services never used) = %d; want most of %d", never, len(catalog.All()))
	}
	if rare < 20 {
		t.Errorf("Got(services used by under 5%% of accounts) = %d; want a long tail (>= 20)", rare)
	}
	// Allow-lists replace FullAWSAccess somewhere, so some entity is
	// restricted.
	restricted := 0
	for _, n := range o.Entities() {
		if len(o.AllowedServices(n.ID)) < len(catalog.All()) {
			restricted++
		}
	}
	if restricted == 0 {
		t.Errorf("Got(restricted entities) = 0; want SCPs that restrict")
	}
	// Last accesses spread over the period, not bunched at AsOf.
	old := 0
	for _, svcs := range o.Activity {
		for _, a := range svcs {
			if o.AsOf.Sub(a.Time) > 180*24*time.Hour {
				old++
			}
		}
	}
	if old == 0 {
		t.Errorf("Got(accesses older than 180 days) = 0; want a spread over ~400 days")
	}
}

func BenchmarkGenerate(b *testing.B) {
	opts := orgmodel.GenerateOptions{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 1}
	for b.Loop() {
		if _, err := orgmodel.Generate(opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAccessReportRoot(b *testing.B) {
	o := generate(b, orgmodel.GenerateOptions{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 1})
	path := o.Entities()[0].Path
	for b.Loop() {
		if _, err := o.AccessReport(path, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGenerateDenySCPs checks the generated deny SCPs: a region deny at
// the root that removes nothing, and a whole-service Deny at one OU that
// removes its services from everything below it and nothing above.
func TestGenerateDenySCPs(t *testing.T) {
	o := generate(t, orgmodel.GenerateOptions{OUs: 40, Accounts: 300, Depth: 4, Seed: 1})
	var region, services *orgmodel.Policy
	for _, p := range o.ListPolicies() {
		switch p.Name {
		case "DenyOutsideApprovedRegions":
			region = p
		case "DenyUnapprovedServices":
			services = p
		}
	}
	if region == nil || services == nil {
		t.Fatalf("Got(policies) without DenyOutsideApprovedRegions or DenyUnapprovedServices")
	}
	for _, want := range []string{`"Effect": "Deny"`, `"NotAction"`, `"aws:RequestedRegion"`, `"StringNotEquals"`} {
		if !strings.Contains(region.Text(), want) {
			t.Errorf("Got(region deny) = %s; want it to contain %s", region.Text(), want)
		}
	}
	if got := o.TargetsFor(region.ID); len(got) != 1 || got[0] != o.Root.ID {
		t.Errorf("Got(TargetsFor(region deny)) = %v; want the root", got)
	}
	targets := o.TargetsFor(services.ID)
	if len(targets) != 1 {
		t.Fatalf("Got(TargetsFor(services deny)) = %v; want one OU", targets)
	}
	ou, _ := o.Node(targets[0])
	if ou.Type != orgmodel.TypeOU || ou.Name != "Sandbox" {
		t.Errorf("Got(services deny target) = %s %q; want the Sandbox OU", ou.ID, ou.Name)
	}
	// The same organization without the Deny, for comparison.
	without := generate(t, orgmodel.GenerateOptions{OUs: 40, Accounts: 300, Depth: 4, Seed: 1})
	if err := without.DetachPolicy(ou.ID, services.ID); err != nil {
		t.Fatalf("DetachPolicy(%s) = %v", ou.ID, err)
	}
	removed := 0
	for _, n := range o.Entities() {
		below := n.ID == ou.ID || strings.HasPrefix(n.Path, ou.Path+"/")
		allowed, before := o.AllowedServices(n.ID), without.AllowedServices(n.ID)
		if !below {
			if !slices.Equal(allowed, before) {
				t.Errorf("Got(AllowedServices(%s)) = %d services; want the %d it has without the Deny", n.Path, len(allowed), len(before))
			}
			continue
		}
		want := slices.DeleteFunc(slices.Clone(before), func(ns string) bool {
			return ns == "gamelift" || ns == "lightsail" || ns == "braket"
		})
		if !slices.Equal(allowed, want) {
			t.Errorf("Got(AllowedServices(%s)) = %d services; want the %d it has without the Deny, less gamelift, lightsail and braket", n.Path, len(allowed), len(before))
		}
		if len(want) < len(before) {
			removed++
		}
	}
	if removed < 2 {
		t.Errorf("Got(entities that lose services to the Deny) = %d; want the OU and some accounts", removed)
	}
	// A report for each deny SCP lists nothing: they allow nothing.
	for _, p := range []*orgmodel.Policy{region, services} {
		r, err := o.AccessReport(o.ID+"/"+o.Root.ID, p.ID)
		if err != nil || len(r.Services) != 0 {
			t.Errorf("Got(report for %s) = %v services, %v; want none", p.Name, len(r.Services), err)
		}
	}
}

// BenchmarkAllowedServicesEveryEntity evaluates the SCPs of every entity
// of a large generated organization (allow-lists, the region deny, the
// whole-service deny), as a full audit's reports do.
func BenchmarkAllowedServicesEveryEntity(b *testing.B) {
	o := generate(b, orgmodel.GenerateOptions{OUs: 1000, Accounts: 10000, Depth: 5, Seed: 1})
	entities := o.Entities()
	for b.Loop() {
		for _, n := range entities {
			_ = o.AllowedServices(n.ID)
		}
	}
}

func TestGenerateOneLevelOfManyOUs(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 40, Accounts: 100, Depth: 1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(org.OUs) != 40 {
		t.Fatalf("Got(OUs) = %d; want 40", len(org.OUs))
	}
	for _, ou := range org.OUs {
		if ou.ParentID != org.Root.ID {
			t.Errorf("Got(%s %q under %s); want every OU under the root at depth 1", ou.ID, ou.Name, ou.ParentID)
		}
	}
}
