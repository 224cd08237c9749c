package deploytest

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeTemplate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // canonical JSON of the "V" key
	}{
		{"ref", "V: !Ref Bucket", `{"Ref":"Bucket"}`},
		{"getatt scalar", "V: !GetAtt Fn.Arn", `{"Fn::GetAtt":["Fn","Arn"]}`},
		{"getatt nested attribute", "V: !GetAtt Db.Endpoint.Address", `{"Fn::GetAtt":["Db","Endpoint.Address"]}`},
		{"getatt sequence", "V: !GetAtt [Fn, Arn]", `{"Fn::GetAtt":["Fn","Arn"]}`},
		{"sub string", "V: !Sub ${Prefix}runs/", `{"Fn::Sub":"${Prefix}runs/"}`},
		{"sub with variables", "V: !Sub\n  - a/${B}\n  - B: !Ref X", `{"Fn::Sub":["a/${B}",{"B":{"Ref":"X"}}]}`},
		{"nested if", "V: !If [C, !Ref A, !Ref AWS::NoValue]", `{"Fn::If":["C",{"Ref":"A"},{"Ref":"AWS::NoValue"}]}`},
		{"not equals", `V: !Not [!Equals [!Ref K, ""]]`, `{"Fn::Not":[{"Fn::Equals":[{"Ref":"K"},""]}]}`},
		{"long form", "V: {Fn::Join: [',', [a, b]]}", `{"Fn::Join":[",",["a","b"]]}`},
		{"quoted bool stays a string", `V: "true"`, `"true"`},
		{"plain number", "V: 900", `900`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTemplate([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Got(DecodeTemplate(%q)) error %v; want none", tt.yaml, err)
			}
			if canon(got["V"]) != tt.want {
				t.Errorf("Got(DecodeTemplate(%q)) = %s; want %s", tt.yaml, canon(got["V"]), tt.want)
			}
		})
	}
}

func TestDecodeTemplateErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown tag", "V: !Reff X", "unknown tag !Reff"},
		{"getatt without attribute", "V: !GetAtt Fn", "has no attribute"},
		{"duplicate key", "V: 1\nV: 2", "duplicate key"},
		{"not a mapping", "- a\n- b", "want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTemplate([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Got(DecodeTemplate(%q)) error %v; want one containing %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}

func TestPlaceholdersAndRender(t *testing.T) {
	def := []byte(`{"A":"${StartArn}","B":"${CheckArn}","C":"${StartArn}","D":"$.x"}`)
	if got, want := Placeholders(def), []string{"CheckArn", "StartArn"}; !slices.Equal(got, want) {
		t.Errorf("Got(Placeholders) = %v; want %v", got, want)
	}
	out, err := RenderDefinition(def, map[string]string{"StartArn": "s", "CheckArn": "c"})
	if err != nil {
		t.Fatalf("Got(RenderDefinition) error %v; want none", err)
	}
	if want := `{"A":"s","B":"c","C":"s","D":"$.x"}`; string(out) != want {
		t.Errorf("Got(RenderDefinition) = %s; want %s", out, want)
	}
	if _, err := RenderDefinition(def, map[string]string{"StartArn": "s"}); err == nil || !strings.Contains(err.Error(), "CheckArn") {
		t.Errorf("Got(RenderDefinition without CheckArn) error %v; want one naming CheckArn", err)
	}
}
