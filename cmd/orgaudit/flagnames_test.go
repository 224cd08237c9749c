package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/runinput"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// jsonFields are the run input's field names, none of which a CLI user
// typed.
var jsonFields = []string{"runId", "entityPaths", "includeAccounts", "includePolicies", "unusedDays", "maxConcurrentJobs", "maxRunMinutes", "accountRefreshDays"}

func namesAField(s string) string {
	for _, f := range jsonFields {
		if strings.Contains(s, f) {
			return f
		}
	}
	return ""
}

// TestInputErrorNamesTheFlag feeds the Start function's parser the input
// of each bad flag value and checks that the CLI's line names the flag,
// and no JSON field, while the parser's own message keeps the field.
func TestInputErrorNamesTheFlag(t *testing.T) {
	slash := "o-abcdefghij/" // ends with a slash
	paths := make([]string, runinput.MaxEntityPaths+1)
	for i := range paths {
		paths[i] = "o-abcdefghij/r-ab12/ou-ab12-" + strings.Repeat("x", 8) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		doc, flag string
	}{
		{`{"unusedDays": -5}`, "--unused-days"},
		{`{"maxConcurrentJobs": 0}`, "--max-concurrent-jobs"},
		{`{"maxRunMinutes": -1}`, "--max-run-minutes"},
		{`{"accountRefreshDays": 0}`, "--account-refresh-days"},
		{`{"runId": "a/b"}`, "--run-id"},
		{`{"entityPaths": ["` + slash + `"]}`, "--entity-path"},
		{`{"entityPaths": ["o-abcdefghij/r-ab12", "o-abcdefghij/r-ab12"]}`, "--entity-path"},
		{`{"entityPaths": ["` + strings.Join(paths, `","`) + `"]}`, "--entity-path"},
	}
	for _, tt := range tests {
		_, err := runinput.Parse([]byte(tt.doc), "r1", config.Default())
		var bad *runinput.InvalidInput
		if !errors.As(err, &bad) {
			t.Fatalf("Parse(%s) = %v; want an InvalidInput", tt.doc, err)
		}
		if namesAField(bad.Error()) == "" {
			t.Errorf("Parse(%s) = %q; want the Start function's message to keep the JSON field", tt.doc, bad.Error())
		}
		got := inputError(bad)
		if !strings.Contains(got, tt.flag) {
			t.Errorf("inputError(%s) = %q; want it to name %s", tt.doc, got, tt.flag)
		}
		if f := namesAField(got); f != "" {
			t.Errorf("inputError(%s) = %q; want no JSON field (%s)", tt.doc, got, f)
		}
	}
}

func TestFlagWordsLeavesQuotedTextAndRunIDs(t *testing.T) {
	tests := []struct{ in, want string }{
		{`run runId already exists with unusedDays 90 (not 30); use another runId for different settings`,
			`run runId already exists with --unused-days 90 (not 30); use another --run-id for different settings`},
		{`"unusedDays" is not a path`, `"unusedDays" is not a path`},
		{`101 paths; at most 100 (list an OU with includeAccounts to cover its accounts)`,
			`101 paths; at most 100 (list an OU with --include-accounts to cover its accounts)`},
		{`is not usable: x; set runId`, `is not usable: x; set --run-id`},
	}
	for _, tt := range tests {
		if got := flagWords(tt.in); got != tt.want {
			t.Errorf("flagWords(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestRunErrorsNameTheFlag runs `orgaudit run` with bad values: each is
// refused before the simulator starts or any call is made, in one line
// naming the flag.
func TestRunErrorsNameTheFlag(t *testing.T) {
	setAWSEnv(t, "http://127.0.0.1:1", "nobody", "nothing") // reached only if a check is missing
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--unused-days", "-5"}, "--unused-days: -5 is out of range"},
		{[]string{"--max-concurrent-jobs", "0"}, "--max-concurrent-jobs: 0 is out of range"},
		{[]string{"--run-id", "a/b"}, "--run-id: "},
		{[]string{"--entity-path", "o-abc/"}, "--entity-path: "},
	}
	for _, tt := range tests {
		for _, demo := range []bool{false, true} {
			args := append([]string{"run", "--out", t.TempDir(), "--progress", "none"}, tt.args...)
			if demo {
				args = append(args, "--demo")
			}
			code, stdout, stderr := runCLI(t, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != exitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "orgaudit run: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("orgaudit %v: exit %d, stderr %q; want %d and one line containing %q", args, code, stderr, exitUsage, tt.want)
			}
			if f := namesAField(stderr); f != "" {
				t.Errorf("orgaudit %v: stderr %q names the JSON field %s", args, stderr, f)
			}
			if stdout != "" {
				t.Errorf("orgaudit %v: stdout %q; want nothing", args, stdout)
			}
		}
	}
}

// TestRunReusedRunIDNamesTheFlags reuses a run id with another threshold:
// the refusal names --unused-days and --run-id.
func TestRunReusedRunIDNamesTheFlags(t *testing.T) {
	startSim(t, sim.Options{Org: smallOrg(t)})
	out := t.TempDir()
	if code, _, stderr := runCLI(t, "run", "--out", out, "--run-id", "r1", "--progress", "none"); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, "run", "--out", out, "--run-id", "r1", "--unused-days", "30", "--progress", "none")
	want := "run r1 already exists with --unused-days 90 (not 30); use another --run-id for different settings"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("second run: exit %d, stderr %q; want %d containing %q", code, stderr, exitUsage, want)
	}
	if f := namesAField(stderr); f != "" {
		t.Errorf("second run: stderr %q names the JSON field %s", stderr, f)
	}
}
