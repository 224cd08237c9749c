package scpplan

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// part is one planned document and the services it names.
type part struct {
	content  string
	services []string
}

// split writes the documents of one target: the services packed greedily in
// sorted order into as few documents of at most MaxPolicySize characters as
// they fit. Deny statements carry the exemption condition; an allow-list's
// first document carries the statement that lets the exempt principals do
// everything. Each document is complete and valid on its own: several Deny
// documents add up, several Allow documents at one target are a union.
func split(s Strategy, services []string, exempt []string) []part {
	head, tail, first := envelope(s, exempt)
	var out []part
	var b strings.Builder
	var cur []string
	flush := func() {
		if len(cur) == 0 {
			return
		}
		b.WriteString(tail)
		if len(out) == 0 {
			b.WriteString(first)
		}
		b.WriteString("]}")
		out = append(out, part{content: b.String(), services: cur})
		b.Reset()
		cur = nil
	}
	for _, ns := range services {
		action := `"` + ns + `:*"` // namespaces need no JSON escaping
		extra := len(action)
		if len(cur) > 0 {
			extra++
		}
		closing := len(tail) + 2
		if len(out) == 0 {
			closing += len(first)
		}
		if len(cur) > 0 && b.Len()+extra+closing > MaxPolicySize {
			flush()
		}
		if len(cur) == 0 {
			closing = len(tail) + 2
			if len(out) == 0 {
				closing += len(first)
			}
			if len(head)+len(action)+closing > MaxPolicySize {
				return nil // the envelope alone fills the document
			}
			b.WriteString(head)
		} else {
			b.WriteByte(',')
		}
		b.WriteString(action)
		cur = append(cur, ns)
	}
	flush()
	return out
}

// envelope returns the text before the actions, the text after them up to
// the statement list's end, and the extra statement of the first document.
func envelope(s Strategy, exempt []string) (head, tail, first string) {
	const version = `{"Version":"2012-10-17","Statement":[`
	var arns string
	if len(exempt) > 0 {
		b, _ := json.Marshal(exempt)
		arns = string(b)
	}
	switch s {
	case Allow:
		head = version + `{"Sid":"` + SidAllow + `","Effect":"Allow","Action":[`
		tail = `],"Resource":"*"}`
		if arns != "" {
			first = `,{"Sid":"` + SidAllowExempt + `","Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":` + arns + `}}}`
		}
	default:
		head = version + `{"Sid":"` + SidDeny + `","Effect":"Deny","Action":[`
		tail = `],"Resource":"*"`
		if arns != "" {
			tail += `,"Condition":{"ArnNotLike":{"aws:PrincipalArn":` + arns + `}}`
		}
		tail += `}`
	}
	return head, tail, first
}

// checkPrincipalPattern accepts an IAM ARN pattern as ArnLike/ArnNotLike
// compare them: arn:partition:service:region:account:resource, with * and ?
// wildcards.
func checkPrincipalPattern(p string) error {
	if strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("--exempt-principal %q: an ARN pattern has no spaces or control characters", p)
	}
	if f := strings.SplitN(p, ":", 6); len(f) != 6 || f[0] != "arn" || f[5] == "" {
		return fmt.Errorf("--exempt-principal %q: want an ARN pattern such as arn:aws:iam::*:role/BreakGlass", p)
	}
	return nil
}
