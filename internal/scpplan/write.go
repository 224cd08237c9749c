package scpplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Formats a plan is written in.
const (
	FormatJSON           = "json"
	FormatTerraform      = "terraform"
	FormatCloudFormation = "cloudformation"
	FormatCLI            = "cli"
)

// Formats lists the formats, for help and errors.
var Formats = []string{FormatJSON, FormatTerraform, FormatCloudFormation, FormatCLI}

// File is one file of a plan written to a directory.
type File struct {
	Name string
	Data []byte
}

// Write renders the whole plan in format as one document.
func Write(p *Plan, format string) ([]byte, error) {
	switch format {
	case FormatJSON:
		return p.JSON(), nil
	case FormatTerraform:
		return terraform(p, p.Policies, true), nil
	case FormatCloudFormation:
		return cloudFormation(p, p.Policies), nil
	case FormatCLI:
		return cliScript(p, p.Policies, true), nil
	}
	return nil, fmt.Errorf("format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// Files renders the plan as a directory: plan.json, the index of every
// policy, its targets and the quota stops, and one file per policy in
// format — json: the SCP document itself (for create-policy --content
// file://…); terraform: its aws_organizations_policy and attachments;
// cloudformation: a template of its AWS::Organizations::Policy; cli: the
// commands that create and attach it. The cli format adds
// detach-replaced.sh, to run once every allow-list is attached.
func Files(p *Plan, format string) ([]File, error) {
	if !slices.Contains(Formats, format) {
		return nil, fmt.Errorf("format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	files := []File{{Name: "plan.json", Data: p.JSON()}}
	for _, pol := range p.Policies {
		one := []Policy{pol}
		switch format {
		case FormatJSON:
			files = append(files, File{pol.Name + ".json", []byte(pol.Content + "\n")})
		case FormatTerraform:
			files = append(files, File{pol.Name + ".tf", terraform(p, one, false)})
		case FormatCloudFormation:
			files = append(files, File{pol.Name + ".template.json", cloudFormation(p, one)})
		case FormatCLI:
			files = append(files, File{pol.Name + ".sh", cliScript(p, one, false)})
		}
	}
	if format == FormatCLI && hasReplaces(p.Policies) {
		files = append(files, File{"detach-replaced.sh", detachScript(p.Policies)})
	}
	return files, nil
}

func hasReplaces(ps []Policy) bool {
	for _, p := range ps {
		if len(p.Replaces) > 0 {
			return true
		}
	}
	return false
}

// description is the policy's Description: what it does, within the 512
// characters Organizations takes.
func description(pol Policy) string {
	what := fmt.Sprintf("orgaudit plan: denies %d services unused under its targets", len(pol.Services))
	if pol.Strategy == Allow {
		what = fmt.Sprintf("orgaudit plan: allows the %d services used under its targets and the never-deny list; replaces %s", len(pol.Services), strings.Join(pol.Replaces, ", "))
	}
	if len(what) > 512 {
		what = what[:512]
	}
	return what
}

// identifier turns a policy name into a Terraform resource name: letters,
// digits and underscores, starting with a letter.
func identifier(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	id := b.String()
	if id == "" || !unicode.IsLetter(rune(id[0])) {
		id = "p_" + id
	}
	return id
}

// hclString quotes s as an HCL template string: JSON-like escapes, and the
// template sequences ${ and %{ doubled so that they stay literal.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c)
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// terraform writes aws_organizations_policy and
// aws_organizations_policy_attachment resources for the AWS provider.
func terraform(p *Plan, policies []Policy, withStops bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# orgaudit SCP plan (%s strategy): review before applying.\n", p.Strategy)
	for _, pol := range policies {
		res := identifier(pol.Name)
		fmt.Fprintf(&b, "\n# %s %d services: %s\n", map[Strategy]string{Deny: "Denies", Allow: "Allows"}[pol.Strategy], len(pol.Services), strings.Join(pol.Services, ", "))
		fmt.Fprintf(&b, "resource \"aws_organizations_policy\" %q {\n", res)
		fmt.Fprintf(&b, "  name        = %s\n", hclString(pol.Name))
		fmt.Fprintf(&b, "  description = %s\n", hclString(description(pol)))
		fmt.Fprintf(&b, "  type        = \"SERVICE_CONTROL_POLICY\"\n")
		fmt.Fprintf(&b, "  content     = %s\n", hclString(pol.Content))
		fmt.Fprintf(&b, "}\n")
		for _, t := range pol.Targets {
			fmt.Fprintf(&b, "\nresource \"aws_organizations_policy_attachment\" %q {\n", res+"__"+identifier(t))
			fmt.Fprintf(&b, "  policy_id = aws_organizations_policy.%s.id\n", res)
			fmt.Fprintf(&b, "  target_id = %s\n", hclString(t))
			fmt.Fprintf(&b, "}\n")
			for _, r := range pol.Replaces {
				fmt.Fprintf(&b, "# Replaces %s at %s: once every allow-list of %s is attached, detach it\n# (aws organizations detach-policy --policy-id %s --target-id %s, or remove its attachment resource).\n", r, t, t, r, t)
			}
		}
	}
	if withStops {
		writeStops(&b, p.Stopped, "#")
	}
	return b.Bytes()
}

func writeStops(b *bytes.Buffer, stops []Stop, comment string) {
	for _, s := range stops {
		fmt.Fprintf(b, "\n%s Stopped at %s by the %s quota: %s\n", comment, s.Target, s.Quota, s.Reason)
	}
}

// logicalID turns a policy name into a CloudFormation logical id:
// alphanumeric, each dash-separated word capitalized.
func logicalID(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if up {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

// cloudFormation writes a template of AWS::Organizations::Policy resources,
// each attached through TargetIds.
func cloudFormation(p *Plan, policies []Policy) []byte {
	type props struct {
		Name        string
		Description string
		Type        string
		Content     string
		TargetIds   []string
	}
	type resource struct {
		Type       string
		Metadata   map[string]any `json:",omitempty"`
		Properties props
	}
	var b bytes.Buffer
	b.WriteString("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n")
	desc, _ := json.Marshal(fmt.Sprintf("orgaudit SCP plan (%s strategy), %d policies: review before deploying", p.Strategy, len(policies)))
	fmt.Fprintf(&b, "  \"Description\": %s,\n", desc)
	if len(p.Stopped) > 0 && len(policies) == len(p.Policies) {
		m, _ := json.MarshalIndent(map[string]any{"orgaudit": map[string]any{"stopped": p.Stopped}}, "  ", "  ")
		fmt.Fprintf(&b, "  \"Metadata\": %s,\n", m)
	}
	b.WriteString("  \"Resources\": {")
	seen := map[string]bool{}
	for i, pol := range policies {
		id := logicalID(pol.Name)
		for n := 2; seen[id]; n++ {
			id = fmt.Sprintf("%s%d", logicalID(pol.Name), n)
		}
		seen[id] = true
		r := resource{Type: "AWS::Organizations::Policy", Properties: props{
			Name: pol.Name, Description: description(pol), Type: "SERVICE_CONTROL_POLICY", Content: pol.Content, TargetIds: pol.Targets,
		}}
		meta := map[string]any{"strategy": pol.Strategy, "services": pol.Services}
		if len(pol.Replaces) > 0 {
			meta["replaces"] = pol.Replaces
			meta["note"] = "Once every allow-list of a target is attached, detach the replaced policies from it; CloudFormation does not detach them."
		}
		r.Metadata = map[string]any{"orgaudit": meta}
		body, _ := json.MarshalIndent(r, "    ", "  ")
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n    %q: %s", id, body)
	}
	b.WriteString("\n  }\n}\n")
	return b.Bytes()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cliScript writes the AWS CLI commands: create each policy, keep its id,
// attach it to each target; with detach, then detach what allow-lists
// replace, after every attachment.
func cliScript(p *Plan, policies []Policy, detach bool) []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# orgaudit SCP plan (%s strategy): review before running. Needs the\n# management account's credentials (organizations:CreatePolicy, AttachPolicy).\nset -eu\n", p.Strategy)
	for i, pol := range policies {
		v := fmt.Sprintf("policy%d", i+1)
		fmt.Fprintf(&b, "\n# %s (%d services)\n", pol.Name, len(pol.Services))
		fmt.Fprintf(&b, "%s=$(aws organizations create-policy --type SERVICE_CONTROL_POLICY --name %s --description %s --content %s --query Policy.PolicySummary.Id --output text)\n",
			v, shellQuote(pol.Name), shellQuote(description(pol)), shellQuote(pol.Content))
		for _, t := range pol.Targets {
			fmt.Fprintf(&b, "aws organizations attach-policy --policy-id \"$%s\" --target-id %s\n", v, shellQuote(t))
		}
	}
	if detach && hasReplaces(policies) {
		b.WriteString("\n# Every allow-list is attached: detach what they replace.\n")
		writeDetach(&b, policies)
	}
	if detach {
		var s bytes.Buffer
		writeStops(&s, p.Stopped, "#")
		b.Write(s.Bytes())
	}
	return b.Bytes()
}

func detachScript(policies []Policy) []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n# Run after every allow-list of the plan is attached: detaches the policies they replace.\nset -eu\n")
	writeDetach(&b, policies)
	return b.Bytes()
}

func writeDetach(b *bytes.Buffer, policies []Policy) {
	done := map[string]bool{}
	for _, pol := range policies {
		for _, t := range pol.Targets {
			for _, r := range pol.Replaces {
				if k := r + " " + t; !done[k] {
					done[k] = true
					fmt.Fprintf(b, "aws organizations detach-policy --policy-id %s --target-id %s\n", shellQuote(r), shellQuote(t))
				}
			}
		}
	}
}
