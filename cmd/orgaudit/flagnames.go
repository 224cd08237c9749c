package main

import (
	"strings"

	"github.com/orgaudit/orgaudit/internal/runinput"
)

// inputFlags are the flags of `run` and `start` that stand for the fields
// of a run input. The Start function's messages name the JSON fields, which
// is what a caller of the state machine writes; a user of the CLI typed the
// flag, so the CLI names that instead.
var inputFlags = map[string]string{
	"runId":              "--run-id",
	"entityPaths":        "--entity-path",
	"includeAccounts":    "--include-accounts",
	"includePolicies":    "--include-policies",
	"unusedDays":         "--unused-days",
	"maxConcurrentJobs":  "--max-concurrent-jobs",
	"maxRunMinutes":      "--max-run-minutes",
	"accountRefreshDays": "--account-refresh-days",
}

// flagOf names the flag of a run input field ("entityPaths[2]" is
// --entity-path: the message quotes the path), or the field itself when no
// flag stands for it.
func flagOf(field string) string {
	name := field
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if f, ok := inputFlags[name]; ok {
		return f
	}
	return field
}

// inputError says what is wrong with a run input in the words of the
// command line: the flag, then the message with every field it names
// replaced by its flag. A message that already names the flag stands alone.
func inputError(bad *runinput.InvalidInput) string {
	msg := flagWords(bad.Message)
	f := flagOf(bad.Field)
	if f == bad.Field {
		return "invalid input: " + bad.Field + ": " + msg
	}
	if strings.Contains(msg, f) {
		return msg
	}
	return f + ": " + msg
}

// flagWords replaces the field names in a message by their flags. Quoted
// text is what the user gave and is left alone, as is the word after
// "run", which is a run id.
func flagWords(msg string) string {
	words := strings.Split(msg, " ")
	quoted := false
	for i, w := range words {
		if !quoted && !(i > 0 && words[i-1] == "run") {
			core := strings.TrimRight(w, ".,;:)")
			lead := ""
			if strings.HasPrefix(core, "(") {
				lead, core = "(", core[1:]
			}
			if f, ok := inputFlags[core]; ok {
				words[i] = lead + f + w[len(lead)+len(core):]
			}
		}
		if strings.Count(w, `"`)%2 == 1 {
			quoted = !quoted
		}
	}
	return strings.Join(words, " ")
}
