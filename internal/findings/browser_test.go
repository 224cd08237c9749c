package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/htmlreport"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
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

// waitFor polls a JavaScript condition for up to 5 seconds; the page draws
// the heatmap on an animation frame after a scroll.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if eval[bool](t, ctx, cond) {
			return
		}
	}
	t.Errorf("Got(%s false for 5 s); want true", cond)
}

// script runs a JavaScript statement in the page as a step.
func script(js string) chromedp.Action[chromedp.Void] {
	ev := chromedp.Evaluate[bool]("(" + js + ", true)")
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error { _, err := ev(ctx, t); return err })
}

// filterEntities replaces the entity filter's text.
func filterEntities(text string) chromedp.Action[chromedp.Void] { return typeInto("f-entity", text) }

// browserInput is a synthetic run over the first 62 catalog services, each
// used somewhere, plus hand-made entities whose cells are known: Alpha;
// Gamma, which lists 14 more services nobody accessed (the never-accessed
// group, with the longest namespace of the catalog among them); the
// management account; and an account five levels down, whose path wraps on a
// narrow screen.
func browserInput(t *testing.T) (Input, map[string]Entry) {
	t.Helper()
	in := synthRun(t, 200, 62, 11)
	known := map[string]Entry{
		"alpha": entry(t, "ou-ab12-alpha000", map[string]int{"acm": 3, "athena": 120, "backup": -1, "batch": 60, "bedrock": 400, "sts": 1}),
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
	for _, s := range catalog.All()[62:75] {
		ages[s.Namespace] = -1
	}
	ages[longestNamespace] = -1
	g := entry(t, "ou-ab12-gamma000", ages)
	g.Entity.Name = "Gamma"
	known["gamma"] = g
	account := func(id, name, path string, ages map[string]int) Entry {
		e := entry(t, id, ages)
		e.Entity = reportdoc.Entity{ID: id, Type: reportdoc.TypeAccount, Name: name, Path: path}
		return e
	}
	known["mgmt"] = account("111111111111", "Management", "o-abcdefghij/r-ab12/111111111111", map[string]int{"s3": 2, "iam": 1, "acm": -1})
	m := known["mgmt"]
	m.Management = true // as Finalize marks it from ManagementAccountID
	known["mgmt"] = m
	known["deep"] = account("222222222222", "Deep account", "o-abcdefghij/r-ab12/ou-ab12-00000003/ou-ab12-deep0001/ou-ab12-deep0002/ou-ab12-deep0003/222222222222",
		map[string]int{"s3": 2, "athena": 200, "acm": -1, longestNamespace: -1})
	in.ManagementAccountID = "111111111111"
	in.Entries = append(in.Entries, known["alpha"], known["gamma"], known["mgmt"], known["deep"])
	return in, known
}

// longestNamespace is the longest service namespace of the catalog: its
// column header must show whole.
const longestNamespace = "license-manager-linux-subscriptions"

// columnOrder is the heatmap's column order, worked out from the digests:
// services used within days somewhere, the most widely used first; then
// those accessed only longer ago; then, as the group, those never accessed
// anywhere; each by namespace within its kind.
func columnOrder(t *testing.T, entries []Entry, days int) (cols, group []string) {
	t.Helper()
	used, ever, listed := map[string]int{}, map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		if e.Digest == nil {
			continue
		}
		for _, s := range e.Digest.mustServices(t) {
			listed[s.Namespace] = true
			if !s.UnusedFor(days) {
				used[s.Namespace]++
			}
			if !s.Never() {
				ever[s.Namespace] = true
			}
		}
	}
	var inUse, old []string
	for ns := range listed {
		switch {
		case used[ns] > 0:
			inUse = append(inUse, ns)
		case ever[ns]:
			old = append(old, ns)
		default:
			group = append(group, ns)
		}
	}
	slices.SortFunc(inUse, func(a, b string) int {
		if used[a] != used[b] {
			return used[b] - used[a]
		}
		return strings.Compare(a, b)
	})
	slices.Sort(old)
	slices.Sort(group)
	return append(inUse, old...), group
}

