package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestWiring runs the definition on local-sfn against the echo function
// under the runtime emulator: the Task states reach the function their
// DefinitionSubstitutions name, the execution name and input arrive as
// Start's event, and a function error keeps its errorType through the
// emulator and the Lambda Invoke API to the execution's failure.
func TestWiring(t *testing.T) {
	st := deploy(t, stackOptions{orgFile: "testdata/org-small.json", echo: true})

	ex := st.execute(t, "wiring-ok", `{"includeAccounts":true}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed with %q; want success\n%s", ex.errorText, ex.output)
	}
	calls := st.front.invocations()
	var got []string
	for _, c := range calls {
		got = append(got, c.Function)
	}
	want := []string{st.functions["StartFunction"].Name, st.functions["CheckFunction"].Name, st.functions["StoreFunction"].Name}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Got(invoked) = %v; want %v", got, want)
	}
	var start map[string]any
	if err := json.Unmarshal(calls[0].Payload, &start); err != nil {
		t.Fatal(err)
	}
	if start["executionName"] != "wiring-ok" || canonical(t, start["input"]) != `{"includeAccounts":true}` {
		t.Errorf("Got(Start event) = %s; want the execution name and input", canonical(t, start))
	}
	if start["stateMachineArn"] != st.states.stateMachineARN || start["executionArn"] != strings.Replace(st.states.stateMachineARN, ":stateMachine:", ":execution:", 1)+":wiring-ok" {
		t.Errorf("Got(Start event ARNs) = %v, %v; want the state machine's and the execution's", start["stateMachineArn"], start["executionArn"])
	}

	ex = st.execute(t, "wiring-bad", `{"fail":"unusedDays"}`)
	if ex.succeeded || ex.errorText != "InvalidInput: invalid input: unusedDays" {
		t.Errorf("Got(execution error) = %q; want %q", ex.errorText, "InvalidInput: invalid input: unusedDays")
	}
	last := st.front.invocations()[len(calls):]
	if len(last) != 1 || last[0].FunctionError != "Unhandled" {
		t.Errorf("Got(invocations of the failed run) = %+v; want one Start with a function error", last)
	}
}

// canonical is v as compact JSON with sorted keys.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
