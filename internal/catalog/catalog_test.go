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
	iam := readIAMServices(t, "iam-services.tsv")
	for _, s := range All() {
		if _, listed := iam[s.Namespace]; !listed && !prefixes[s.Namespace] {
			t.Errorf("Got(namespace %q, %q); want a service of iam-services.tsv or a prefix of iam-prefixes.txt", s.Namespace, s.Name)
		}
		if s.Name == "" {
			t.Errorf("Got(name of %q) = %q; want a service name", s.Namespace, s.Name)
		}
	}
}

// TestAgreesWithIAM checks the catalog against the list IAM returned for a
// full report, read here with its own parser: the same 455 services under
// IAM's names.
func TestAgreesWithIAM(t *testing.T) {
	iam := readIAMServices(t, "iam-services.tsv")
	if len(iam) != 455 {
		t.Fatalf("Got(services in iam-services.tsv) = %d; want 455", len(iam))
	}
	if got := len(All()); got != len(iam) {
		t.Errorf("Got(len(All())) = %d; want %d, IAM's list", got, len(iam))
	}
	for ns, name := range iam {
		s, ok := Lookup(ns)
		if !ok || s.Name != name {
			t.Errorf("Got(Lookup(%q)) = %+v, %v; want name %q", ns, s, ok, name)
		}
	}
	for ns, name := range map[string]string{"access-analyzer": "AWS IAM Access Analyzer", "aiops": "Amazon AI Operations"} {
		if s, _ := Lookup(ns); s.Name != name {
			t.Errorf("Got(Lookup(%q).Name) = %q; want %q", ns, s.Name, name)
		}
	}
}

func readIAMServices(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 2 {
			t.Fatalf("%s:%d: %q: want two tab-separated fields", path, i+1, l)
		}
		if i > 0 {
			out[f[0]] = f[1]
		}
	}
	return out
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
