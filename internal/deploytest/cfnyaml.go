// Package deploytest checks the deployment shape of orgaudit: the AWS SAM
// template (template.yaml) and the Step Functions definition
// (statemachine/auditor.asl.json). Its tests lint both with the tools AWS
// users run (cfn-lint, asl-validator) and assert the structure the Lambda
// handlers rely on: the loop, the retry and failure paths, the environment and
// least-privilege IAM.
//
// The helpers here are also what a local end-to-end run needs to turn the
// definition into one a state machine runner accepts.
package deploytest

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// intrinsicTags maps CloudFormation's short-form YAML tags to the long-form
// key they stand for.
var intrinsicTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!Equals":       "Fn::Equals",
	"!FindInMap":    "Fn::FindInMap",
	"!GetAtt":       "Fn::GetAtt",
	"!GetAZs":       "Fn::GetAZs",
	"!If":           "Fn::If",
	"!ImportValue":  "Fn::ImportValue",
	"!Join":         "Fn::Join",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!Sub":          "Fn::Sub",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// DecodeTemplate parses a CloudFormation or SAM template written in YAML.
// Short-form intrinsics (!Ref, !Sub, !GetAtt, ...) become their long form
// ({"Ref": ...}, {"Fn::Sub": ...}, {"Fn::GetAtt": [resource, attribute]}), so
// the result has the shape of the template's JSON form: maps, slices, strings,
// ints, floats, bools and nil.
func DecodeTemplate(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	v, err := nodeValue(&doc)
	if err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode template: top level is %T; want a mapping", v)
	}
	return m, nil
}

func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	}
	if key, ok := intrinsicTags[n.Tag]; ok {
		return intrinsic(key, n)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

// intrinsic builds the long form of a tagged node. The tag only names the
// function; the node's own kind decides the argument's shape.
func intrinsic(key string, n *yaml.Node) (any, error) {
	var arg any
	var err error
	if n.Kind == yaml.ScalarNode {
		// A tagged scalar is always a string argument (!Ref Name, !Sub "...").
		arg = n.Value
	} else {
		untagged := *n
		untagged.Tag = ""
		arg, err = nodeValue(&untagged)
		if err != nil {
			return nil, err
		}
	}
	if s, ok := arg.(string); ok && key == "Fn::GetAtt" {
		res, attr, found := strings.Cut(s, ".")
		if !found {
			return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
		}
		arg = []any{res, attr}
	}
	return map[string]any{key: arg}, nil
}

// placeholder matches a DefinitionSubstitutions placeholder in an ASL file.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Placeholders returns the names of the ${Name} placeholders in an ASL
// definition, sorted and without duplicates.
func Placeholders(definition []byte) []string {
	var names []string
	for _, m := range placeholder.FindAllSubmatch(definition, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RenderDefinition replaces every ${Name} placeholder in an ASL definition
// with values[Name], as Step Functions does with DefinitionSubstitutions. A
// placeholder without a value is an error, so nothing reaches a runner
// half-substituted.
func RenderDefinition(definition []byte, values map[string]string) ([]byte, error) {
	var missing []string
	out := placeholder.ReplaceAllFunc(definition, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("render definition: no value for %s", strings.Join(slices.Compact(missing), ", "))
	}
	if bytes.Contains(out, []byte("${")) {
		return nil, fmt.Errorf("render definition: malformed placeholder left in %q", firstPlaceholder(out))
	}
	return out, nil
}

func firstPlaceholder(b []byte) string {
	i := bytes.Index(b, []byte("${"))
	end := min(i+40, len(b))
	return string(b[i:end])
}
