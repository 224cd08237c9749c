// Package cliflags parses the command lines of orgaudit's commands the
// same way everywhere: --help on standard output, one line for a mistake
// with the closest flag ("did you mean --include-accounts?") and a pointer
// to --help, and the command and flag lists that shell completion and the
// version line are made of.
//
// It builds on the standard library's flag package: every command's flag
// set, defaults and single- or double-dash spelling stay as they are.
package cliflags

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// UsageError is a command line that cannot be parsed. Its text is one line
// naming what was typed, with a suggestion when one is close.
type UsageError struct {
	Command string // "orgaudit run"
	Msg     string
}

func (e *UsageError) Error() string {
	return fmt.Sprintf("%s: %s (see %s --help)", e.Command, e.Msg, e.Command)
}

// collectKey marks a context in which Parse records flag sets instead of
// parsing (see Collect).
type collectKey struct{}

// Collect calls run, a command's entry point, with a context under which
// Parse records the command's flag set and stops it before it does
// anything: the way completion learns every command's flags from the code
// that defines them. It returns the flags' names, sorted.
func Collect(run func(ctx context.Context) int) []string {
	var seen []*flag.FlagSet
	run(context.WithValue(context.Background(), collectKey{}, &seen))
	var names []string
	for _, fs := range seen {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	}
	sort.Strings(names)
	return names
}

// Collecting reports whether ctx is Collect's: a command checks it where it
// would act before parsing its flags.
func Collecting(ctx context.Context) bool { return ctx.Value(collectKey{}) != nil }

// Parse parses args into fs. It returns (true, code) when the command is
// to stop with code: 0 after printing --help to stdout, 2 after printing a
// one-line mistake to stderr; and (false, 0) when it goes on. Under Collect
// it records fs and stops.
func Parse(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (stop bool, code int) {
	if seen, ok := ctx.Value(collectKey{}).(*[]*flag.FlagSet); ok {
		*seen = append(*seen, fs)
		return true, 0
	}
	err := ParseErr(fs, args)
	if err == nil {
		return false, 0
	}
	if errors.Is(err, flag.ErrHelp) {
		PrintHelp(fs, stdout)
		return true, 0
	}
	fmt.Fprintln(stderr, err)
	return true, 2
}

// PrintHelp prints fs's usage to w.
func PrintHelp(fs *flag.FlagSet, w io.Writer) {
	out := fs.Output()
	fs.SetOutput(w)
	if fs.Usage != nil {
		fs.Usage()
	} else {
		fs.PrintDefaults()
	}
	fs.SetOutput(out)
}

// ParseErr parses args into fs with nothing printed. It returns nil,
// flag.ErrHelp, or a *UsageError.
func ParseErr(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	usage := fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &UsageError{Command: fs.Name(), Msg: explain(fs, err.Error())}
}

// explain rewrites the flag package's messages (which spell every flag
// with one dash) in the double-dash spelling the help shows, and adds the
// closest flag to an unknown one.
func explain(fs *flag.FlagSet, msg string) string {
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		m := fmt.Sprintf("unknown flag --%s", name)
		if s := Closest(name, Names(fs)); s != "" {
			m += fmt.Sprintf("; did you mean --%s?", s)
		}
		return m
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		return fmt.Sprintf("--%s needs a value", name)
	}
	// invalid value "x" for flag -name: parse error
	// invalid boolean value "x" for -name: parse error
	for _, p := range []string{" for flag -", " for -"} {
		if i := strings.Index(msg, p); i >= 0 && strings.HasPrefix(msg, "invalid ") {
			rest := msg[i+len(p):]
			name, why, _ := strings.Cut(rest, ": ")
			value := strings.TrimPrefix(strings.TrimPrefix(msg[:i], "invalid boolean value "), "invalid value ")
			m := fmt.Sprintf("--%s %s", name, value)
			if why != "parse error" {
				m += ": " + why
			}
			if f := fs.Lookup(name); f != nil && kind(f) != "" && !strings.HasPrefix(why, "want ") {
				m += ": want " + kind(f)
			}
			return m
		}
	}
	return msg
}

// kind names what a flag's value is, from its default's type.
func kind(f *flag.Flag) string {
	type boolFlag interface{ IsBoolFlag() bool }
	if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
		return "true or false"
	}
	name, _ := flag.UnquoteUsage(f)
	switch name {
	case "int":
		return "a whole number"
	case "float":
		return "a number"
	case "duration":
		return "a duration such as 30s or 5m"
	case "uint":
		return "a whole number, 0 or more"
	}
	return "" // a value of the command's own type, whose error says what it wants
}

// Names lists fs's flags.
func Names(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// Closest returns the candidate nearest to typed: a candidate typed is a
// prefix of, else the one at the smallest edit distance if that is at most
// a third of its length (at least 2), else "".
func Closest(typed string, candidates []string) string {
	typed = strings.ToLower(typed)
	var prefixed []string
	for _, c := range candidates {
		if len(typed) >= 3 && strings.HasPrefix(c, typed) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestD := "", -1
	for _, c := range candidates {
		d := Distance(typed, c)
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := max(2, len(best)/3)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// Distance is the Damerau-Levenshtein distance (with adjacent
// transpositions, the optimal-string-alignment variant) between a and b.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
