package catalog

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestCatalogIsRealisticAndSorted(t *testing.T) {
	if got := len(All()); got < 300 {
		t.Fatalf("len(All()) = %d; want at least 300 services", got)
	}
	for i := 1; i < len(All()); i++ {
		if All()[i-1].Namespace >= All()[i].Namespace {
			t.Fatalf("catalog not sorted or has duplicates at %q", All()[i].Namespace)
		}
	}
	for _, ns := range []string{"s3", "ec2", "iam", "sts", "organizations", "lambda", "cloudwatch", "tag"} {
		s, ok := Lookup(ns)
		if !ok || s.Name == "" {
			t.Errorf("Lookup(%q) = %+v, %v; want a named service", ns, s, ok)
		}
	}
	for _, ns := range []string{"no-such-service", "monitoring", "tagging"} {
		if _, ok := Lookup(ns); ok {
			t.Errorf("Lookup(%q) succeeded; want not found", ns)
		}
	}
}

// TestNamespacesAreIAMPrefixes keeps the catalog to the names IAM's access
// reports and SCP actions use, not botocore signing names.
func TestNamespacesAreIAMPrefixes(t *testing.T) {
	prefixes := readPrefixes(t, "iam-prefixes.txt")
	if len(prefixes) < 400 {
		t.Fatalf("Got(IAM prefixes in iam-prefixes.txt) = %d; want the full list (~450)", len(prefixes))
	}
	for _, s := range All() {
		if !prefixes[s.Namespace] {
			t.Errorf("Got(namespace %q, %q); want an IAM service prefix from iam-prefixes.txt", s.Namespace, s.Name)
		}
		if s.Name == "" {
			t.Errorf("Got(name of %q) = %q; want a service name", s.Namespace, s.Name)
		}
	}
}

func readPrefixes(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out[l] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
