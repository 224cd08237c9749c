package deploytest

import (
	"encoding/json"
	"fmt"
)

// RedriveDefinition returns definition (rendered or not) with StartAt set
// to state and nothing else changed: what a local state machine runner,
// which has no RedriveExecution, runs to stand in for one. Step Functions
// redrives an execution by running the state that failed again, with that
// state's original input; the runner does the same when it starts there
// with that input as the execution input. What it cannot give is the
// execution input of the original execution in $$.Execution.Input, so the
// state must not read it.
func RedriveDefinition(definition []byte, state string) ([]byte, error) {
	var def map[string]json.RawMessage
	if err := json.Unmarshal(definition, &def); err != nil {
		return nil, fmt.Errorf("redrive definition: %w", err)
	}
	var states map[string]map[string]json.RawMessage
	if err := json.Unmarshal(def["States"], &states); err != nil {
		return nil, fmt.Errorf("redrive definition: States: %w", err)
	}
	s, ok := states[state]
	if !ok {
		return nil, fmt.Errorf("redrive definition: no state %q", state)
	}
	if params, ok := s["Parameters"]; ok {
		var p map[string]any
		if err := json.Unmarshal(params, &p); err == nil {
			for k, v := range p {
				if v == "$$.Execution.Input" {
					return nil, fmt.Errorf("redrive definition: state %q reads $$.Execution.Input (%s), which a local runner started there cannot give", state, k)
				}
			}
		}
	}
	start, _ := json.Marshal(state)
	def["StartAt"] = start
	return json.MarshalIndent(def, "", "  ")
}
