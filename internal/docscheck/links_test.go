package docscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, from this package's directory.
const root = "../.."

// pages are the documents a reader of the repository is pointed to.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 5 {
		t.Fatalf("Got(%d pages under docs/); want the documentation", len(docs))
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// page is a Markdown file split into its prose (fenced code blocks blanked,
// so that their text is neither links nor anchors) and its headings.
type page struct {
	path  string
	prose []string // one entry per line; "" for lines inside fences
	lines []string
}

func read(t *testing.T, path string) page {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := page{path: path, lines: strings.Split(string(b), "\n")}
	fenced := false
	for _, l := range p.lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			p.prose = append(p.prose, "")
			continue
		}
		if fenced {
			p.prose = append(p.prose, "")
		} else {
			p.prose = append(p.prose, l)
		}
	}
	return p
}

var (
	inlineLink  = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink     = regexp.MustCompile(`^\s*\[[^\]]+\]:\s*(\S+)`)
	codeSpan    = regexp.MustCompile("`([^`]+)`")
	headingLine = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	mdLink      = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// anchors are the heading ids GitHub gives a page: the heading's text
// lowercased, punctuation dropped, spaces turned to hyphens, and -1, -2 …
// added to repeats.
func (p page) anchors() map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, l := range p.prose {
		m := headingLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		text := mdLink.ReplaceAllString(m[2], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			out[fmt.Sprintf("%s-%d", id, n)] = true
		} else {
			out[id] = true
		}
		seen[id]++
	}
	return out
}

// links are the link targets of the page's prose, with their line numbers.
func (p page) links() (targets []string, lines []int) {
	for i, l := range p.prose {
		// Code spans are not links.
		l = codeSpan.ReplaceAllString(l, "")
		for _, m := range inlineLink.FindAllStringSubmatch(l, -1) {
			targets, lines = append(targets, m[1]), append(lines, i+1)
		}
		if m := refLink.FindStringSubmatch(l); m != nil {
			targets, lines = append(targets, m[1]), append(lines, i+1)
		}
	}
	return targets, lines
}

// TestRelativeLinksResolve: every relative link of README.md and docs/*.md
// names a file or directory of the repository, and every #anchor a heading
// of the page it points to.
func TestRelativeLinksResolve(t *testing.T) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, path := range pages(t) {
		p := read(t, path)
		targets, lines := p.links()
		for i, target := range targets {
			where := fmt.Sprintf("%s:%d", rel(path), lines[i])
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				abs, err := filepath.Abs(dest)
				if err != nil {
					t.Fatal(err)
				}
				if abs != absRoot && !strings.HasPrefix(abs, absRoot+string(filepath.Separator)) {
					t.Errorf("%s: Got(link %q outside the repository); want the docs to stand on their own", where, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: Got(link %q to a missing file); want an existing path", where, target)
					continue
				}
			}
			checked++
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if !read(t, dest).anchors()[anchor] {
				t.Errorf("%s: Got(link %q to a missing heading of %s); want one of its headings", where, target, rel(dest))
			}
		}
	}
	if checked < 20 {
		t.Errorf("Got(%d relative links checked); want the docs' links (the parser found too few)", checked)
	}
}

// topLevel are the repository's top-level directories a page may name.
var topLevel = []string{"cmd", "docs", "functions", "internal", "statemachine", "testdata", "tools"}

// generated are paths the docs name that tests write (gitignored).
var generated = []string{"testdata/artifacts/"}

// TestNamedPathsExist: a repository path a page writes in code type
// (`internal/…`, `cmd/orgaudit/testdata`, `testdata/org-small.json`) exists.
func TestNamedPathsExist(t *testing.T) {
	pathLike := regexp.MustCompile(`^(?:\./)?([a-z]+)/[A-Za-z0-9_./-]*$`)
	checked := 0
	for _, path := range pages(t) {
		p := read(t, path)
		for i, l := range p.prose {
			for _, m := range codeSpan.FindAllStringSubmatch(l, -1) {
				for _, word := range strings.Fields(m[1]) {
					pm := pathLike.FindStringSubmatch(word)
					if pm == nil || !slices.Contains(topLevel, pm[1]) {
						continue
					}
					name := strings.TrimSuffix(strings.TrimPrefix(word, "./"), "/")
					if slices.ContainsFunc(generated, func(g string) bool { return strings.HasPrefix(name, g) }) {
						continue
					}
					checked++
					// internal/pipeline.TestThrottling names a function of
					// a package.
					symbol := ""
					if j := strings.LastIndexByte(name, '.'); j > strings.LastIndexByte(name, '/') && j+1 < len(name) && unicode.IsUpper(rune(name[j+1])) {
						name, symbol = name[:j], name[j+1:]
					}
					dir := filepath.Join(root, filepath.FromSlash(name))
					if _, err := os.Stat(dir); err != nil {
						t.Errorf("%s:%d: Got(%q, which the repository does not hold); want an existing path from the repository's root", rel(path), i+1, word)
						continue
					}
					if symbol != "" && !declares(t, dir, symbol) {
						t.Errorf("%s:%d: Got(%q: package %s declares no func %s); want a real name", rel(path), i+1, word, name, symbol)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("Got(%d named paths checked); want the docs' paths (the parser found too few)", checked)
	}
}

// TestDocsStandOnTheirOwn: no page cites a design document the repository
// does not hold.
func TestDocsStandOnTheirOwn(t *testing.T) {
	for _, path := range pages(t) {
		for i, l := range read(t, path).lines {
			if strings.Contains(l, "DESIGN.md") {
				t.Errorf("%s:%d: Got(a citation of DESIGN.md, which the repository does not hold); want the repository's own docs", rel(path), i+1)
			}
		}
	}
}

// TestSourcesStandOnTheirOwn: no comment of the code, template or build
// files cites DESIGN.md either.
func TestSourcesStandOnTheirOwn(t *testing.T) {
	self, err := filepath.Abs("links_test.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", ".build", "artifacts":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".yaml", ".yml", ".json", ".toml", ".sh", ".tmpl":
		default:
			if d.Name() != "Makefile" {
				return nil
			}
		}
		if abs, _ := filepath.Abs(path); abs == self {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seen++
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "DESIGN.md") {
				t.Errorf("%s:%d: Got(a citation of DESIGN.md, which the repository does not hold); want the repository's own docs", rel(path), i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 100 {
		t.Errorf("Got(%d files read); want the repository's sources", seen)
	}
}

// TestAnchors pins the heading ids against GitHub's rule.
func TestAnchors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.md")
	text := "# Title\n## The final Store step at 11,001 reports (2026-12-02)\n## `orgaudit scp --plan`\n## Crashes, retries and re-runs\n## Title\n```\n# not a heading\n```\n## [Linked](x.md) heading\n"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := read(t, f).anchors()
	want := map[string]bool{"title": true, "the-final-store-step-at-11001-reports-2026-12-02": true, "orgaudit-scp---plan": true,
		"crashes-retries-and-re-runs": true, "title-1": true, "linked-heading": true}
	if len(got) != len(want) {
		t.Errorf("Got(anchors) = %v; want %v", got, want)
	}
	for a := range want {
		if !got[a] {
			t.Errorf("Got(anchors) = %v; want %q among them", got, a)
		}
	}
}

// declares says whether a Go file of dir declares the function (or
// method) name.
func declares(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func (\([^)]*\) )?` + regexp.QuoteMeta(name) + `[\[(]`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if decl.Match(b) {
			return true
		}
	}
	return false
}

func rel(path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}
