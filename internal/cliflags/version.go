package cliflags

import (
	"fmt"
	"runtime/debug"
)

// Version is the line `orgaudit --version` prints: the module's version,
// the commit it was built from (with "modified" when the tree had
// uncommitted changes) and its time, and the Go version, as the binary's
// build information records them.
func Version(prog string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return prog + " (no build information)"
	}
	return versionOf(prog, info)
}

func versionOf(prog string, info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	line := fmt.Sprintf("%s %s", prog, v)
	if rev != "" {
		line += fmt.Sprintf(" commit %s (%s%s)", rev, at, modified)
	} else {
		line += " commit unknown (built without version control information)"
	}
	return line + " " + info.GoVersion
}
