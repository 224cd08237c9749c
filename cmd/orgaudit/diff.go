package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

func init() {
	register(command{name: "diff", summary: "show services newly accessed or newly unused between two runs", run: diffCommand})
}

const diffUsage = `Usage: orgaudit diff [flags] RUN_A RUN_B

Compares two stored runs entity by entity, RUN_A the older: services newly
accessed in RUN_B (never accessed, unused or not listed in RUN_A, accessed
within the threshold now) and services that became unused (accessed within the
threshold in RUN_A, still listed and not accessed within it in RUN_B). Each run
is judged from its own report time, with RUN_B's threshold. Only entities whose
reports succeeded in both runs are compared. Runs of two organizations are
refused; the same run twice, or RUN_A newer than RUN_B, is compared with a
warning. "latest" names the newest finished run (latest.json), "previous" the
run it was compared with.

  orgaudit diff previous latest
`

func diffCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, ok := envConfig(stderr, "orgaudit diff")
	if !ok {
		return exitUsage
	}
	var st storeFlags
	var asJSON bool
	fs := newFlagSet("orgaudit diff", diffUsage, stderr)
	st.register(fs, env)
	fs.BoolVar(&asJSON, "json", false, "print the changes as JSON (the summary's changes section)")
	pos, code := parseArgs(ctx, fs, args, 2, stdout, stderr)
	if code >= 0 {
		return code
	}
	store, err := st.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit diff:", err)
		return exitFailure
	}
	for i := range pos {
		if pos[i], err = resolveRun(ctx, store, pos[i]); err != nil {
			fmt.Fprintln(stderr, "orgaudit diff:", err)
			return exitFailure
		}
	}
	b, err := loadRun(ctx, store, pos[1], st.unusedDays, env.UnusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit diff:", err)
		return exitFailure
	}
	a, err := loadRun(ctx, store, pos[0], b.unusedDays, b.unusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit diff:", err)
		return exitFailure
	}
	if oa, ob := a.summary.OrganizationID, b.summary.OrganizationID; oa != ob {
		fmt.Fprintf(stderr, "orgaudit diff: run %s audits organization %s and run %s audits %s: compare two runs of one organization\n", pos[0], oa, pos[1], ob)
		return exitUsage
	}
	switch sa, sb := a.summary.StartedAt, b.summary.StartedAt; {
	case pos[0] == pos[1]:
		fmt.Fprintf(stderr, "orgaudit diff: warning: RUN_A and RUN_B are the same run, %s: nothing can have changed\n", pos[0])
	case sa != nil && sb != nil && sa.After(sb.Time):
		fmt.Fprintf(stderr, "orgaudit diff: warning: run %s started after run %s: the changes read backwards (give the older run first)\n", pos[0], pos[1])
	}
	ch, err := findings.Compare(b.entries, &findings.Previous{RunID: pos[0], Entries: a.entries}, b.unusedDays)
	if err != nil {
		fmt.Fprintln(stderr, "orgaudit diff:", err)
		return exitFailure
	}
	if asJSON {
		out, err := json.MarshalIndent(ch, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "orgaudit diff:", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "%s\n", out)
		return exitOK
	}
	printChanges(stdout, pos[0], pos[1], ch)
	return exitOK
}

func printChanges(w io.Writer, runA, runB string, ch *reportdoc.Changes) {
	fmt.Fprintf(w, "Changes from run %s to run %s (unused: not accessed for %s)\n\n", runA, runB, count(ch.UnusedDays, "day", "days"))
	if len(ch.Entities) == 0 {
		fmt.Fprintln(w, "No changes.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ENTITY\tNEWLY ACCESSED\tBECAME UNUSED")
		for _, e := range ch.Entities {
			name := printable(e.Path)
			if e.PolicyID != nil {
				name += " (policy " + *e.PolicyID + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, list(e.NewlyAccessed), list(e.BecameUnused))
		}
		tw.Flush()
	}
	t := ch.Totals
	fmt.Fprintf(w, "\n%s compared, %d changed, %d new; %s newly accessed, %d became unused.\n",
		count(t.Compared, "entity report", "entity reports"), t.Changed, t.New, count(t.NewlyAccessed, "service", "services"), t.BecameUnused)
	printCaveats(w)
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func printCaveats(w io.Writer) {
	fmt.Fprintln(w, "\nCaveats:")
	for _, c := range findings.Caveats {
		fmt.Fprintln(w, "  - "+c)
	}
}
