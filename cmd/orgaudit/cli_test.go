package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCommandsHelpGoesToStdout: `orgaudit CMD --help | less` shows
// the help, and nothing is printed on stderr.
func TestEveryCommandsHelpGoesToStdout(t *testing.T) {
	for _, name := range commandNames() {
		for _, args := range [][]string{{name, "--help"}, {"help", name}} {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), args, &stdout, &stderr)
			if code != exitOK || !strings.HasPrefix(stdout.String(), "Usage: orgaudit "+name) || stderr.Len() != 0 {
				t.Errorf("orgaudit %v: exit %d, stdout %.60q, stderr %q; want 0 and the usage on stdout only", args, code, stdout.String(), stderr.String())
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"--help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "Commands:") || stderr.Len() != 0 {
		t.Errorf("orgaudit --help: exit %d, stderr %q; want the command list on stdout", code, stderr.String())
	}
}

// TestUnknownFlagSuggestsTheClosest mistypes one flag of every command:
// one line, the flag it meant, a pointer to --help, exit 2.
func TestUnknownFlagSuggestsTheClosest(t *testing.T) {
	typo := func(f string) string { // drop the second letter: include-accounts → iclude-accounts
		return f[:1] + f[2:]
	}
	for _, c := range completionCommands() {
		for _, f := range c.Flags {
			if len(f) < 5 {
				continue
			}
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), []string{c.Name, "--" + typo(f)}, &stdout, &stderr)
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			want := "did you mean --" + f + "?"
			if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], "unknown flag --"+typo(f)) ||
				!strings.Contains(lines[0], "(see orgaudit "+c.Name+" --help)") || stdout.Len() != 0 {
				t.Errorf("orgaudit %s --%s: exit %d, stderr %q; want %d and one line naming the flag and --help", c.Name, typo(f), code, stderr.String(), exitUsage)
			}
			if !strings.Contains(lines[0], want) {
				t.Errorf("orgaudit %s --%s: %q; want %q", c.Name, typo(f), lines[0], want)
			}
		}
	}
	code, _, stderr := runCLI(t, "run", "--include-acounts")
	if want := "orgaudit run: unknown flag --include-acounts; did you mean --include-accounts? (see orgaudit run --help)\n"; code != exitUsage || stderr != want {
		t.Errorf("orgaudit run --include-acounts: exit %d, %q; want %d, %q", code, stderr, exitUsage, want)
	}
	code, _, stderr = runCLI(t, "rnu")
	if want := "orgaudit: unknown command \"rnu\"; did you mean run? (see orgaudit --help)\n"; code != exitUsage || stderr != want {
		t.Errorf("orgaudit rnu: exit %d, %q; want %d, %q", code, stderr, exitUsage, want)
	}
}

// buildOrgaudit builds the command into a temporary directory, with
// version control information when the checkout allows it.
func buildOrgaudit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orgaudit")
	cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestVersionPrintsTheBuildInformation compares `orgaudit --version` with
// what `go version -m` reads from the same binary.
func TestVersionPrintsTheBuildInformation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildOrgaudit(t)
	m, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	field := func(re string) string {
		if s := regexp.MustCompile(re).FindSubmatch(m); s != nil {
			return string(s[1])
		}
		return ""
	}
	modVersion := field(`(?m)^\tmod\tgithub.com/orgaudit/orgaudit\t(\S+)`)
	rev := field(`(?m)^\tbuild\tvcs.revision=(\S+)`)
	goVersion := field(`^\S+: (go\S+)`)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("orgaudit %v: %v", args, err)
		}
		got := strings.TrimSpace(string(out))
		if !strings.HasPrefix(got, "orgaudit "+modVersion+" commit ") || !strings.HasSuffix(got, " "+goVersion) {
			t.Errorf("orgaudit %v = %q; want module version %s and %s", args, got, modVersion, goVersion)
		}
		if rev != "" && !strings.Contains(got, "commit "+rev) {
			t.Errorf("orgaudit %v = %q; want commit %s", args, got, rev)
		}
		if rev == "" && !strings.Contains(got, "commit unknown") {
			t.Errorf("orgaudit %v = %q; want it to say the commit is unknown (the binary records none)", args, got)
		}
		t.Logf("orgaudit %v: %s", args, got)
	}
}

// TestCompletionScripts sources each shell's script in that shell and
// asks it to complete.
func TestCompletionScripts(t *testing.T) {
	script := func(shell string) string {
		code, stdout, stderr := runCLI(t, "completion", shell)
		if code != exitOK || stderr != "" {
			t.Fatalf("orgaudit completion %s: exit %d, %q", shell, code, stderr)
		}
		return stdout
	}
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("bash", func(t *testing.T) {
		p := write("orgaudit.bash", script("bash"))
		for _, tc := range []struct{ line, want string }{
			{"orgaudit ru", "run runs"},
			{"orgaudit run --include-a", "--include-accounts"},
			{"orgaudit scp --ke", "--keep"},
			{"orgaudit completion ", "bash zsh fish"},
		} {
			words := strings.Split(tc.line, " ")
			sh := `source "$1"; COMP_WORDS=(` + strings.Join(quoteAll(words), " ") + `); COMP_CWORD=` + strconv.Itoa(len(words)-1) + `; _orgaudit; echo "${COMPREPLY[*]}"`
			out, err := exec.Command("bash", "-c", sh, "bash", p).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Errorf("bash completion of %q = %q (%v); want %q", tc.line, out, err, tc.want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		if _, err := exec.LookPath("fish"); err != nil {
			t.Skip("fish is not installed")
		}
		p := write("orgaudit.fish", script("fish"))
		out, err := exec.Command("fish", "--no-config", "-c", `source $argv[1]; complete -C "orgaudit run --include-a"; complete -C "orgaudit whati"`, p).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--include-accounts") || !strings.Contains(string(out), "whatif") {
			t.Errorf("fish completion = %q (%v); want --include-accounts and whatif", out, err)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		if _, err := exec.LookPath("zsh"); err != nil {
			t.Skip("zsh is not installed")
		}
		p := write("_orgaudit", script("zsh"))
		// Load the function under compinit; zsh's completion widgets need
		// a terminal, so the check is that it loads and registers.
		sh := `autoload -U compinit && compinit -u -D; source $1; print -r -- ${_comps[orgaudit]}`
		out, err := exec.Command("zsh", "-f", "-c", sh, "zsh", p).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "_orgaudit" {
			t.Errorf("zsh: %q (%v); want _orgaudit registered for orgaudit", out, err)
		}
	})
	if code, _, stderr := runCLI(t, "completion", "powershell"); code != exitUsage || !strings.Contains(stderr, "bash, zsh, fish") {
		t.Errorf("orgaudit completion powershell: exit %d, %q; want %d naming the shells", code, stderr, exitUsage)
	}
}

func quoteAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = "'" + w + "'"
	}
	return out
}

// TestInterruptedCommandsExit130: a command that ends in failure once
// SIGINT has cancelled its context exits 130, as shells expect; without
// the interrupt the same failure keeps 1.
func TestInterruptedCommandsExit130(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"diff", "--out", "testdata", "--prefix", "", "20261124T030000Z", "nosuchrun"}
	if code := dispatch(ctx, args, &stdout, &stderr); code != exitInterrupted {
		t.Errorf("interrupted orgaudit %v: exit %d; want %d", args, code, exitInterrupted)
	}
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != exitFailure {
		t.Errorf("orgaudit %v: exit %d; want %d", args, code, exitFailure)
	}
}
