package iamactions

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

func TestKnownActions(t *testing.T) {
	for _, c := range []struct{ prefix, action string }{
		{"s3", "getobject"},
		{"s3", "putobject"},
		{"ec2", "describeinstances"},
		{"iam", "createrole"},
		{"cloudwatch", "putmetricdata"},
	} {
		acts, ok := Actions(c.prefix)
		if !ok || !slices.Contains(acts, c.action) {
			t.Errorf("Got(Actions(%q) contains %q) = false; want true", c.prefix, c.action)
		}
	}
	if _, ok := Actions("S3"); !ok {
		t.Error("Got(Actions(\"S3\") known) = false; want true (prefixes are matched without case)")
	}
	if _, ok := Actions("no-such-service"); ok {
		t.Error("Got(Actions(\"no-such-service\") known) = true; want false")
	}
}

func TestListShape(t *testing.T) {
	if n := Count(); n < 15000 {
		t.Errorf("Got(Count()) = %d; want the full list (over 15,000 actions)", n)
	}
	for i, s := range All() {
		if i > 0 && All()[i-1].Prefix >= s.Prefix {
			t.Fatalf("Got(prefix %q after %q); want sorted and unique", s.Prefix, All()[i-1].Prefix)
		}
		if !slices.IsSorted(s.Actions) || len(s.Actions) == 0 {
			t.Errorf("Got(%s actions sorted and non-empty) = false; want true", s.Prefix)
		}
	}
}

// Every service of the catalog that cfn-lint's policy data knows must
// resolve to actions, or whole-service patterns could not be told from
// partial ones for it. IAM's own list names a few services newer than that
// data (account-access, supportauthz, …); scpeval gives those stand-in
// actions, and there must be only a few.
func TestCatalogCovered(t *testing.T) {
	b, err := os.ReadFile("../catalog/iam-prefixes.txt")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			known[l] = true
		}
	}
	newer := 0
	for _, s := range catalog.All() {
		_, ok := Actions(s.Namespace)
		switch {
		case !ok && known[s.Namespace]:
			t.Errorf("Got(Actions(%q) known) = false; want every catalog namespace cfn-lint knows", s.Namespace)
		case !ok:
			newer++
		}
	}
	if newer > 10 {
		t.Errorf("Got(%d catalog services without actions); want at most 10 newer than the action data", newer)
	}
}
