package runinput

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/config"
)

const (
	ou1 = "o-abcdefghij/r-ab12/ou-ab12-11111111"
	ou2 = "o-abcdefghij/r-ab12/ou-ab12-22222222"
)

func TestParseValid(t *testing.T) {
	cfg := config.Default()
	cfg.IncludeAccounts = true
	tests := []struct {
		name string
		doc  string
		want Input
	}{
		{"empty document", ``, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"null", `null`, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"empty object", ` {} `, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"null fields are absent", `{"runId":null,"unusedDays":null,"entityPaths":null}`, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"every field", `{"runId":"manual_2026-11-25.a","entityPaths":["` + ou1 + `","` + ou2 + `"],"includeAccounts":false,"includePolicies":true,"unusedDays":30,"maxConcurrentJobs":2}`,
			Input{RunID: "manual_2026-11-25.a", EntityPaths: []string{ou1, ou2}, IncludePolicies: true, UnusedDays: 30, MaxConcurrentJobs: 2, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"bounds", `{"unusedDays":400,"maxConcurrentJobs":10}`, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 400, MaxConcurrentJobs: 10, MaxRunMinutes: 360, AccountRefreshDays: 7}},
		{"budget and refresh age", `{"maxRunMinutes":0.5,"accountRefreshDays":3}`, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 0.5, AccountRefreshDays: 3}},
		{"longest budget", `{"maxRunMinutes":1380,"accountRefreshDays":400}`, Input{RunID: "exec-1", IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 1380, AccountRefreshDays: 400}},
		{"account path", `{"entityPaths":["o-abcdefghij/r-ab12/ou-ab12-11111111/123456789012"]}`,
			Input{RunID: "exec-1", EntityPaths: []string{"o-abcdefghij/r-ab12/ou-ab12-11111111/123456789012"}, IncludeAccounts: true, UnusedDays: 90, MaxConcurrentJobs: 1, MaxRunMinutes: 360, AccountRefreshDays: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.doc), "exec-1", cfg)
			if err != nil {
				t.Fatalf("Got(Parse(%q)) error %v; want none", tt.doc, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Got(Parse(%q)) = %+v; want %+v", tt.doc, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	long := strings.Repeat("a", 81)
	tests := []struct {
		name      string
		doc       string
		execName  string
		wantField string
	}{
		{"unknown field", `{"runID":"x"}`, "e", "runID"},
		{"budget zero", `{"maxRunMinutes":0}`, "e", "maxRunMinutes"},
		{"budget negative", `{"maxRunMinutes":-5}`, "e", "maxRunMinutes"},
		{"budget past a day", `{"maxRunMinutes":1381}`, "e", "maxRunMinutes"},
		{"budget a string", `{"maxRunMinutes":"6h"}`, "e", "maxRunMinutes"},
		{"refresh zero", `{"accountRefreshDays":0}`, "e", "accountRefreshDays"},
		{"refresh fraction", `{"accountRefreshDays":1.5}`, "e", "accountRefreshDays"},
		{"refresh too many", `{"accountRefreshDays":401}`, "e", "accountRefreshDays"},
		{"trailing data", `{} {}`, "e", "input"},
		{"trailing garbage", `{}x`, "e", "input"},
		{"not an object", `[]`, "e", "input"},
		{"string document", `"x"`, "e", "input"},
		{"syntax", `{"runId":}`, "e", "input"},
		{"truncated", `{"runId":"x"`, "e", "input"},
		{"vertical tab before the document", "\v{}", "e", "input"},
		{"no-break space after the document", "{}\u00a0", "e", "input"},
		{"runId number", `{"runId":5}`, "e", "runId"},
		{"runId empty", `{"runId":""}`, "e", "runId"},
		{"runId traversal", `{"runId":"../x"}`, "e", "runId"},
		{"runId dot dot", `{"runId":".."}`, "e", "runId"},
		{"runId slash", `{"runId":"a/b"}`, "e", "runId"},
		{"runId too long", `{"runId":"` + long + `"}`, "e", "runId"},
		{"bad execution name", `{}`, "exec name with spaces", "runId"},
		{"entityPaths not array", `{"entityPaths":"` + ou1 + `"}`, "e", "entityPaths"},
		{"entityPaths empty", `{"entityPaths":[]}`, "e", "entityPaths"},
		{"entityPaths bad", `{"entityPaths":["o-abc/r-ab12"]}`, "e", "entityPaths[0]"},
		{"entityPaths uppercase", `{"entityPaths":["` + ou1 + `","o-ABCDEFGHIJ/r-ab12/ou-ab12-11111111"]}`, "e", "entityPaths[1]"},
		{"entityPaths empty segment", `{"entityPaths":["o-abcdefghij/r-ab12//ou-ab12-1111"]}`, "e", "entityPaths[0]"},
		{"entityPaths trailing slash", `{"entityPaths":["o-abcdefghij/r-ab12/ou-ab12-11111111","o-abcdefghij/r-ab12/"]}`, "e", "entityPaths[1]"},
		{"entityPaths duplicate", `{"entityPaths":["` + ou1 + `","` + ou1 + `"]}`, "e", "entityPaths[1]"},
		{"includeAccounts string", `{"includeAccounts":"true"}`, "e", "includeAccounts"},
		{"includePolicies number", `{"includePolicies":1}`, "e", "includePolicies"},
		{"unusedDays zero", `{"unusedDays":0}`, "e", "unusedDays"},
		{"unusedDays too big", `{"unusedDays":401}`, "e", "unusedDays"},
		{"unusedDays fraction", `{"unusedDays":1.5}`, "e", "unusedDays"},
		{"maxConcurrentJobs zero", `{"maxConcurrentJobs":0}`, "e", "maxConcurrentJobs"},
		{"maxConcurrentJobs too big", `{"maxConcurrentJobs":11}`, "e", "maxConcurrentJobs"},
		{"entityPaths over the bound", `{"entityPaths":` + manyPaths(MaxEntityPaths+1) + `}`, "e", "entityPaths"},
		{"unknown empty field", `{"":1}`, "e", "input"},
		{"unknown long field", `{"` + strings.Repeat("k", MaxFieldNameLen+1) + `":1}`, "e", "input"},
		{"unknown unprintable field", `{"a\u0000b":1}`, "e", "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), tt.execName, config.Default())
			var inv *InvalidInput
			if !errors.As(err, &inv) {
				t.Fatalf("Got(Parse(%q)) error %v; want *InvalidInput", tt.doc, err)
			}
			if !strings.HasPrefix(inv.Field, tt.wantField) {
				t.Errorf("Got(Parse(%q)) field %q (%v); want %q", tt.doc, inv.Field, err, tt.wantField)
			}
			if want := "invalid input: " + inv.Field + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Got(Error()) = %q; want prefix %q", err.Error(), want)
			}
		})
	}
}

