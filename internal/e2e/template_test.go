package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/orgaudit/orgaudit/internal/deploytest"
)

// stackTemplate is template.yaml, decoded, as this harness "deploys" it:
// parameters take their defaults unless overridden, and resources get
// physical names a deployment would give them.
type stackTemplate struct {
	doc map[string]any
}

func loadTemplate(root string) (*stackTemplate, error) {
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	doc, err := deploytest.DecodeTemplate(b)
	if err != nil {
		return nil, err
	}
	return &stackTemplate{doc: doc}, nil
}

func (tp *stackTemplate) section(name string) map[string]any {
	m, _ := tp.doc[name].(map[string]any)
	return m
}

func (tp *stackTemplate) resource(id string) map[string]any {
	m, _ := tp.section("Resources")[id].(map[string]any)
	return m
}

// functions returns the logical ids of the template's Lambda functions.
func (tp *stackTemplate) functions() []string {
	var ids []string
	for id, r := range tp.section("Resources") {
		if m, ok := r.(map[string]any); ok && m["Type"] == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// stateMachine returns the logical id of the template's state machine.
func (tp *stackTemplate) stateMachine() (string, error) {
	for id, r := range tp.section("Resources") {
		if m, ok := r.(map[string]any); ok && m["Type"] == "AWS::Serverless::StateMachine" {
			return id, nil
		}
	}
	return "", fmt.Errorf("template.yaml has no AWS::Serverless::StateMachine")
}

// deployment resolves the template's intrinsics for one local deployment.
type deployment struct {
	tp        *stackTemplate
	params    map[string]string // overrides of parameter defaults
	account   string            // account the stack is deployed in
	region    string
	bucket    string // the bucket a CreateBucket stack would create
	stackName string
}

// functionARN is the ARN Lambda would give the function logicalID.
func (d *deployment) functionARN(logicalID string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", d.region, d.account, d.functionName(logicalID))
}

// functionName is the physical name CloudFormation gives an unnamed
// function: stack name, logical id and a suffix.
func (d *deployment) functionName(logicalID string) string {
	return d.stackName + "-" + logicalID + "-E2E0TEST"
}

// param returns a parameter's value: the override or the default.
func (d *deployment) param(name string) (string, bool) {
	if v, ok := d.params[name]; ok {
		return v, true
	}
	p, ok := d.tp.section("Parameters")[name].(map[string]any)
	if !ok {
		return "", false
	}
	return scalar(p["Default"]), true
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// value resolves an expression to a string, as CloudFormation would for this
// deployment. noValue is true for AWS::NoValue.
func (d *deployment) value(expr any) (s string, noValue bool, err error) {
	m, ok := expr.(map[string]any)
	if !ok {
		if _, isList := expr.([]any); isList {
			return "", false, fmt.Errorf("list where a value belongs: %v", expr)
		}
		return scalar(expr), false, nil
	}
	if len(m) != 1 {
		return "", false, fmt.Errorf("not an intrinsic: %v", m)
	}
	for fn, arg := range m {
		switch fn {
		case "Ref":
			name := scalar(arg)
			switch name {
			case "AWS::NoValue":
				return "", true, nil
			case "AWS::Region":
				return d.region, false, nil
			case "AWS::AccountId":
				return d.account, false, nil
			case "AWS::Partition":
				return "aws", false, nil
			case "AWS::StackName":
				return d.stackName, false, nil
			}
			if v, ok := d.param(name); ok {
				return v, false, nil
			}
			return d.physicalID(name)
		case "Fn::GetAtt":
			parts, _ := arg.([]any)
			if len(parts) != 2 {
				return "", false, fmt.Errorf("Fn::GetAtt %v", arg)
			}
			return d.attribute(scalar(parts[0]), scalar(parts[1]))
		case "Fn::If":
			parts, _ := arg.([]any)
			if len(parts) != 3 {
				return "", false, fmt.Errorf("Fn::If %v", arg)
			}
			cond, err := d.condition(scalar(parts[0]))
			if err != nil {
				return "", false, err
			}
			if cond {
				return d.value(parts[1])
			}
			return d.value(parts[2])
		case "Fn::Sub":
			tmpl, ok := arg.(string)
			if !ok {
				return "", false, fmt.Errorf("Fn::Sub with variables is not resolved here: %v", arg)
			}
			var subErr error
			out := subVar.ReplaceAllStringFunc(tmpl, func(v string) string {
				name := v[2 : len(v)-1]
				var s string
				var err error
				if res, attr, dotted := strings.Cut(name, "."); dotted {
					s, _, err = d.attribute(res, attr)
				} else {
					s, _, err = d.value(map[string]any{"Ref": name})
				}
				if err != nil && subErr == nil {
					subErr = err
				}
				return s
			})
			return out, false, subErr
		}
		return "", false, fmt.Errorf("intrinsic %s is not resolved here", fn)
	}
	return "", false, nil
}

var subVar = regexp.MustCompile(`\$\{[A-Za-z0-9_:.]+\}`)

// physicalID is what Ref returns for a resource.
func (d *deployment) physicalID(logicalID string) (string, bool, error) {
	r := d.tp.resource(logicalID)
	if r == nil {
		return "", false, fmt.Errorf("Ref to unknown %q", logicalID)
	}
	switch r["Type"] {
	case "AWS::S3::Bucket":
		return d.bucket, false, nil
	case "AWS::Serverless::Function":
		return d.functionName(logicalID), false, nil
	}
	return "", false, fmt.Errorf("Ref to %s %s is not resolved here", r["Type"], logicalID)
}

// attribute is what Fn::GetAtt returns.
func (d *deployment) attribute(logicalID, attr string) (string, bool, error) {
	r := d.tp.resource(logicalID)
	if r == nil {
		return "", false, fmt.Errorf("Fn::GetAtt of unknown %q", logicalID)
	}
	switch {
	case r["Type"] == "AWS::Serverless::Function" && attr == "Arn":
		return d.functionARN(logicalID), false, nil
	case r["Type"] == "AWS::IAM::Role" && attr == "Arn":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-E2E0TEST", d.account, d.stackName, logicalID), false, nil
	case r["Type"] == "AWS::S3::Bucket" && attr == "Arn":
		return "arn:aws:s3:::" + d.bucket, false, nil
	}
	return "", false, fmt.Errorf("Fn::GetAtt %s.%s is not resolved here", logicalID, attr)
}

// condition evaluates a named condition of the template.
func (d *deployment) condition(name string) (bool, error) {
	c, ok := d.tp.section("Conditions")[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %q", name)
	}
	return d.boolean(c)
}

func (d *deployment) boolean(expr any) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition: %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return d.condition(scalar(arg))
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals %v", arg)
			}
			a, _, err := d.value(args[0])
			if err != nil {
				return false, err
			}
			b, _, err := d.value(args[1])
			return a == b, err
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not %v", arg)
			}
			v, err := d.boolean(args[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			all := fn == "Fn::And"
			for _, a := range args {
				v, err := d.boolean(a)
				if err != nil {
					return false, err
				}
				if v != all {
					return v, nil
				}
			}
			return all, nil
		}
		return false, fmt.Errorf("condition function %s is not resolved here", fn)
	}
	return false, nil
}

