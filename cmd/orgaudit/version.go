package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/orgaudit/orgaudit/internal/cliflags"
)

func init() {
	register(command{name: "version", summary: "print the version and commit orgaudit was built from", run: versionCommand})
	register(command{name: "completion", summary: "print a shell completion script: bash, zsh or fish", run: completionCommand})
}

const versionUsage = `Usage: orgaudit version   (or orgaudit --version)

Prints the module version and the commit orgaudit was built from, as the
binary's build information records them.
`

func versionCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("orgaudit version", versionUsage, stderr)
	if _, code := parseArgs(ctx, fs, args, 0, stdout, stderr); code >= 0 {
		return code
	}
	fmt.Fprintln(stdout, cliflags.Version("orgaudit"))
	return exitOK
}

const completionUsage = `Usage: orgaudit completion bash|zsh|fish

Prints a completion script for the shell: command names, then each
command's flags after a dash, file names otherwise.

  source <(orgaudit completion bash)     # in ~/.bashrc
  source <(orgaudit completion zsh)      # in ~/.zshrc, after compinit
  orgaudit completion fish | source      # in ~/.config/fish/config.fish
`

func completionCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("orgaudit completion", completionUsage, stderr)
	pos, code := parseArgs(ctx, fs, args, 1, stdout, stderr)
	if code >= 0 {
		return code
	}
	script, err := cliflags.Script(pos[0], "orgaudit", completionCommands())
	if err != nil {
		fmt.Fprintf(stderr, "orgaudit completion: %v (see orgaudit completion --help)\n", err)
		return exitUsage
	}
	fmt.Fprint(stdout, script)
	return exitOK
}

// completionCommands lists every command with the flags its own flag set
// defines.
func completionCommands() []cliflags.Command {
	var out []cliflags.Command
	for _, n := range commandNames() {
		c := commands[n]
		flags := cliflags.Collect(func(ctx context.Context) int { return c.run(ctx, nil, io.Discard, io.Discard) })
		out = append(out, cliflags.Command{Name: n, Summary: strings.TrimSpace(c.summary), Flags: flags})
	}
	return out
}