func (d *Digest) mustServices(t *testing.T) []ServiceAge {
	t.Helper()
	s, err := d.Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openReport writes page to a temporary report.html, opens it in the
// browser and waits for the heatmap; it returns the file's path.
func openReport(t *testing.T, ctx context.Context, page []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS(".cell")))
	return file
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
	file := openReport(t, ctx, res.HTML)
	wantCols, wantGroup := columnOrder(t, in.Entries, 90)
	if len(wantGroup) < 10 {
		t.Fatalf("Got(%d never-accessed services in the input); want the group to have some", len(wantGroup))
	}
	headers := func(t *testing.T) []string {
		t.Helper()
		return eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".ch:not(.grp)")).sort(function(a,b){return parseFloat(a.style.left)-parseFloat(b.style.left)}).map(function(e){return e.textContent})`)
	}

	t.Run("default selection is the root, with a hint", func(t *testing.T) {
		title := eval[string](t, ctx, `document.querySelector("#detail h2").textContent`)
		hint := eval[string](t, ctx, `(document.querySelector("#detail .hint")||{}).textContent||""`)
		if title != "rootRoot" || !strings.Contains(hint, "Click any row") {
			t.Errorf("Got(detail title, hint) = %q, %q; want the root (badge and name) and a hint to click a row", title, hint)
		}
		sel := eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".rl.sel")).map(function(e){return e.dataset.id})`)
		if !slices.Equal(sel, []string{"r-ab12"}) {
			t.Errorf("Got(selected rows) = %q; want [r-ab12]", sel)
		}
	})

	t.Run("columns: used first, never accessed collapsed into one group", func(t *testing.T) {
		cols := eval[[]string](t, ctx, `window.orgauditColumns()`)
		group := eval[[]string](t, ctx, `window.orgauditGroup()`)
		if !slices.Equal(cols, wantCols) || !slices.Equal(group, wantGroup) {
			t.Errorf("Got(columns, group) = %q, %q; want %q, %q", cols, group, wantCols, wantGroup)
		}
		// What the reader sees: the headers in view are the first columns,
		// in that order.
		h := headers(t)
		if len(h) < 20 || !slices.Equal(h, wantCols[:len(h)]) {
			t.Errorf("Got(headers in view) = %q; want the first %d of %q", h, len(h), wantCols)
		}
		// The group is one column at the end; its cells count the row's
		// listed services of the group (Gamma lists them all).
		do(t, ctx, filterEntities("gamma"), script(`document.getElementById("grid").scrollLeft = 1e6`))
		waitFor(t, ctx, `!!document.getElementById("never-group")`) // drawn on the next frame
		text := eval[string](t, ctx, `(document.getElementById("never-group")||{}).textContent||""`)
		if !strings.HasPrefix(text, fmt.Sprintf("%dservices never accessed anywhere", len(wantGroup))) {
			t.Errorf("Got(group header) = %q; want %d services never accessed anywhere", text, len(wantGroup))
		}
		cell := eval[string](t, ctx, `(document.querySelector('.cell.grp[data-id="ou-ab12-gamma000"]')||{}).textContent||""`)
		if cell != fmt.Sprint(len(wantGroup)) {
			t.Errorf("Got(Gamma's group cell) = %q; want %d", cell, len(wantGroup))
		}
		// Opening the group shows its services one by one, after the others.
		do(t, ctx, chromedp.Click(chromedp.ID("never-group")))
		cols = eval[[]string](t, ctx, `window.orgauditColumns()`)
		if want := append(slices.Clone(wantCols), wantGroup...); !slices.Equal(cols, want) || eval[int](t, ctx, `document.querySelectorAll("#never-group").length`) != 0 {
			t.Errorf("Got(columns after opening the group) = %q; want %q and no group column", cols, want)
		}
		toggle := eval[string](t, ctx, `document.getElementById("never-toggle").textContent`)
		if toggle != fmt.Sprintf("collapse the %d never-accessed services", len(wantGroup)) {
			t.Errorf("Got(toggle) = %q; want it to offer collapsing", toggle)
		}
		// No header is cut, the catalog's longest namespace included (at
		// the far right).
		do(t, ctx, script(`document.getElementById("grid").scrollLeft = 1e6`))
		waitFor(t, ctx, fmt.Sprintf(`!!document.querySelector('.ch[data-ns=%q]')`, longestNamespace))
		cut := eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".ch:not(.grp) span")).filter(function(s){return s.scrollWidth > s.clientWidth}).map(function(s){return s.textContent})`)
		if len(cut) > 0 || !slices.Contains(headers(t), longestNamespace) {
			t.Errorf("Got(cut headers) = %q (in view: %q); want none, %s shown", cut, headers(t), longestNamespace)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("never-toggle")))
		if group := eval[[]string](t, ctx, `window.orgauditGroup()`); !slices.Equal(group, wantGroup) {
			t.Errorf("Got(group after collapsing) = %q; want %q", group, wantGroup)
		}
		do(t, ctx, script(`document.getElementById("grid").scrollLeft = 0`))
	})

	t.Run("known cells", func(t *testing.T) {
		do(t, ctx, filterEntities("alpha"))
		tests := []struct {
			ns, want string
		}{
			{"acm", "cell c-a"},
			{"batch", "cell c-b"},
			{"athena", "cell c-c u"},
			{"bedrock", "cell c-d u"},
			{"backup", "cell c-n"},
			{"amplify", "cell c-x"}, // listed for others, not for Alpha
		}
		for _, tc := range tests {
			// The service filter brings the column into view.
			do(t, ctx, typeInto("f-service", tc.ns))
			sel := fmt.Sprintf(`.cell[data-id="ou-ab12-alpha000"][data-ns=%q]`, tc.ns)
			got := eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q)||{}).className||""`, sel))
			if got != tc.want {
				t.Errorf("Got(class of Alpha × %s) = %q; want %q", tc.ns, got, tc.want)
			}
		}
		do(t, ctx, typeInto("f-service", " "))
	})

	t.Run("unused marker and legend are visible", func(t *testing.T) {
		// The outline of an unused cell must stand out from every fill it
		// is drawn on (WCAG's 3:1 for graphics), and the legend says so.
		ratios := eval[[]float64](t, ctx, `(function(){
			function lum(c){var m=c.match(/[\d.]+/g).slice(0,3).map(function(v){v/=255;return v<=0.03928?v/12.92:Math.pow((v+0.055)/1.055,2.4)});return 0.2126*m[0]+0.7152*m[1]+0.0722*m[2]}
			return ["c-a","c-b","c-c","c-d"].map(function(k){
				var e=document.createElement("i"); e.className="cell u "+k; document.getElementById("layer").appendChild(e);
				var cs=getComputedStyle(e), bg=lum(cs.backgroundColor), mk=lum(cs.boxShadow.match(/rgba?\([^)]*\)/)[0]);
				e.remove(); return (Math.max(bg,mk)+0.05)/(Math.min(bg,mk)+0.05);
			});
		})()`)
		for i, r := range ratios {
			if r < 3 {
				t.Errorf("Got(contrast of the unused outline on bucket %d) = %.2f; want at least 3", i, r)
			}
		}
		legend := eval[[]float64](t, ctx, `(function(){var r=document.getElementById("legend-unused").getBoundingClientRect();return [r.width,r.height,r.right,window.innerWidth]})()`)
		if legend[0] == 0 || legend[1] == 0 || legend[2] > legend[3] {
			t.Errorf("Got(legend of the outline at %v); want it laid out inside the window", legend)
		}
	})

	t.Run("rows show type, id, depth and the management account", func(t *testing.T) {
		do(t, ctx, filterEntities("o-abcdefghij"))
		type label struct {
			ID, Badge, Mgmt, Shown string
			Indent                 float64
		}
		rows := eval[[]label](t, ctx, `Array.from(document.querySelectorAll(".rl")).map(function(e){
			var m=e.querySelector(".badge.mgmt"), i=e.querySelector(".id");
			return {ID:e.dataset.id, Badge:e.querySelector(".badge").textContent, Mgmt:m?m.textContent:"", Shown:i?i.textContent:"", Indent:parseFloat(e.style.paddingLeft)}})`)
		want := map[string]label{
			"r-ab12":           {Badge: "root", Shown: "r-ab12", Indent: 6},
			"111111111111":     {Badge: "account", Mgmt: "management", Shown: "111111111111", Indent: 18},
			"ou-ab12-00000003": {Badge: "OU", Shown: "ou-ab12-00000003", Indent: 18},
		}
		for _, r := range rows {
			if w, ok := want[r.ID]; ok {
				w.ID = r.ID
				if r != w {
					t.Errorf("Got(row %s) = %+v; want %+v", r.ID, r, w)
				}
				delete(want, r.ID)
			}
			if r.Mgmt != "" && r.ID != "111111111111" {
				t.Errorf("Got(row %s marked management); want only the management account", r.ID)
			}
		}
		for id := range want {
			t.Errorf("Got(no row %s in view); want it", id)
		}
		do(t, ctx, filterEntities("222222222222"))
		if got := eval[float64](t, ctx, `parseFloat(document.querySelector(".rl").style.paddingLeft)`); got != 6+12*5 {
			t.Errorf("Got(indent of the account five levels down) = %v; want %v", got, 6+12*5)
		}
	})

	t.Run("thousands separators", func(t *testing.T) {
		var doc Document
		if err := json.Unmarshal(res.FindingsJSON, &doc); err != nil {
			t.Fatal(err)
		}
		totals, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("totals")))
		if err != nil {
			t.Fatal(err)
		}
		if doc.Totals.Unused < 1000 || !strings.Contains(totals, htmlreport.Thousands(doc.Totals.Unused)+"\n") && !strings.Contains(totals, htmlreport.Thousands(doc.Totals.Unused)) {
			t.Errorf("Got(totals) = %q; want %s unused pairs with separators", totals, htmlreport.Thousands(doc.Totals.Unused))
		}
	})

	t.Run("virtualised grid", func(t *testing.T) {
		do(t, ctx, filterEntities("a"))
		cells := eval[int](t, ctx, `document.querySelectorAll(".cell:not(.grp)").length`)
		groupCells := eval[int](t, ctx, `document.querySelectorAll(".cell.grp").length`)
		rows := eval[int](t, ctx, `document.querySelectorAll(".rl").length`)
		cols := len(headers(t))
		if cells != rows*cols || rows == 0 || cols == 0 || (groupCells != 0 && groupCells != rows) {
			t.Errorf("Got(cells, group cells, rows, cols) = %d, %d, %d, %d; want rows×cols cells and at most a group cell a row", cells, groupCells, rows, cols)
		}
		if total := len(in.Entries); rows >= total {
			t.Errorf("Got(rendered rows) = %d; want fewer than the %d entities (only the visible part)", rows, total)
		}
		// The box takes the window's height.
		box := eval[[]float64](t, ctx, `[document.getElementById("grid").getBoundingClientRect().height, window.innerHeight]`)
		if box[0] < box[1]-60 || box[0] > box[1] {
			t.Errorf("Got(heatmap height %v in a window %v high); want about the window's height", box[0], box[1])
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
		if want := fmt.Sprintf("1 of %d entity reports ", len(in.Entries)); !strings.HasPrefix(count, want) {
			t.Errorf("Got(count) = %q; want it to start with %q", count, want)
		}
	})

	t.Run("service filter and only unused narrow columns", func(t *testing.T) {
		do(t, ctx, filterEntities("a"), typeInto("f-service", "backup"))
		var want []string
		for _, ns := range append(slices.Clone(wantCols), wantGroup...) {
			if strings.Contains(ns, "backup") {
				want = append(want, ns)
			}
		}
		if cols := headers(t); !slices.Equal(cols, want) {
			t.Errorf("Got(columns for service filter backup) = %q; want %q", cols, want)
		}
		do(t, ctx, filterEntities("alpha"), chromedp.Click(chromedp.ID("f-unused")))
		if cols := headers(t); !slices.Equal(cols, []string{"backup"}) {
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
		do(t, ctx, chromedp.Click(chromedp.ID("sort-path")))
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
		if n := eval[int](t, ctx, `document.querySelectorAll("#detail .hint").length`); n != 0 {
			t.Errorf("Got(%d hints after a row was picked); want none", n)
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

	t.Run("management account has no suggestion and says why", func(t *testing.T) {
		do(t, ctx, filterEntities("111111111111"), chromedp.Click(chromedp.CSS(`.rl[data-id="111111111111"]`)))
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("detail")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, ManagementAccountNote) || !strings.Contains(text, "management account, account 111111111111") ||
			eval[int](t, ctx, `document.querySelectorAll("#detail pre.scp").length`) != 0 {
			t.Errorf("Got(detail of the management account) = %q; want it marked, the reason, and no SCP", text)
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

	t.Run("screenshots at 1400 and 480 pixels", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS(".cell")))
		screenshot(t, ctx, "report-1400.png")

		// A phone-sized window: nothing overflows the page, the unused
		// services table fits its card, and the deep account's path breaks
		// only after a slash.
		do(t, ctx, chromedp.EmulateViewport(480, 900), chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS(".cell")),
			filterEntities("222222222222"), chromedp.Click(chromedp.CSS(`.rl[data-id="222222222222"]`)))
		overflow := eval[[]string](t, ctx, `(function(){
			var out=[], d=document.documentElement;
			if (d.scrollWidth > d.clientWidth) out.push("page " + d.scrollWidth + " > " + d.clientWidth);
			if (window.innerWidth !== 480) out.push("window " + window.innerWidth);
			document.querySelectorAll("section, .list").forEach(function(e){
				if (e.scrollWidth > e.clientWidth + 1) out.push((e.id || e.className) + " " + e.scrollWidth + " > " + e.clientWidth);
			});
			var t=document.querySelector("#detail .list table");
			if (!t || t.getBoundingClientRect().right > document.getElementById("detail").getBoundingClientRect().right) out.push("unused table outside its card");
			return out;
		})()`)
		if len(overflow) > 0 {
			t.Errorf("Got(horizontal overflow at 480 px) = %q; want none", overflow)
		}
		broken := eval[[]string](t, ctx, `(function(){
			var p=document.querySelector("#detail .path"), out=[], lines={};
			var parts=Array.from(p.querySelectorAll(".seg"));
			if (parts.map(function(n){return n.textContent}).join("") !== "o-abcdefghij/r-ab12/ou-ab12-00000003/ou-ab12-deep0001/ou-ab12-deep0002/ou-ab12-deep0003/222222222222") out.push("path shown as " + p.textContent);
			parts.forEach(function(n){
				var tops={}; Array.from(n.getClientRects()).forEach(function(x){tops[Math.round(x.top)]=1});
				if (Object.keys(tops).length > 1) out.push(n.textContent);
				Object.keys(tops).forEach(function(k){lines[k]=1});
			});
			if (Object.keys(lines).length < 2) out.push("the path did not wrap at all: the test proves nothing");
			return out;
		})()`)
		if len(broken) > 0 {
			t.Errorf("Got(path parts broken across lines at 480 px) = %q; want breaks only after a slash", broken)
		}
		screenshot(t, ctx, "report-480.png")
	})
}

// screenshot saves a full-page PNG of the page under testdata/artifacts
// (gitignored), where a person can look at it after the test.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG, not JPEG */)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(artifacts, name)
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 {
		t.Errorf("Got(len(%s)) = %d; want a real page image", name, len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
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
	openReport(t, ctx, res.HTML)
	nodes := eval[int](t, ctx, `document.getElementsByTagName("*").length`)
	if nodes > 10_000 {
		t.Errorf("Got(DOM elements) = %d; want at most 10,000 for 450,000 cells", nodes)
	}
	t.Logf("DOM elements at 1,000 × 450: %d", nodes)
}
