package findings

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/athena"
)

// athenaSnippet returns the CloudFormation YAML block of docs/athena.md, the
// resources the deployment adds for Athena.
func athenaSnippet(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/athena.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, after, ok := strings.Cut(doc, "## CloudFormation resources")
	if !ok {
		t.Fatal("docs/athena.md: no CloudFormation resources section")
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal("docs/athena.md: no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

func TestAthenaColumnsMatchTheRows(t *testing.T) {
	re := regexp.MustCompile(`- \{ Name: ([a-z_]+), Type: ([a-z]+) \}`)
	var got []athena.Column
	for _, m := range re.FindAllStringSubmatch(athenaSnippet(t), -1) {
		got = append(got, athena.Column{Name: m[1], Type: m[2]})
	}
	if len(got) != len(athena.Columns) {
		t.Fatalf("Got(len(columns)) = %d; want %d (athena.Columns)", len(got), len(athena.Columns))
	}
	for i, c := range athena.Columns {
		if got[i] != c {
			t.Errorf("Got(column %d) = %+v; want %+v", i, got[i], c)
		}
	}
}

// TestAthenaResourcesPassCFNLint lints the snippet inside a template that
// declares what it refers to from template.yaml.
func TestAthenaResourcesPassCFNLint(t *testing.T) {
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
	snippet := athenaSnippet(t)
	snippet = strings.Replace(snippet, "Parameters:\n", `Parameters:
  BucketName: { Type: String, Default: "" }
  Prefix: { Type: String, Default: orgaudit/ }
`, 1)
	snippet = strings.Replace(snippet, "Resources:\n", `Resources:
  AuditBucket:
    Type: AWS::S3::Bucket
    Condition: CreateBucket
`, 1)
	tmpl := "AWSTemplateFormatVersion: \"2010-09-09\"\nConditions:\n  CreateBucket: !Equals [!Ref BucketName, \"\"]\n" + snippet
	path := filepath.Join(t.TempDir(), "athena.yaml")
	for _, tc := range []struct {
		name, body string
		wantOK     bool
	}{
		{"snippet", tmpl, true},
		{"broken snippet", strings.Replace(tmpl, "TableType: EXTERNAL_TABLE", "TableType: [EXTERNAL_TABLE]", 1), false},
	} {
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(lint, path).CombinedOutput()
		if (err == nil) != tc.wantOK {
			t.Errorf("Got(cfn-lint %s ok) = %v; want %v\n%s", tc.name, err == nil, tc.wantOK, out)
		}
	}
}
