package entityref

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// serve starts the simulator on org and returns an Organizations client
// for it.
func serve(t *testing.T, org *orgmodel.Org) *organizations.Client {
	t.Helper()
	s, err := sim.New(sim.Options{Org: org})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	endpoint, stop, err := sim.Serve(ctx, "127.0.0.1:0", s)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); cancel() })
	return organizations.New(organizations.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, ""),
	})
}

// pathInModel is the oracle: the entity path from the organization
// file's parent links.
func pathInModel(org *orgmodel.Org, id string) string {
	parent := map[string]string{}
	for _, ou := range org.OUs {
		parent[ou.ID] = ou.ParentID
	}
	for _, a := range org.Accounts {
		parent[a.ID] = a.ParentID
	}
	chain := []string{id}
	for cur := id; cur != org.Root.ID; cur = parent[cur] {
		chain = append([]string{parent[cur]}, chain...)
	}
	return org.ID + "/" + strings.Join(chain, "/")
}

func load(t *testing.T) *orgmodel.Org {
	org, err := orgmodel.LoadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func TestPathOfIDsAndNames(t *testing.T) {
	org := load(t)
	r := New(serve(t, org))
	ctx := context.Background()
	check := func(ref, want string) {
		t.Helper()
		got, err := r.Path(ctx, ref)
		if err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	check(org.Root.ID, org.ID+"/"+org.Root.ID)
	check(org.ID+"/"+org.Root.ID+"/anything", org.ID+"/"+org.Root.ID+"/anything") // a path is left to the input's checks
	names := map[string]int{}
	for _, ou := range org.OUs {
		names[ou.Name]++
	}
	for _, a := range org.Accounts {
		names[a.Name]++
	}
	for _, ou := range org.OUs {
		check(ou.ID, pathInModel(org, ou.ID))
		if names[ou.Name] == 1 {
			check(ou.Name, pathInModel(org, ou.ID))
		}
	}
	for _, a := range org.Accounts {
		check(a.ID, pathInModel(org, a.ID))
		if names[a.Name] == 1 {
			check(a.Name, pathInModel(org, a.ID))
		}
	}
	for _, ref := range []string{"ou-ab12-nowhere00", "000000000042", "r-zz99", "No Such OU"} {
		_, err := r.Path(ctx, ref)
		var nf *NotFound
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), org.ID) {
			t.Errorf("Path(%q) = %v; want NotFound naming %s", ref, err, org.ID)
		}
	}
}

func TestAmbiguousNameListsTheMatches(t *testing.T) {
	// Two OUs named alike, written as an organization file.
	b, err := os.ReadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"name": "Workloads"`)) {
		t.Fatal("the test organization has no Workloads OU")
	}
	p := filepath.Join(t.TempDir(), "org.json")
	if err := os.WriteFile(p, bytes.Replace(b, []byte(`"name": "Workloads"`), []byte(`"name": "Security"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	org, err := orgmodel.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r := New(serve(t, org))
	_, err = r.Path(context.Background(), org.OUs[0].Name)
	var amb *Ambiguous
	if !errors.As(err, &amb) || len(amb.Matches) != 2 {
		t.Fatalf("Path(%q) = %v; want Ambiguous with 2 matches", org.OUs[0].Name, err)
	}
	for _, ou := range org.OUs[:2] {
		if !strings.Contains(err.Error(), ou.ID+" ("+pathInModel(org, ou.ID)+")") {
			t.Errorf("Ambiguous = %q; want it to list %s with its path", err, ou.ID)
		}
	}
}
