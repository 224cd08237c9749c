package deploytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool returns the path of an external linter, or skips the test when
// it is missing on a developer machine. Under CI=true a missing tool fails:
// .ci/run installs them.
func requireTool(t *testing.T, path, install string) string {
	t.Helper()
	if strings.ContainsRune(path, filepath.Separator) {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	} else if p, err := exec.LookPath(path); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: %s", path, install)
	}
	t.Skipf("%s is missing (%s); CI runs this test", path, install)
	return ""
}

// run executes a command in the repository root and returns its combined
// output and exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run %s: %v", name, err)
		}
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func TestCfnLint(t *testing.T) {
	cfnLint := requireTool(t, "cfn-lint", "it comes with the machine's Python tools")
	out, code := run(t, nil, cfnLint, "template.yaml")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("Got(cfn-lint template.yaml) = exit %d:\n%s\nwant exit 0 and no findings", code, out)
	}

	// The same linter must object to a template that breaks a rule, or the
	// clean result above proves nothing.
	data, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte("MemorySize: 128"), []byte("MemorySize: 64"), 1)
	if bytes.Equal(bad, data) {
		t.Fatal("template.yaml has no \"MemorySize: 128\" to break")
	}
	badPath := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(badPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, nil, cfnLint, badPath)
	if code == 0 || !strings.Contains(out, "E3034") {
		t.Errorf("Got(cfn-lint on MemorySize 64) = exit %d:\n%s\nwant E3034", code, out)
	}
}

// fakeARNs renders the definition the way DefinitionSubstitutions does at
// deploy time, with function ARNs of the right shape.
func fakeARNs() map[string]string {
	m := map[string]string{}
	for _, f := range functionNames {
		m[f+"Arn"] = "arn:aws:lambda:us-east-1:123456789012:function:orgaudit-" + f
	}
	return m
}

func TestASLValidator(t *testing.T) {
	validator := requireTool(t, filepath.Join(repoRoot, "node_modules", ".bin", "asl-validator"),
		"run npm ci in the repository root")
	absValidator, err := filepath.Abs(validator)
	if err != nil {
		t.Fatal(err)
	}
	// node_modules/.bin first, so a node installed from package.json is used
	// when the machine has none.
	binDir, err := filepath.Abs(filepath.Join(repoRoot, "node_modules", ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH")}

	rendered, err := RenderDefinition(readDefinition(t), fakeARNs())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		definition []byte
		wantValid  bool
	}{
		{"deployed definition", rendered, true},
		{"broken transition", bytes.Replace(rendered, []byte(`"Next": "Store"`), []byte(`"Next": "Nowhere"`), 1), false},
		{"misspelt field", bytes.Replace(rendered, []byte(`"SecondsPath"`), []byte(`"SecondPath"`), 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.wantValid && bytes.Equal(tt.definition, rendered) {
				t.Fatal("the mutation did not change the definition")
			}
			path := filepath.Join(t.TempDir(), "auditor.json")
			if err := os.WriteFile(path, tt.definition, 0o644); err != nil {
				t.Fatal(err)
			}
			out, code := run(t, env, absValidator, "--json-path", path)
			if got := code == 0; got != tt.wantValid {
				t.Errorf("Got(asl-validator valid) = %v (exit %d):\n%s\nwant %v", got, code, out, tt.wantValid)
			}
		})
	}
}
