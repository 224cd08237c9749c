package findings

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgaudit/orgaudit/internal/htmlreport"
	"github.com/orgaudit/orgaudit/internal/scpsuggest"
)

// artifacts is the repository's gitignored folder for test output worth a
// look (screenshots).
const artifacts = "../../testdata/artifacts"

// browser starts headless Chromium for the test, or skips when it is not
// installed (never under CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		} else if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed")
		} else {
			t.Skip("chromium not installed")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	// The deadline bounds the whole browser: a hung page fails the test
	// instead of hanging it.
	deadline, cancelDeadline := context.WithTimeout(context.Background(), 60*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelDeadline() })
	return ctx
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs browser steps, failing the test on error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// typeInto replaces the text of an input as a user would: clear it, then
// type, so the page sees input events.
func typeInto(id, text string) chromedp.Action[chromedp.Void] {
	clear := chromedp.Evaluate[bool](fmt.Sprintf(`(document.getElementById(%q).value = "", true)`, id))
	return chromedp.Steps(
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error { _, err := clear(ctx, t); return err }),
		chromedp.SendKeys(chromedp.ID(id), text),
	)
}

// filterEntities replaces the entity filter's text.
func filterEntities(text string) chromedp.Action[chromedp.Void] { return typeInto("f-entity", text) }

// browserInput is a synthetic run over the first 62 catalog services (all
// visible at once, bedrock the last of them) plus three hand-made entities whose cells are known.
func browserInput(t *testing.T) (Input, map[string]Entry) {
	t.Helper()
	in := synthRun(t, 200, 62, 11)
	known := map[string]Entry{
		"alpha": entry(t, "ou-ab12-alpha000", map[string]int{"acm": 3, "athena": 120, "backup": -1, "batch": 60, "bedrock": 400, "sts": 1}),
		"gamma": entry(t, "ou-ab12-gamma000", nil),
	}
	a := known["alpha"]
	a.Entity.Name = "Alpha"
	known["alpha"] = a
	// Gamma lists every service and used none: the most unused.
	ages := map[string]int{}
	for _, s := range in.Entries[2].Digest.mustServices(t) {
		ages[s.Namespace] = -1
	}
	for _, ns := range []string{"acm", "athena", "backup", "batch", "bedrock"} {
		ages[ns] = -1
	}
	g := entry(t, "ou-ab12-gamma000", ages)
	g.Entity.Name = "Gamma"
	known["gamma"] = g
	in.Entries = append(in.Entries, known["alpha"], known["gamma"])
	return in, known
}

