// Command orgaudit audits an AWS Organization's service last accessed data
// from a terminal, and runs the local simulator the demo and tests use.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/orgaudit/orgaudit/internal/cliflags"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the work finished with failures (a PARTIAL run) or could not be done
	exitUsage   = 2 // the command line was wrong
	// exitInterrupted is a shell's code for a command ended by SIGINT
	// (128 + 2); orgaudit returns it after saving what it was doing.
	exitInterrupted = 130
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) > 1 {
			// `orgaudit help run` is `orgaudit run --help`.
			return dispatch(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return versionCommand(ctx, args[1:], stdout, stderr)
	}
	c, ok := commands[args[0]]
	if !ok {
		msg := fmt.Sprintf("orgaudit: unknown command %q", args[0])
		if strings.HasPrefix(args[0], "-") {
			msg = fmt.Sprintf("orgaudit: unknown flag %s before the command", args[0])
		} else if s := cliflags.Closest(args[0], commandNames()); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		fmt.Fprintln(stderr, msg+" (see orgaudit --help)")
		return exitUsage
	}
	code := c.run(ctx, args[1:], stdout, stderr)
	if code == exitFailure && errors.Is(ctx.Err(), context.Canceled) {
		// Stopped by SIGINT or SIGTERM: say so the way shells expect.
		code = exitInterrupted
	}
	return code
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "orgaudit finds the AWS services nobody in an OU or account has used, from IAM's")
	fmt.Fprintln(w, "Organizations access reports (service last accessed data).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: orgaudit <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "orgaudit <command> --help" (or "orgaudit help <command>") for a command's flags;`)
	fmt.Fprintln(w, `"orgaudit --version" prints the version, "orgaudit completion bash|zsh|fish" a completion script.`)
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 finished with failures, 2 usage error, 130 interrupted.")
}
