package catalog

import "testing"

func TestCatalogIsRealisticAndSorted(t *testing.T) {
	if got := len(All()); got < 300 {
		t.Fatalf("len(All()) = %d; want at least 300 services", got)
	}
	for i := 1; i < len(All()); i++ {
		if All()[i-1].Namespace >= All()[i].Namespace {
			t.Fatalf("catalog not sorted or has duplicates at %q", All()[i].Namespace)
		}
	}
	for _, ns := range []string{"s3", "ec2", "iam", "sts", "organizations", "lambda"} {
		s, ok := Lookup(ns)
		if !ok || s.Name == "" {
			t.Errorf("Lookup(%q) = %+v, %v; want a named service", ns, s, ok)
		}
	}
	if _, ok := Lookup("no-such-service"); ok {
		t.Error("Lookup of an unknown namespace succeeded")
	}
}
