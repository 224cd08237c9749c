package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testRefRE matches a test named in docs/reliability.md: `pkg/path.TestName`.
var testRefRE = regexp.MustCompile("`((?:cmd|internal)/[a-z0-9/]+)\\.((?:Test|Fuzz)[A-Za-z0-9_]+)`")

// TestReliabilityDocNamesRealTests: every row of docs/reliability.md's
// tables names at least one test, and every test it names is a test or
// fuzz function of that package, so the matrix cannot point at a test that
// was renamed or never written.
func TestReliabilityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "reliability.md"))
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{} // package dir -> its test files, joined
	testsOf := func(dir string) string {
		if src, ok := sources[dir]; ok {
			return src
		}
		files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*_test.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("Got(no test files in %s); want the package docs/reliability.md names", dir)
		}
		var b strings.Builder
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(src)
		}
		sources[dir] = b.String()
		return sources[dir]
	}
	rows, named := 0, 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Scenario |") ||
			strings.HasPrefix(line, "| Input |") || strings.HasPrefix(line, "| Property |") {
			continue
		}
		rows++
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		refs := testRefRE.FindAllStringSubmatch(cells[len(cells)-1], -1)
		if len(refs) == 0 {
			t.Errorf("Got(row without a test) %q; want every row to name its test in the last column", line)
		}
		for _, ref := range refs {
			named++
			if !regexp.MustCompile(`(?m)^func ` + ref[2] + `\(`).MatchString(testsOf(ref[1])) {
				t.Errorf("Got(%s.%s named in docs/reliability.md); want a test function of that name in %s", ref[1], ref[2], ref[1])
			}
		}
	}
	if rows < 30 || named < rows {
		t.Errorf("Got(%d rows naming %d tests); want the three tables, each row naming a test", rows, named)
	}
}
