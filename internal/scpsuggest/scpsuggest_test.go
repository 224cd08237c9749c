package scpsuggest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// iamPrefixes reads the catalog's iam-prefixes.txt: 449 real IAM service
// prefixes, about what a full access report lists.
func iamPrefixes(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../catalog/iam-prefixes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type scpDoc struct {
	Version   string
	Statement []struct {
		Sid      string
		Effect   string
		Action   []string
		Resource string
	}
}

var actionPattern = regexp.MustCompile(`^[a-z0-9-]+:\*$`)

// checkSuggestion asserts, in Go, what makes a suggestion right: each
// document valid JSON of the expected shape and within the size quota,
// actions well formed, nothing from the never-deny list, and the split
// documents together denying exactly the intended set.
func checkSuggestion(t *testing.T, s Suggestion, unused []string, opts Options) {
	t.Helper()
	keep := map[string]bool{}
	for _, ns := range NeverDeny(opts) {
		keep[ns] = true
	}
	want := map[string]bool{}
	for _, ns := range unused {
		if !keep[ns] {
			want[ns] = true
		}
	}
	got := map[string]bool{}
	for i, p := range s.Policies {
		if len(p) > MaxPolicySize {
			t.Errorf("Got(len(policy %d)) = %d; want <= %d", i, len(p), MaxPolicySize)
		}
		var d scpDoc
		dec := json.NewDecoder(strings.NewReader(p))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("policy %d is not a valid document: %v\n%s", i, err, p)
		}
		if d.Version != "2012-10-17" || len(d.Statement) != 1 {
			t.Fatalf("Got(policy %d) = %s; want one statement, version 2012-10-17", i, p)
		}
		st := d.Statement[0]
		if st.Sid != Sid || st.Effect != "Deny" || st.Resource != "*" || len(st.Action) == 0 {
			t.Errorf("Got(policy %d statement) = %+v; want Sid %s, Deny, Resource *", i, st, Sid)
		}
		var compact strings.Builder
		if err := compactInto(&compact, p); err != nil || compact.String() != p {
			t.Errorf("Got(policy %d) not minified", i)
		}
		for _, a := range st.Action {
			if !actionPattern.MatchString(a) {
				t.Errorf("Got(action %q); want it to match %s", a, actionPattern)
			}
			ns := strings.TrimSuffix(a, ":*")
			if keep[ns] {
				t.Errorf("Got(action %q); want no never-deny namespace", a)
			}
			if got[ns] {
				t.Errorf("Got(action %q) twice; want each once", a)
			}
			got[ns] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("Got(len(denied union)) = %d; want %d", len(got), len(want))
	}
	for ns := range want {
		if !got[ns] {
			t.Errorf("Got(union) without %q; want it denied", ns)
		}
	}
	if !slices.Equal(s.Denied, sortedKeys(want)) {
		t.Errorf("Got(Denied) = %v; want %v", s.Denied, sortedKeys(want))
	}
}

func compactInto(b *strings.Builder, doc string) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(doc)); err != nil {
		return err
	}
	b.Write(buf.Bytes())
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestSuggest(t *testing.T) {
	all := iamPrefixes(t)
	tests := []struct {
		name       string
		unused     []string
		opts       Options
		wantDocs   int
		wantKept   []string
		wantDenied int
	}{
		{name: "nothing unused", unused: nil, wantDocs: 0, wantKept: []string{}},
		{name: "only never-deny services", unused: []string{"sts", "iam", "kms"}, wantDocs: 0, wantKept: []string{"iam", "kms", "sts"}},
		{name: "a few", unused: []string{"sagemaker", "s3", "iam", "s3", "ec2"}, wantDocs: 1, wantKept: []string{"iam"}, wantDenied: 3},
		{name: "keep extends the list", unused: []string{"sagemaker", "s3", "ec2"}, opts: Options{Keep: []string{"s3", " ec2 "}}, wantDocs: 1, wantKept: []string{"ec2", "s3"}, wantDenied: 1},
		{name: "a full report splits", unused: all, wantDocs: 2, wantDenied: len(all) - len(defaultNeverDeny)}, // every never-deny namespace is a real prefix
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Suggest(tc.unused, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkSuggestion(t, s, tc.unused, tc.opts)
			if len(s.Policies) != tc.wantDocs {
				t.Errorf("Got(len(Policies)) = %d; want %d", len(s.Policies), tc.wantDocs)
			}
			if tc.wantKept != nil && !slices.Equal(s.Kept, tc.wantKept) {
				t.Errorf("Got(Kept) = %q; want %q", s.Kept, tc.wantKept)
			}
			if tc.wantDenied != 0 && len(s.Denied) != tc.wantDenied {
				t.Errorf("Got(len(Denied)) = %d; want %d", len(s.Denied), tc.wantDenied)
			}
			again, _ := Suggest(reversed(tc.unused), tc.opts)
			if !slices.Equal(again.Policies, s.Policies) {
				t.Errorf("Got(policies of reordered input) differ; want the same documents")
			}
		})
	}
}

