package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies the fixture store so a test may write into it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReportRerendersHTML(t *testing.T) {
	dir := copyDir(t, "testdata")
	tests := []struct {
		name     string
		args     []string
		file     string
		contains []string
	}{
		{
			name:     "into the store, no previous run",
			args:     []string{"report", "--out", dir, "--prefix", "", "20261125T030000Z"},
			file:     filepath.Join(dir, "runs", "20261125T030000Z", "report.html"),
			contains: []string{"20261125T030000Z", "o-exampleorg1", `"Production"`, `"c":null`},
		},
		{
			name:     "to a file, with a previous run",
			args:     []string{"report", "--out", dir, "--prefix", "", "--previous", "20261124T030000Z", "--html", filepath.Join(dir, "page.html"), "20261125T030000Z"},
			file:     filepath.Join(dir, "page.html"),
			contains: []string{`"previousRunId":"20261124T030000Z"`, `"newlyAccessed":["athena","sagemaker"]`, "IAM could not generate the report"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := dispatch(context.Background(), tc.args, &out, &errb); got != exitOK {
				t.Fatalf("Got(exit) = %d; want %d\nstderr: %s", got, exitOK, errb.String())
			}
			if got := strings.TrimSpace(out.String()); got != tc.file {
				t.Errorf("Got(printed location) = %q; want %q", got, tc.file)
			}
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.contains {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("Got(report.html) without %q; want it", want)
				}
			}
		})
	}
	var errb bytes.Buffer
	if got := dispatch(context.Background(), []string{"report", "--out", dir, "--prefix", "", "20991231T000000Z"}, &bytes.Buffer{}, &errb); got != exitFailure {
		t.Errorf("Got(exit for an unknown run) = %d; want %d", got, exitFailure)
	}
}
