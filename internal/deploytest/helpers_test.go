package deploytest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository root seen from this package's directory, where
// go test runs.
const repoRoot = "../.."

var (
	templateOnce sync.Once
	templateDoc  map[string]any
	templateErr  error
)

// loadTemplate returns the decoded template.yaml, parsed once per test binary.
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	templateOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
		if err != nil {
			templateErr = err
			return
		}
		templateDoc, templateErr = DecodeTemplate(data)
	})
	if templateErr != nil {
		t.Fatalf("load template.yaml: %v", templateErr)
	}
	return templateDoc
}

// readDefinition returns the raw bytes of the state machine definition.
func readDefinition(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "statemachine", "auditor.asl.json"))
	if err != nil {
		t.Fatalf("read definition: %v", err)
	}
	return data
}

// aslState is the part of an ASL state these tests look at. ResultPath is
// raw so that an explicit null (discard the result) differs from absent.
type aslState struct {
	Type           string           `json:"Type"`
	Resource       string           `json:"Resource"`
	Parameters     map[string]any   `json:"Parameters"`
	ResultPath     json.RawMessage  `json:"ResultPath"`
	OutputPath     *string          `json:"OutputPath"`
	InputPath      *string          `json:"InputPath"`
	TimeoutSeconds int              `json:"TimeoutSeconds"`
	Next           string           `json:"Next"`
	End            bool             `json:"End"`
	SecondsPath    string           `json:"SecondsPath"`
	Seconds        *int             `json:"Seconds"`
	Retry          []aslRetrier     `json:"Retry"`
	Catch          []aslCatcher     `json:"Catch"`
	Choices        []map[string]any `json:"Choices"`
	Default        string           `json:"Default"`
	Error          string           `json:"Error"`
	Cause          string           `json:"Cause"`
	CausePath      string           `json:"CausePath"`
}

type aslRetrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds int      `json:"IntervalSeconds"`
	MaxAttempts     int      `json:"MaxAttempts"`
	BackoffRate     float64  `json:"BackoffRate"`
	JitterStrategy  string   `json:"JitterStrategy"`
}

type aslCatcher struct {
	ErrorEquals []string `json:"ErrorEquals"`
	ResultPath  string   `json:"ResultPath"`
	Next        string   `json:"Next"`
}

type aslDefinition struct {
	StartAt        string              `json:"StartAt"`
	TimeoutSeconds int                 `json:"TimeoutSeconds"`
	States         map[string]aslState `json:"States"`
}

func loadDefinition(t *testing.T) aslDefinition {
	t.Helper()
	var def aslDefinition
	if err := json.Unmarshal(readDefinition(t), &def); err != nil {
		t.Fatalf("parse definition: %v", err)
	}
	return def
}

// state returns the named state or fails the test.
func (d aslDefinition) state(t *testing.T, name string) aslState {
	t.Helper()
	s, ok := d.States[name]
	if !ok {
		t.Fatalf("definition has no state %q; states: %v", name, slices.Sorted(maps.Keys(d.States)))
	}
	return s
}

// get walks a decoded template along keys and fails if a step is missing.
func get(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T; want a mapping", strings.Join(keys[:i], "."), v)
		}
		v, ok = m[k]
		if !ok {
			t.Fatalf("%s is missing", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

// lookup is get without failing: ok reports whether every key was there.
func lookup(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func asMap(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T; want a mapping", what, v)
	}
	return m
}

func asSlice(v any) []any {
	if s, ok := v.([]any); ok {
		return s
	}
	return []any{v}
}

func resources(t *testing.T) map[string]any {
	t.Helper()
	return asMap(t, get(t, loadTemplate(t), "Resources"), "Resources")
}

func resource(t *testing.T, name string) map[string]any {
	t.Helper()
	return asMap(t, get(t, resources(t), name), "Resources."+name)
}

// ref is the long form of !Ref name.
func ref(name string) map[string]any { return map[string]any{"Ref": name} }

// getAtt is the long form of !GetAtt res.attr.
func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

// ifValue is the long form of !If [cond, a, b].
func ifValue(cond string, a, b any) map[string]any {
	return map[string]any{"Fn::If": []any{cond, a, b}}
}

// canon renders a decoded value as JSON so that values compare as text.
func canon(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<unmarshalable>"
	}
	return string(b)
}

// subVar matches ${Name} or ${Name.Attr} in an Fn::Sub string; ${!x} is a
// literal and does not match.
var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9_:]+)(?:\.[A-Za-z0-9_.]+)?\}`)

// references collects the logical names v refers to through Ref, GetAtt and
// Sub, and the condition names it uses through Fn::If and Condition.
func references(v any, names, conditions map[string]bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			references(e, names, conditions)
		}
	case map[string]any:
		for k, e := range x {
			switch k {
			case "Ref":
				if s, ok := e.(string); ok {
					names[s] = true
				}
			case "Fn::GetAtt":
				if s, ok := e.([]any); ok && len(s) > 0 {
					if r, ok := s[0].(string); ok {
						names[r] = true
					}
				}
			case "Fn::Sub":
				subReferences(e, names, conditions)
				continue
			case "Fn::If":
				if s, ok := e.([]any); ok && len(s) > 0 {
					if c, ok := s[0].(string); ok {
						conditions[c] = true
					}
				}
			case "Condition":
				if c, ok := e.(string); ok {
					conditions[c] = true
				}
			}
			references(e, names, conditions)
		}
	}
}

func subReferences(arg any, names, conditions map[string]bool) {
	var text string
	local := map[string]bool{}
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) > 0 {
			text, _ = a[0].(string)
		}
		if len(a) > 1 {
			if vars, ok := a[1].(map[string]any); ok {
				for k, e := range vars {
					local[k] = true
					references(e, names, conditions)
				}
			}
		}
	}
	for _, m := range subVar.FindAllStringSubmatch(text, -1) {
		if !local[m[1]] {
			names[m[1]] = true
		}
	}
}
