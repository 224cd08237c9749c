package pipeline

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/runinput"
)

// TestBadInputWritesNothing sends manual executions with bad input through
// Start against the simulator: wrong types, unknown fields, well-formed
// paths outside the organization and huge arrays each fail with an
// *InvalidInput naming the field, before any job starts or any object is
// written anywhere in the bucket.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	ou, _ := e.org.Node(e.org.OUs[0].ID)
	root := e.org.ID + "/" + e.org.Root.ID
	// Well formed, but not this organization's entities.
	otherOrg := "o-zzzzzzzzzz/" + e.org.Root.ID
	otherRoot := e.org.ID + "/r-zzzz"
	unknownOU := root + "/ou-zzzz-zzzzzzzz"
	unknownAccount := ou.Path + "/000000000000"
	huge := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return `{"entityPaths":[` + strings.Join(items, ",") + `]}`
	}
	distinct := func(i int) string { return fmt.Sprintf(`"%s/ou-zzzz-%08d"`, root, i) }
	tests := []struct {
		name, input, field string
	}{
		{"runId number", `{"runId":42}`, "runId"},
		{"runId object", `{"runId":{"name":"x"}}`, "runId"},
		{"entityPaths string", `{"entityPaths":"` + ou.Path + `"}`, "entityPaths"},
		{"entityPaths numbers", `{"entityPaths":[1,2]}`, "entityPaths"},
		{"includeAccounts string", `{"includeAccounts":"true"}`, "includeAccounts"},
		{"includePolicies number", `{"includePolicies":1}`, "includePolicies"},
		{"unusedDays string", `{"unusedDays":"90"}`, "unusedDays"},
		{"unusedDays fraction", `{"unusedDays":30.5}`, "unusedDays"},
		{"maxConcurrentJobs bool", `{"maxConcurrentJobs":true}`, "maxConcurrentJobs"},
		{"maxConcurrentJobs out of range", `{"maxConcurrentJobs":11}`, "maxConcurrentJobs"},
		{"unknown field", `{"includeAccount":true}`, "includeAccount"},
		{"unknown field by case", `{"RunId":"x"}`, "RunId"},
		{"unknown empty field", `{"":true}`, "input"},
		{"duplicate field", `{"unusedDays":30,"unusedDays":31}`, "unusedDays"},
		{"not an object", `["` + ou.Path + `"]`, "input"},
		{"invalid UTF-8 in run id", "{\"runId\":\"run-\xff\"}", "runId"},
		{"deep nesting", `{"entityPaths":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "input"},
		{"path in another organization", `{"entityPaths":["` + otherOrg + `"]}`, "entityPaths[0]"},
		{"path under another root", `{"entityPaths":["` + ou.Path + `","` + otherRoot + `"]}`, "entityPaths[1]"},
		{"no such OU", `{"entityPaths":["` + unknownOU + `"]}`, "entityPaths[0]"},
		{"no such account", `{"entityPaths":["` + unknownAccount + `"]}`, "entityPaths[0]"},
		{"100,000 distinct paths", huge(100000, distinct), "entityPaths"},
		{"100,000 copies of one path", huge(100000, func(int) string { return `"` + ou.Path + `"` }), "entityPaths"},
		{"one path over the bound", huge(runinput.MaxEntityPaths+1, distinct), "entityPaths"},
		{"100,000 numbers", huge(100000, func(i int) string { return fmt.Sprint(i) }), "entityPaths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.p.Start(ctx, StartEvent{ExecutionName: "bad-input", Input: json.RawMessage(tt.input)})
			inv, ok := err.(*runinput.InvalidInput)
			if !ok {
				t.Fatalf("Got(Start(%.80s)) error %T %v; want *runinput.InvalidInput unwrapped", tt.input, err, err)
			}
			if typ := reflect.TypeOf(err).Elem().Name(); typ != "InvalidInput" {
				t.Errorf("Got(error type name) = %q; want InvalidInput (the state machine matches it)", typ)
			}
			if inv.Field != tt.field || inv.Message == "" {
				t.Errorf("Got(field, message) = %q, %q; want %q and a reason", inv.Field, inv.Message, tt.field)
			}
			if len(inv.Error()) > 4096 {
				t.Errorf("Got(error) %d bytes; want a short error in the execution's output", len(inv.Error()))
			}
		})
	}
	// The whole bucket, not only the prefix, and no report job.
	whole := e.cfg
	whole.Prefix = ""
	_, bucket := e.pipeline(whole, "test", "test")
	keys, err := bucket.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("Got(objects after bad input) = %q; want none", keys)
	}
	if st := e.sim.IAM().Stats(); st.GenerateCalls != 0 {
		t.Errorf("Got(GenerateOrganizationsAccessReport calls after bad input) = %d; want 0", st.GenerateCalls)
	}

	// The same environment accepts a good execution, so the refusals
	// above are the input's, not a broken setup's.
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: "good", Input: json.RawMessage(`{"entityPaths":["` + ou.Path + `"]}`)})
	if err != nil || st.Total != 1 {
		t.Fatalf("Got(Start(one OU)) = %+v, %v; want a run of one entity", st, err)
	}
	if keys, err := bucket.List(ctx, ""); err != nil || len(keys) == 0 {
		t.Errorf("Got(objects after a good Start) = %q, %v; want its manifest (the listing above sees writes)", keys, err)
	}
}