func (d *Digest) mustServices(t *testing.T) []ServiceAge {
	t.Helper()
	s, err := d.Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReportInBrowser(t *testing.T) {
	ctx := browser(t)
	in, known := browserInput(t)
	in.Previous = &Previous{RunID: "2026-11-24T03-00-00Z", Entries: []Entry{
		entry(t, "ou-ab12-alpha000", map[string]int{"acm": 200, "athena": 20, "sts": 1}),
	}}
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, res.HTML, 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS(".cell")))

	t.Run("known cells", func(t *testing.T) {
		do(t, ctx, filterEntities("alpha"))
		tests := []struct {
			ns, want string
		}{
			{"acm", "cell c-a"},
			{"batch", "cell c-b"},
			{"athena", "cell c-c u"},
			{"bedrock", "cell c-d u"},
			{"backup", "cell c-n u"},
			{"amplify", "cell c-x"}, // listed for others, not for Alpha
		}
		for _, tc := range tests {
			sel := fmt.Sprintf(`.cell[data-id="ou-ab12-alpha000"][data-ns=%q]`, tc.ns)
			got := eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q)||{}).className||""`, sel))
			if got != tc.want {
				t.Errorf("Got(class of Alpha × %s) = %q; want %q", tc.ns, got, tc.want)
			}
		}
	})

	t.Run("virtualised grid", func(t *testing.T) {
		do(t, ctx, filterEntities("a"))
		cells := eval[int](t, ctx, `document.querySelectorAll(".cell").length`)
		rows := eval[int](t, ctx, `document.querySelectorAll(".rl").length`)
		cols := eval[int](t, ctx, `document.querySelectorAll(".ch").length`)
		// 62 services plus sts, which only Alpha lists.
		if cells != rows*cols || rows == 0 || cols != 63 {
			t.Errorf("Got(cells, rows, cols) = %d, %d, %d; want rows×cols cells over 63 columns", cells, rows, cols)
		}
		if total := len(in.Entries); rows >= total {
			t.Errorf("Got(rendered rows) = %d; want fewer than the %d entities (only the visible part)", rows, total)
		}
	})

	labels := func(t *testing.T) []string {
		t.Helper()
		return eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".rl")).sort(function(a,b){return parseFloat(a.style.top)-parseFloat(b.style.top)}).map(function(e){return e.dataset.id})`)
	}

	t.Run("entity filter narrows rows", func(t *testing.T) {
		before := len(labels(t))
		do(t, ctx, filterEntities("alpha"))
		if got := labels(t); !slices.Equal(got, []string{"ou-ab12-alpha000"}) {
			t.Errorf("Got(rows after filter alpha, %d before) = %q; want [ou-ab12-alpha000]", before, got)
		}
		count, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("count")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(count, "1 of 202 ") {
			t.Errorf("Got(count) = %q; want it to start with \"1 of 202 \"", count)
		}
	})

	t.Run("service filter and only unused narrow columns", func(t *testing.T) {
		do(t, ctx, filterEntities("a"), typeInto("f-service", "backup"))
		cols := eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".ch")).map(function(e){return e.textContent})`)
		if want := []string{"backup", "backup-gateway", "backup-search", "backup-storage"}; !slices.Equal(cols, want) {
			t.Errorf("Got(columns for service filter backup) = %q; want %q", cols, want)
		}
		do(t, ctx, filterEntities("alpha"), chromedp.Click(chromedp.ID("f-unused")))
		cols = eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".ch")).map(function(e){return e.textContent})`)
		if !slices.Equal(cols, []string{"backup"}) {
			t.Errorf("Got(columns for backup, only unused, Alpha) = %q; want [backup]", cols)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("f-unused")), typeInto("f-service", " ")) // blank matches every service
	})

	t.Run("sort by unused and by name", func(t *testing.T) {
		do(t, ctx, filterEntities("a"), chromedp.Click(chromedp.ID("sort-unused")))
		if got := labels(t); first(got) != "ou-ab12-gamma000" {
			t.Errorf("Got(first row by unused count) = %q; want ou-ab12-gamma000", first(got))
		}
		do(t, ctx, filterEntities("Team 00"), chromedp.Click(chromedp.ID("sort-name")))
		if got := labels(t); first(got) != "ou-ab12-00000002" {
			t.Errorf("Got(first row by name) = %q; want ou-ab12-00000002 (Team 0002)", first(got))
		}
		do(t, ctx, chromedp.Click(chromedp.ID("sort-name")))
		if got := labels(t); first(got) != "ou-ab12-00000099" {
			t.Errorf("Got(first row by name, descending) = %q; want ou-ab12-00000099 (Team 0099)", first(got))
		}
	})

	t.Run("scp suggestion matches package scpsuggest", func(t *testing.T) {
		f, _, err := Analyze(known["alpha"], 90, scpsuggest.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := scpsuggest.Suggest(f.Unused, scpsuggest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		do(t, ctx, filterEntities("alpha"), chromedp.Click(chromedp.CSS(`.rl[data-id="ou-ab12-alpha000"]`)))
		docs := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#detail pre.scp")).map(function(e){return e.textContent})`)
		if !slices.Equal(docs, want.Policies) {
			t.Errorf("Got(page SCP) = %q; want %q", docs, want.Policies)
		}
		// This run records no SCPs: the page says the suggestion is unchecked.
		verdict := eval[string](t, ctx, `Array.from(document.querySelectorAll("#detail p")).map(function(e){return e.textContent}).filter(function(s){return s.indexOf("What-if")===0}).join("|")`)
		if verdict != "What-if: not checked (the run does not record its SCPs)." {
			t.Errorf("Got(page verdict) = %q; want the suggestion marked not checked", verdict)
		}
		// Copy puts the document on the clipboard (the clipboard API, or the
		// fallback when a file:// page may not use it).
		do(t, ctx, chromedp.Click(chromedp.CSS(`#detail button.copy`)))
		// The outcome arrives asynchronously and shows for 1.5 s.
		got := "Copy"
		for deadline := time.Now().Add(3 * time.Second); got == "Copy" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got = eval[string](t, ctx, `document.querySelector("#detail button.copy").textContent`)
		}
		if got != "Copied" {
			t.Errorf("Got(copy button after click) = %q; want \"Copied\"", got)
		}
		changes, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("changes-body")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(changes, "2026-11-24T03-00-00Z") || !strings.Contains(changes, "acm") {
			t.Errorf("Got(changes section) = %q; want the previous run id and acm newly accessed", changes)
		}
	})

	t.Run("scp plan matches package scpplan", func(t *testing.T) {
		pl := planOf(sortedEntries(in.Entries), 90)
		if pl.Plan == nil || len(pl.Plan.Policies) == 0 {
			t.Fatalf("Got(plan) = %+v; want policies", pl)
		}
		type doc struct {
			Name    string   `json:"name"`
			Targets []string `json:"targets"`
			Content string   `json:"content"`
		}
		got := eval[[]doc](t, ctx, `window.orgauditPlan()`)
		want := pl.Plan.Policies
		if len(want) > htmlreport.MaxPlanPolicies {
			want = want[:htmlreport.MaxPlanPolicies]
		}
		if len(got) != len(want) {
			t.Fatalf("Got(%d plan policies on the page); want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Name != want[i].Name || got[i].Content != want[i].Content || !slices.Equal(got[i].Targets, want[i].Targets) {
				t.Errorf("Got(page plan policy %d) = %+v; want %s %v %s", i, got[i], want[i].Name, want[i].Targets, want[i].Content)
			}
		}
		do(t, ctx, chromedp.Click(chromedp.CSS(`#plan button.copy`)))
		label := "Copy"
		for deadline := time.Now().Add(3 * time.Second); label == "Copy" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			label = eval[string](t, ctx, `document.querySelector("#plan button.copy").textContent`)
		}
		if label != "Copied" {
			t.Errorf("Got(plan copy button after click) = %q; want \"Copied\"", label)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("plan-body")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, fmt.Sprintf("%d policies", len(pl.Plan.Policies))) || !strings.Contains(text, want[0].Name) {
			t.Errorf("Got(plan section) = %q; want the count and the first policy", text)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		do(t, ctx, filterEntities("a"), chromedp.Click(chromedp.ID("sort-path")),
			chromedp.Click(chromedp.CSS(`.rl[data-id="ou-ab12-00000003"]`)))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG, not JPEG */)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(artifacts, "report.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		if len(png) < 10_000 {
			t.Errorf("Got(len(screenshot)) = %d; want a real page image", len(png))
		}
		t.Logf("screenshot: %s (%d bytes)", out, len(png))
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestReportAtScale renders 1,000 OUs × 450 services, records the file
// size, and checks in the browser that the DOM holds only the visible part.
func TestReportAtScale(t *testing.T) {
	in := synthRun(t, 1000, 450, 21)
	res, err := Finalize(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 × 450: report.html %d bytes, findings.json %d bytes", len(res.HTML), len(res.FindingsJSON))
	if len(res.HTML) > 2<<20 {
		t.Errorf("Got(len(report.html)) = %d; want at most 2 MiB", len(res.HTML))
	}
	ctx := browser(t)
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, res.HTML, 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS(".cell")))
	nodes := eval[int](t, ctx, `document.getElementsByTagName("*").length`)
	if nodes > 10_000 {
		t.Errorf("Got(DOM elements) = %d; want at most 10,000 for 450,000 cells", nodes)
	}
	t.Logf("DOM elements at 1,000 × 450: %d", nodes)
}