func TestParseStrictNames(t *testing.T) {
	for _, doc := range []string{`{"RUNID":"x"}`, `{"unuseddays":3}`, `{"runId":"a","runId":"b"}`} {
		if _, err := Parse([]byte(doc), "e", config.Default()); err == nil {
			t.Errorf("Got(Parse(%q)) = nil error; want InvalidInput", doc)
		}
	}
}

// manyPaths is a JSON array of n distinct well-formed OU paths.
func manyPaths(n int) string {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%q", fmt.Sprintf("o-abcdefghij/r-ab12/ou-ab12-%08d", i))
	}
	return "[" + strings.Join(paths, ",") + "]"
}

func TestParseEntityPathsBound(t *testing.T) {
	tests := []struct {
		n         int
		wantError bool
	}{{1, false}, {MaxEntityPaths, false}, {MaxEntityPaths + 1, true}, {100000, true}}
	for _, tt := range tests {
		in, err := Parse([]byte(`{"entityPaths":`+manyPaths(tt.n)+`}`), "e", config.Default())
		if !tt.wantError {
			if err != nil || len(in.EntityPaths) != tt.n {
				t.Errorf("Got(Parse(%d paths)) = %d paths, %v; want %d, no error", tt.n, len(in.EntityPaths), err, tt.n)
			}
			continue
		}
		var inv *InvalidInput
		if !errors.As(err, &inv) || inv.Field != "entityPaths" || !strings.Contains(inv.Message, fmt.Sprint(MaxEntityPaths)) {
			t.Errorf("Got(Parse(%d paths)) = %v; want InvalidInput on entityPaths naming the bound %d", tt.n, err, MaxEntityPaths)
		}
	}
}

// TestTrailingSlashNamed: IAM accepts a path ending in a slash and fails
// its job later, so the input refuses it up front and quotes it.
func TestTrailingSlashNamed(t *testing.T) {
	_, err := Parse([]byte(`{"entityPaths":["o-abcdefghij/r-ab12/ou-ab12-11111111/"]}`), "e", config.Default())
	if err == nil || !strings.Contains(err.Error(), `"o-abcdefghij/r-ab12/ou-ab12-11111111/" ends with a slash`) {
		t.Errorf("Got(Parse(trailing slash)) = %v; want an error quoting the path and saying it ends with a slash", err)
	}
}