// functionConfig is what Lambda would run a function with.
type functionConfig struct {
	LogicalID  string
	Name, ARN  string
	Env        map[string]string // the template's Environment.Variables
	Timeout    string            // seconds
	MemorySize string            // MB
}

// function resolves a function's environment, timeout and memory: the
// Globals' values, overridden by the function's own properties.
func (d *deployment) function(logicalID string) (functionConfig, error) {
	fc := functionConfig{LogicalID: logicalID, Name: d.functionName(logicalID), ARN: d.functionARN(logicalID),
		Env: map[string]string{}, Timeout: "3", MemorySize: "128"}
	globals, _ := d.tp.section("Globals")["Function"].(map[string]any)
	props, _ := d.tp.resource(logicalID)["Properties"].(map[string]any)
	for _, layer := range []map[string]any{globals, props} {
		if layer == nil {
			continue
		}
		if env, ok := layer["Environment"].(map[string]any); ok {
			vars, _ := env["Variables"].(map[string]any)
			for k, expr := range vars {
				v, none, err := d.value(expr)
				if err != nil {
					return fc, fmt.Errorf("%s environment %s: %w", logicalID, k, err)
				}
				if none {
					delete(fc.Env, k)
					continue
				}
				fc.Env[k] = v
			}
		}
		for key, dst := range map[string]*string{"Timeout": &fc.Timeout, "MemorySize": &fc.MemorySize} {
			if expr, ok := layer[key]; ok {
				v, _, err := d.value(expr)
				if err != nil {
					return fc, fmt.Errorf("%s %s: %w", logicalID, key, err)
				}
				*dst = v
			}
		}
	}
	return fc, nil
}

// substitutions resolves the state machine's DefinitionSubstitutions, as
// SAM does before it hands the definition to Step Functions.
func (d *deployment) substitutions() (map[string]string, error) {
	id, err := d.tp.stateMachine()
	if err != nil {
		return nil, err
	}
	props, _ := d.tp.resource(id)["Properties"].(map[string]any)
	subs, _ := props["DefinitionSubstitutions"].(map[string]any)
	out := map[string]string{}
	for k, expr := range subs {
		v, _, err := d.value(expr)
		if err != nil {
			return nil, fmt.Errorf("DefinitionSubstitutions %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// definitionPath is the state machine's DefinitionUri.
func (tp *stackTemplate) definitionPath() (string, error) {
	id, err := tp.stateMachine()
	if err != nil {
		return "", err
	}
	props, _ := tp.resource(id)["Properties"].(map[string]any)
	uri, ok := props["DefinitionUri"].(string)
	if !ok {
		return "", fmt.Errorf("%s has no local DefinitionUri", id)
	}
	return uri, nil
}
