package orgwalk_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/orgwalk"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/scpeval"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// The policies document of a walked organization, through the real SDK
// against the simulator: every attached SCP once, with its content and
// targets as the model has them.
func TestWalkBuildsThePoliciesDocument(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 12, Accounts: 40, Depth: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Options{Org: org})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := organizations.NewFromConfig(aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	ctx := context.Background()
	w := &orgwalk.Walker{API: client}
	walk, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	walk.Plan([]orgwalk.Entity{walk.Root()}, true, false, true)
	if err := w.Run(ctx, walk); err != nil {
		t.Fatal(err)
	}
	if got, want := len(walk.Policies), len(policyset.AttachedIDs(walk.Attached)); got != want {
		t.Fatalf("Got(%d policies described); want %d, each once", got, want)
	}
	doc, err := policyset.FromWalk("run-1", walk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Parse(); err != nil {
		t.Errorf("Got(Parse of the described contents) error %v; want valid SCPs", err)
	}
	for _, p := range doc.Policies {
		mp, ok := org.Policy(p.ID)
		if !ok {
			t.Errorf("Got(policy %s); not in the model", p.ID)
			continue
		}
		var wantTargets []string
		for _, tg := range org.TargetsFor(p.ID) {
			if n, _ := org.Node(tg); n.Type != orgmodel.TypeAccount {
				wantTargets = append(wantTargets, tg) // the walk covered the root and OUs
			}
		}
		if p.Name != mp.Name || p.AWSManaged != mp.AWSManaged || len(p.Targets) != len(wantTargets) {
			t.Errorf("Got(%s: name %q, managed %v, targets %v); want %q, %v, %v", p.ID, p.Name, p.AWSManaged, p.Targets, mp.Name, mp.AWSManaged, wantTargets)
		}
	}
	full, ok := doc.Policy(orgmodel.FullAWSAccessID)
	if !ok || !full.AWSManaged {
		t.Fatalf("Got(FullAWSAccess in the document) = %v; want it, AWS managed", ok)
	}
	pol, _ := doc.Parse()
	if got := scpeval.Classify([][]*scpeval.Policy{{pol[full.ID]}}, "s3"); got != scpeval.NotDenied {
		t.Errorf("Got(Classify(s3) under FullAWSAccess as described) = %q; want not denied", got)
	}
}