func TestSuggestSplitsAtTheQuota(t *testing.T) {
	// Namespaces sized so the first document ends exactly at the quota:
	// the head, tail and one action per namespace of known length.
	head, tail := len(docHead), len(docTail)
	var unused []string
	size := head + tail
	for i := 0; ; i++ {
		ns := fmt.Sprintf("svc%04d", i) // action `"svc0000:*"` is 11 chars
		add := 11
		if i > 0 {
			add++
		}
		if size+add > MaxPolicySize {
			break
		}
		size += add
		unused = append(unused, ns)
	}
	// Pad the last namespace so the document is exactly MaxPolicySize.
	pad := MaxPolicySize - size
	unused[len(unused)-1] += strings.Repeat("z", pad)
	s, err := Suggest(unused, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policies) != 1 || len(s.Policies[0]) != MaxPolicySize {
		t.Fatalf("Got(len(Policies), len(first)) = %d, %d; want 1, %d", len(s.Policies), len(s.Policies[0]), MaxPolicySize)
	}
	s, err = Suggest(append(unused, "zzz"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policies) != 2 {
		t.Fatalf("Got(len(Policies)) = %d; want 2", len(s.Policies))
	}
	checkSuggestion(t, s, append(unused, "zzz"), Options{})
}

func TestSuggestRejectsBadNamespaces(t *testing.T) {
	for _, ns := range []string{"S3", "s3:*", "", "a b", `x"y`} {
		if _, err := Suggest([]string{"ec2", ns}, Options{}); err == nil {
			t.Errorf("Got(Suggest(%q)) = nil error; want an error", ns)
		}
	}
}

func reversed(in []string) []string {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}

// TestSuggestionsPassCFNLint checks the documents with an independent
// validator: cfn-lint on a template holding each one as the Content of an
// AWS::Organizations::Policy. cfn-lint checks that resource's schema but not
// the policy inside, so each document also goes into an
// AWS::IAM::ManagedPolicy, whose policy grammar cfn-lint does check (rule
// E3510: Version, Effect, Sid, statement keys; W3037: real service prefixes).
func TestSuggestionsPassCFNLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		lint = "/root/.pyenv/shims/cfn-lint"
		if _, err := os.Stat(lint); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("cfn-lint not found")
			}
			t.Skip("cfn-lint not installed")
		}
	}
	all := iamPrefixes(t)
	var docs []string
	for _, unused := range [][]string{all, all[:40], {"ec2", "s3"}} {
		s, err := Suggest(unused, Options{Keep: []string{"cloudwatch"}})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, s.Policies...)
	}
	var b strings.Builder
	b.WriteString("AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n")
	for i, d := range docs {
		content, _ := json.Marshal(d) // a YAML double-quoted scalar is a JSON string
		fmt.Fprintf(&b, "  Scp%d:\n    Type: AWS::Organizations::Policy\n    Properties:\n      Name: orgaudit-deny-unused-%d\n      Type: SERVICE_CONTROL_POLICY\n      Content: %s\n", i, i, content)
		fmt.Fprintf(&b, "  Grammar%d:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n      PolicyDocument: %s\n", i, content)
	}
	path := filepath.Join(t.TempDir(), "scp.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lint, path).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s\n--- template ---\n%s", path, err, out, b.String())
	}
	// Guard against a linter that accepts anything: a broken document
	// must fail.
	bad := strings.ReplaceAll(b.String(), `\"Effect\":\"Deny\"`, `\"Effect\":\"Refuse\"`)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lint, path).CombinedOutput(); err == nil {
		t.Fatalf("Got(cfn-lint on a broken policy) = success; want a failure\n%s", out)
	}
}

// TestNeverDenyIsDocumented keeps docs/findings.md's table in step with the
// default list: each namespace with its reason.
func TestNeverDenyIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range DefaultNeverDeny() {
		row := fmt.Sprintf("| `%s` | %s |", nd[0], nd[1])
		if !strings.Contains(string(b), row) {
			t.Errorf("Got(docs/findings.md) without %q; want the row", row)
		}
	}
}
