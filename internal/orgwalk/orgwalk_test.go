package orgwalk_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// walker returns a walker over the real SDK client, talking to a simulator
// of org at orgTPS requests per second (0: unlimited).
func walker(t *testing.T, org *orgmodel.Org, orgTPS float64) *orgwalk.Walker {
	t.Helper()
	s, err := sim.New(sim.Options{Org: org, OrgTPS: orgTPS, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	client := organizations.New(organizations.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
	return &orgwalk.Walker{API: client}
}

func genOrg(t *testing.T) *orgmodel.Org {
	t.Helper()
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 25, Accounts: 60, Depth: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func TestWalkFindsEveryEntity(t *testing.T) {
	t.Parallel()
	org := genOrg(t)
	w := walker(t, org, 0)
	ctx := context.Background()
	p, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Plan([]orgwalk.Entity{p.Root()}, true, true, true)
	if err := w.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	ous, accounts := p.Counts()
	if ous != len(org.OUs) || accounts != len(org.Accounts) {
		t.Errorf("Got(walk) = %d OUs, %d accounts; want %d, %d", ous, accounts, len(org.OUs), len(org.Accounts))
	}
	for _, e := range p.Entities {
		if e.ID == org.ManagementAccountID {
			continue
		}
		want := slices.Sorted(slices.Values(org.PoliciesFor(e.ID)))
		if got := p.Attached[e.ID]; !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
			t.Errorf("Got(Attached[%s]) = %v; want %v", e.ID, got, want)
		}
		n, err := org.ResolvePath(e.Path)
		if err != nil || n.ID != e.ID {
			t.Errorf("Got(entity %s at %s); the model has %v, %v", e.ID, e.Path, n, err)
		}
	}
	for id, pol := range p.Policies {
		if pol.Content == "" || pol.Name == "" {
			t.Errorf("Got(policy %s) = %+v; want its name and document", id, pol)
		}
	}
}

// TestWalkStoppedAnywhereEndsTheSame: a walk stopped at many deadlines
// and continued from its JSON each time ends with the same Progress as
// one that ran straight through.
func TestWalkStoppedAnywhereEndsTheSame(t *testing.T) {
	t.Parallel()
	org := genOrg(t)
	ctx := context.Background()
	w := walker(t, org, 0)
	whole, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	whole.Plan([]orgwalk.Entity{whole.Root()}, true, true, true)
	if err := w.Run(ctx, whole); err != nil {
		t.Fatal(err)
	}

	slow := walker(t, org, 20)
	p, err := slow.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Plan([]orgwalk.Entity{p.Root()}, true, true, true)
	cuts := 0
	for done := false; !done; cuts++ {
		if cuts > 2000 {
			t.Fatal("walk not done")
		}
		done, err = slow.Continue(ctx, p, time.Now().Add(30*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		p = new(orgwalk.Progress)
		if err := json.Unmarshal(b, p); err != nil {
			t.Fatal(err)
		}
	}
	if cuts < 5 {
		t.Errorf("Got(cuts) = %d; want a walk cut in many", cuts)
	}
	p.Calls, p.Throttled, p.PaceMillis, p.ThrottledSince, p.NextCall = whole.Calls, whole.Throttled, whole.PaceMillis, whole.ThrottledSince, whole.NextCall
	got, _ := json.Marshal(p)
	want, _ := json.Marshal(whole)
	if string(got) != string(want) {
		t.Errorf("Got(walk in %d cuts) =\n%s\nwant\n%s", cuts, got, want)
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	org := genOrg(t)
	w := walker(t, org, 0)
	ctx := context.Background()
	p, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deep orgmodel.Node
	for _, n := range org.Entities() {
		if n.Type == orgmodel.TypeOU && n.Depth > deep.Depth {
			deep = n
		}
	}
	acct, _ := org.Node(org.Accounts[len(org.Accounts)-1].ID)
	for _, path := range []string{p.Root().Path, deep.Path, acct.Path} {
		e, err := w.Locate(ctx, p, path)
		if err != nil || e.Path != path || e.Name == "" {
			t.Errorf("Got(Locate(%s)) = %+v, %v; want the entity with its name", path, e, err)
		}
	}
	root := p.Root().Path
	bad := []string{
		"o-zzzzzzzzzz/r-abcd",
		root + "/ou-zzzz-zzzzzzzz",
		root + "/" + acct.ID + "/ou-aaaa-aaaaaaaa",
		root + "/999999999999",
	}
	if deep.ParentID != org.Root.ID {
		// The deep OU directly under the root is no path.
		bad = append(bad, root+"/"+deep.ID)
	}
	for _, path := range bad {
		_, err := w.Locate(ctx, p, path)
		var none *orgwalk.NoEntity
		if !errors.As(err, &none) {
			t.Errorf("Got(Locate(%s)) = %v; want NoEntity", path, err)
		}
	}
}

func TestUnder(t *testing.T) {
	ou := orgwalk.Entity{Path: "o-abcdefghij/r-ab12/ou-ab12-1"}
	tests := []struct {
		path string
		want bool
	}{
		{"o-abcdefghij/r-ab12/ou-ab12-1", true},
		{"o-abcdefghij/r-ab12/ou-ab12-1/111111111111", true},
		{"o-abcdefghij/r-ab12/ou-ab12-12", false},
		{"o-abcdefghij/r-ab12", false},
	}
	for _, tt := range tests {
		if got := orgwalk.Under(orgwalk.Entity{Path: tt.path}, ou); got != tt.want {
			t.Errorf("Got(Under(%s)) = %v; want %v", tt.path, got, tt.want)
		}
	}
}
