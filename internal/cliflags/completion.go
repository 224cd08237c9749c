package cliflags

import (
	"fmt"
	"sort"
	"strings"
)

// Command is what completion knows of one command.
type Command struct {
	Name, Summary string
	Flags         []string // names without dashes
}

// Shells are the shells Script writes completion for.
var Shells = []string{"bash", "zsh", "fish"}

// Script returns the completion script of prog for shell: command names
// after prog, each command's flags after a dash, files otherwise.
func Script(shell, prog string, cmds []Command) (string, error) {
	cmds = append([]Command(nil), cmds...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	switch shell {
	case "bash":
		return bash(prog, cmds), nil
	case "zsh":
		return zsh(prog, cmds), nil
	case "fish":
		return fish(prog, cmds), nil
	}
	return "", fmt.Errorf("no completion for shell %q: want %s", shell, strings.Join(Shells, ", "))
}

func fn(prog string) string { return "_" + strings.NewReplacer("-", "_", ".", "_").Replace(prog) }

func dashed(flags []string) string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = "--" + f
	}
	return strings.Join(out, " ")
}

func names(cmds []Command) string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Name
	}
	return strings.Join(out, " ")
}

func bash(prog string, cmds []Command) string {
	var b strings.Builder
	f := fn(prog)
	fmt.Fprintf(&b, "# bash completion for %s: source <(%s completion bash)\n", prog, prog)
	fmt.Fprintf(&b, "%s() {\n", f)
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} flags=\n")
	b.WriteString("  if [[ $COMP_CWORD -eq 1 ]]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", names(cmds)+" --help --version")
	b.WriteString("    return\n  fi\n")
	b.WriteString("  case ${COMP_WORDS[1]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s) flags=%q ;;\n", c.Name, dashed(c.Flags))
	}
	b.WriteString("  esac\n")
	b.WriteString("  if [[ ${COMP_WORDS[1]} == completion && $COMP_CWORD -eq 2 && $cur != -* ]]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(Shells, " "))
	b.WriteString("  elif [[ $cur == -* ]]; then\n")
	b.WriteString("    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n")
	b.WriteString("  else\n    COMPREPLY=()\n  fi\n}\n")
	fmt.Fprintf(&b, "complete -o default -F %s %s\n", f, prog)
	return b.String()
}

func zsh(prog string, cmds []Command) string {
	var b strings.Builder
	f := fn(prog)
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s: source <(%s completion zsh), after compinit\n", prog, prog, prog)
	fmt.Fprintf(&b, "%s() {\n", f)
	b.WriteString("  local -a cmds flags\n  cmds=(\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s\n", zshQuote(c.Name+":"+c.Summary))
	}
	b.WriteString("  )\n")
	b.WriteString("  if (( CURRENT == 2 )); then\n    _describe command cmds\n    return\n  fi\n")
	b.WriteString("  case ${words[2]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s) flags=(%s) ;;\n", c.Name, dashed(c.Flags))
	}
	b.WriteString("  esac\n")
	b.WriteString("  if [[ ${words[2]} == completion && CURRENT -eq 3 ]]; then\n")
	fmt.Fprintf(&b, "    compadd -- %s\n", strings.Join(Shells, " "))
	b.WriteString("  elif [[ $PREFIX == -* ]]; then\n    compadd -- $flags\n  else\n    _files\n  fi\n}\n")
	fmt.Fprintf(&b, "compdef %s %s\n", f, prog)
	return b.String()
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fish(prog string, cmds []Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for %s: %s completion fish | source\n", prog, prog)
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c %s -n __fish_use_subcommand -f -a %s -d %s\n", prog, c.Name, zshQuote(c.Summary))
	}
	for _, c := range cmds {
		for _, fl := range c.Flags {
			fmt.Fprintf(&b, "complete -c %s -n '__fish_seen_subcommand_from %s' -l %s\n", prog, c.Name, fl)
		}
	}
	fmt.Fprintf(&b, "complete -c %s -n '__fish_seen_subcommand_from completion' -f -a %s\n", prog, zshQuote(strings.Join(Shells, " ")))
	return b.String()
}
