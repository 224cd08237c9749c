package cliflags

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3}, // the textbook example
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"ca", "ac", 1}, // one transposition
		{"include-acounts", "include-accounts", 1},
		{"flaw", "lawn", 2},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	flags := []string{"include-accounts", "include-policies", "unused-days", "out", "run-id", "resume", "progress"}
	tests := []struct{ typed, want string }{
		{"include-acounts", "include-accounts"},
		{"inlcude-policies", "include-policies"},
		{"unused-day", "unused-days"},
		{"unsued-days", "unused-days"},
		{"prog", "progress"}, // a unique prefix
		{"include", ""},      // a prefix of two
		{"ot", "out"},
		{"runid", "run-id"},
		{"zzzzzzzz", ""},
		{"bucket", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.typed, flags); got != tt.want {
			t.Errorf("Closest(%q) = %q; want %q", tt.typed, got, tt.want)
		}
	}
}

func newSet() *flag.FlagSet {
	fs := flag.NewFlagSet("orgaudit run", flag.ContinueOnError)
	fs.Bool("include-accounts", false, "also accounts")
	fs.Int("unused-days", 90, "days")
	fs.Duration("step-budget", 0, "budget")
	fs.Usage = func() { fs.Output().Write([]byte("Usage: orgaudit run [flags]\n")); fs.PrintDefaults() }
	return fs
}

func TestParseMistakesInOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--include-acounts"}, "orgaudit run: unknown flag --include-acounts; did you mean --include-accounts? (see orgaudit run --help)"},
		{[]string{"-nothing-like-it"}, "orgaudit run: unknown flag --nothing-like-it (see orgaudit run --help)"},
		{[]string{"--unused-days", "abc"}, `orgaudit run: --unused-days "abc": want a whole number (see orgaudit run --help)`},
		{[]string{"--unused-days", "99999999999999999999"}, `orgaudit run: --unused-days "99999999999999999999": value out of range: want a whole number (see orgaudit run --help)`},
		{[]string{"--include-accounts=maybe"}, `orgaudit run: --include-accounts "maybe": want true or false (see orgaudit run --help)`},
		{[]string{"--step-budget", "5"}, `orgaudit run: --step-budget "5": want a duration such as 30s or 5m (see orgaudit run --help)`},
		{[]string{"--unused-days"}, "orgaudit run: --unused-days needs a value (see orgaudit run --help)"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		stop, code := Parse(context.Background(), newSet(), tt.args, &stdout, &stderr)
		if !stop || code != 2 || stderr.String() != tt.want+"\n" || stdout.Len() != 0 {
			t.Errorf("Parse(%q) = %v, %d, stderr %q, stdout %q; want true, 2, %q and nothing on stdout", tt.args, stop, code, stderr.String(), stdout.String(), tt.want)
		}
	}
}

func TestParseHelpGoesToStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var stdout, stderr bytes.Buffer
		fs := newSet()
		fs.SetOutput(&stderr) // a command's own choice must not send help there
		stop, code := Parse(context.Background(), fs, []string{arg}, &stdout, &stderr)
		if !stop || code != 0 || !strings.HasPrefix(stdout.String(), "Usage: orgaudit run") || !strings.Contains(stdout.String(), "-unused-days") || stderr.Len() != 0 {
			t.Errorf("Parse(%s) = %v, %d, stdout %q, stderr %q; want the usage on stdout only", arg, stop, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	fs := newSet()
	if stop, _ := Parse(context.Background(), fs, []string{"--unused-days", "30", "pos"}, &stdout, &stderr); stop || fs.Lookup("unused-days").Value.String() != "30" || fs.Arg(0) != "pos" {
		t.Errorf("Parse of good flags stopped or lost a value: %q %q", stdout.String(), stderr.String())
	}
}

func TestCollectRecordsFlagSets(t *testing.T) {
	ran := false
	names := Collect(func(ctx context.Context) int {
		if stop, code := Parse(ctx, newSet(), nil, nil, nil); stop {
			return code
		}
		ran = true
		return 1
	})
	if ran || strings.Join(names, " ") != "include-accounts step-budget unused-days" {
		t.Errorf("Collect = %q (command went on: %v); want the three flags and a stop before any work", names, ran)
	}
}

func TestVersionOf(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/orgaudit/orgaudit", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionOf("orgaudit", info), "orgaudit v1.2.3 commit abc123 (2026-12-01T10:00:00Z, modified) go1.26.8"; got != want {
		t.Errorf("versionOf = %q; want %q", got, want)
	}
	info.Settings = nil
	if got := versionOf("orgaudit", info); !strings.Contains(got, "commit unknown") {
		t.Errorf("versionOf without VCS = %q; want it to say the commit is unknown", got)
	}
}

func TestScriptRefusesUnknownShell(t *testing.T) {
	if _, err := Script("powershell", "orgaudit", nil); err == nil || !strings.Contains(err.Error(), "bash, zsh, fish") {
		t.Errorf("Script(powershell) = %v; want an error listing the shells", err)
	}
	var ue *UsageError
	if errors.As(ParseErr(newSet(), []string{"--x"}), &ue) && ue.Command != "orgaudit run" {
		t.Errorf("UsageError.Command = %q", ue.Command)
	}
}
