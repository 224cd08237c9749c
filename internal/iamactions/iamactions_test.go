package iamactions

import (
	"slices"
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

// Every service the simulator's catalog lists must resolve to actions, or
// whole-service patterns could not be told from partial ones for it.
func TestCatalogCovered(t *testing.T) {
	for _, s := range catalog.All() {
		if _, ok := Actions(s.Namespace); !ok {
			t.Errorf("Got(Actions(%q) known) = false; want every catalog namespace", s.Namespace)
		}
	}
}
