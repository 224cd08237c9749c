package scpeval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxPolicySize is the SCP document size quota, in characters. The
// Organizations API counts the document as sent (the console removes white
// space outside strings before counting); Parse counts it as given.
const MaxPolicySize = 5120

// Effects of a statement.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Policy is a parsed and validated SCP document. ID and Name are not part of
// the document: callers set them to name the policy in results.
type Policy struct {
	ID, Name   string
	Version    string
	Statements []Statement
}

// Statement is one statement of an SCP. Exactly one of Action and
// NotAction is set; at most one of Resource and NotResource (neither means
// every resource, "*"). Condition maps an operator to condition keys and
// their values; it is only ever checked for form, since its keys' values are
// not known when a policy is judged against service-level data.
type Statement struct {
	Sid         string
	Effect      string
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
	Condition   map[string]map[string][]string
}

// ParseError is a document that is not a valid SCP. Offset is the byte
// offset in the document where the problem is, Line and Column (1-based,
// columns in characters) the same place for people.
type ParseError struct {
	Offset       int
	Line, Column int
	Msg          string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Parse reads an SCP document and checks it against the SCP grammar:
//
//   - at most MaxPolicySize characters of valid UTF-8 JSON, one object;
//   - top-level elements Version ("2012-10-17" or "2008-10-17"), Id and
//     Statement (required: one statement object or a non-empty array);
//   - in a statement: Sid (letters and digits), Effect (required: Allow or
//     Deny), exactly one of Action and NotAction, at most one of Resource and
//     NotResource, Condition; Principal and NotPrincipal are not supported
//     in SCPs, and any other element is refused;
//   - an action is "*" or "service:action", either part with * and ?
//     wildcards; a resource is "*" or an ARN ("arn:…", wildcards allowed);
//   - a condition is {operator: {key: value or [values]}}, the operator one
//     of IAM's condition operators (with ForAnyValue:/ForAllValues: and
//     IfExists);
//   - no element appears twice in one object.
//
// Errors are *ParseError, with the position of the offending element.
func Parse(doc []byte) (*Policy, error) {
	if !utf8.Valid(doc) {
		return nil, errAt(doc, firstInvalidUTF8(doc), "the policy is not valid UTF-8")
	}
	if n := utf8.RuneCount(doc); n > MaxPolicySize {
		return nil, &ParseError{Msg: fmt.Sprintf("the policy is %d characters; an SCP may have at most %d (remove white space outside strings, or split it)", n, MaxPolicySize)}
	}
	v, err := decode(doc)
	if err != nil {
		return nil, err
	}
	p := &parser{doc: doc}
	pol := p.policy(v)
	if p.err != nil {
		return nil, p.err
	}
	return pol, nil
}

// MustParse is Parse for documents known to be valid (tests, built-in
// policies); it panics on an error.
func MustParse(doc string) *Policy {
	p, err := Parse([]byte(doc))
	if err != nil {
		panic("scpeval: " + err.Error())
	}
	return p
}

// FullAWSAccess is the AWS-managed policy that allows everything, attached
// to every target when SCPs are enabled.
const FullAWSAccess = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// node is a JSON value with the byte offset where it starts.
type node struct {
	off  int
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	str  string
	obj  []member
	arr  []node
}

type member struct {
	key string
	off int
	val node
}

// decode reads doc as exactly one JSON value, keeping offsets.
func decode(doc []byte) (node, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, doc)
	if err != nil {
		return node{}, err
	}
	off := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		return node{}, errAt(doc, skipSpace(doc, off), "unexpected data after the policy document")
	}
	return v, nil
}

func readValue(dec *json.Decoder, doc []byte) (node, error) {
	off := skipSeparator(doc, int(dec.InputOffset()))
	tok, err := dec.Token()
	if err != nil {
		return node{}, syntaxError(doc, off, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := node{off: off, kind: 'o'}
			for dec.More() {
				koff := skipSeparator(doc, int(dec.InputOffset()))
				kt, err := dec.Token()
				if err != nil {
					return node{}, syntaxError(doc, koff, err)
				}
				key := kt.(string)
				for _, m := range n.obj {
					if m.key == key {
						return node{}, errAt(doc, koff, fmt.Sprintf("%q appears twice in one object", key))
					}
				}
				val, err := readValue(dec, doc)
				if err != nil {
					return node{}, err
				}
				n.obj = append(n.obj, member{key: key, off: koff, val: val})
			}
			end := int(dec.InputOffset())
			if _, err := dec.Token(); err != nil {
				return node{}, syntaxError(doc, end, err)
			}
			return n, nil
		case '[':
			n := node{off: off, kind: 'a'}
			for dec.More() {
				val, err := readValue(dec, doc)
				if err != nil {
					return node{}, err
				}
				n.arr = append(n.arr, val)
			}
			end := int(dec.InputOffset())
			if _, err := dec.Token(); err != nil {
				return node{}, syntaxError(doc, end, err)
			}
			return n, nil
		}
	case string:
		return node{off: off, kind: 's', str: t}, nil
	case json.Number:
		return node{off: off, kind: 'n', str: t.String()}, nil
	case bool:
		return node{off: off, kind: 'b', str: fmt.Sprint(t)}, nil
	case nil:
		return node{off: off, kind: 'z'}, nil
	}
	return node{}, errAt(doc, off, "unexpected JSON token")
}

// syntaxError turns a decoder error into a ParseError at its position.
func syntaxError(doc []byte, off int, err error) error {
	var se *json.SyntaxError
	msg := strings.TrimPrefix(err.Error(), "json: ")
	switch {
	case errors.As(err, &se):
		off = int(se.Offset)
		msg = "invalid JSON: " + se.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		off, msg = len(doc), "invalid JSON: the document ends early"
	default:
		msg = "invalid JSON: " + msg
	}
	return errAt(doc, off, msg)
}

func skipSpace(doc []byte, off int) int {
	for off < len(doc) && (doc[off] == ' ' || doc[off] == '\t' || doc[off] == '\n' || doc[off] == '\r') {
		off++
	}
	return off
}

// skipSeparator skips white space and the one ':' or ',' the decoder leaves
// unread between tokens: the offset of the next token.
func skipSeparator(doc []byte, off int) int {
	off = skipSpace(doc, off)
	if off < len(doc) && (doc[off] == ':' || doc[off] == ',') {
		off = skipSpace(doc, off+1)
	}
	return off
}

func firstInvalidUTF8(doc []byte) int {
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(doc)
}

// errAt makes a ParseError at byte offset off of doc.
func errAt(doc []byte, off int, msg string) *ParseError {
	off = min(max(off, 0), len(doc))
	line, col := 1, 1
	for _, r := range string(doc[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &ParseError{Offset: off, Line: line, Column: col, Msg: msg}
}

// parser checks a decoded document against the SCP grammar, keeping the
// first error.
type parser struct {
	doc []byte
	err error
}

func (p *parser) fail(off int, format string, args ...any) {
	if p.err == nil {
		p.err = errAt(p.doc, off, fmt.Sprintf(format, args...))
	}
}

var (
	versions = map[string]bool{"2012-10-17": true, "2008-10-17": true}
	sidRE    = regexp.MustCompile(`^[A-Za-z0-9]*$`)
)

// validAction reports whether a is "service:action", letters, digits and
// dashes with * and ? wildcards in either part (underscores too in the
// action). A hand-written check: suggestions list hundreds of actions.
func validAction(a string) bool {
	svc, act, ok := strings.Cut(a, ":")
	if !ok || svc == "" || act == "" {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '*', c == '?', c == '-':
		case c == '_' && i > len(svc):
		case c == ':' && i == len(svc):
		default:
			return false
		}
	}
	return true
}

func (p *parser) policy(v node) *Policy {
	if v.kind != 'o' {
		p.fail(v.off, "the policy must be a JSON object")
		return nil
	}
	pol := &Policy{}
	var stmt *node
	for _, m := range v.obj {
		switch m.key {
		case "Version":
			if m.val.kind != 's' || !versions[m.val.str] {
				p.fail(m.val.off, `Version must be "2012-10-17"`)
			}
			pol.Version = m.val.str
		case "Id":
			if m.val.kind != 's' {
				p.fail(m.val.off, "Id must be a string")
			}
		case "Statement":
			stmt = &m.val
		default:
			p.fail(m.off, "%q is not an element of an SCP (want Version, Statement)", m.key)
		}
	}
	if stmt == nil {
		p.fail(v.off, "the policy has no Statement")
		return nil
	}
	switch stmt.kind {
	case 'o':
		pol.Statements = []Statement{p.statement(*stmt, "Statement")}
	case 'a':
		if len(stmt.arr) == 0 {
			p.fail(stmt.off, "Statement is an empty list")
		}
		for i, s := range stmt.arr {
			pol.Statements = append(pol.Statements, p.statement(s, fmt.Sprintf("Statement[%d]", i)))
		}
	default:
		p.fail(stmt.off, "Statement must be an object or a list of objects")
	}
	return pol
}

func (p *parser) statement(v node, where string) Statement {
	var st Statement
	if v.kind != 'o' {
		p.fail(v.off, "%s must be an object", where)
		return st
	}
	seen := map[string]bool{}
	for _, m := range v.obj {
		seen[m.key] = true
		switch m.key {
		case "Sid":
			if m.val.kind != 's' || !sidRE.MatchString(m.val.str) {
				p.fail(m.val.off, "%s: Sid must be a string of letters and digits", where)
			}
			st.Sid = m.val.str
		case "Effect":
			if m.val.kind != 's' || (m.val.str != Allow && m.val.str != Deny) {
				p.fail(m.val.off, `%s: Effect must be "Allow" or "Deny"`, where)
			}
			st.Effect = m.val.str
		case "Action", "NotAction":
			list := p.strings(m.val, where+": "+m.key)
			for i, a := range list {
				if a != "" && strings.Trim(a, "*") != "" && !validAction(a) {
					p.fail(elemOff(m.val, i), `%s: %s %q is not an action (want "*" or "service:action", e.g. "s3:Get*")`, where, m.key, a)
				}
			}
			if m.key == "Action" {
				st.Action = list
			} else {
				st.NotAction = list
			}
		case "Resource", "NotResource":
			list := p.strings(m.val, where+": "+m.key)
			for i, r := range list {
				if strings.Trim(r, "*") != "" && !strings.HasPrefix(r, "arn:") {
					p.fail(elemOff(m.val, i), `%s: %s %q is not a resource (want "*" or an ARN)`, where, m.key, r)
				}
			}
			if m.key == "Resource" {
				st.Resource = list
			} else {
				st.NotResource = list
			}
		case "Condition":
			st.Condition = p.condition(m.val, where)
		case "Principal", "NotPrincipal":
			p.fail(m.off, "%s: SCPs do not support the %s element (an SCP applies to every principal of the accounts it is attached to)", where, m.key)
		default:
			p.fail(m.off, "%s: %q is not an element of an SCP statement (want Sid, Effect, Action or NotAction, Resource or NotResource, Condition)", where, m.key)
		}
	}
	switch {
	case !seen["Effect"]:
		p.fail(v.off, "%s has no Effect", where)
	case !seen["Action"] && !seen["NotAction"]:
		p.fail(v.off, "%s has neither Action nor NotAction", where)
	case seen["Action"] && seen["NotAction"]:
		p.fail(v.off, "%s has both Action and NotAction", where)
	case seen["Resource"] && seen["NotResource"]:
		p.fail(v.off, "%s has both Resource and NotResource", where)
	}
	return st
}

// strings reads a string or a non-empty list of strings.
func (p *parser) strings(v node, where string) []string {
	switch v.kind {
	case 's':
		if v.str == "" {
			p.fail(v.off, "%s is empty", where)
		}
		return []string{v.str}
	case 'a':
		if len(v.arr) == 0 {
			p.fail(v.off, "%s is an empty list", where)
		}
		out := make([]string, 0, len(v.arr))
		for _, e := range v.arr {
			if e.kind != 's' || e.str == "" {
				p.fail(e.off, "%s must hold non-empty strings", where)
			}
			out = append(out, e.str)
		}
		return out
	}
	p.fail(v.off, "%s must be a string or a list of strings", where)
	return nil
}

func elemOff(v node, i int) int {
	if v.kind == 'a' && i < len(v.arr) {
		return v.arr[i].off
	}
	return v.off
}

// conditionOperators are IAM's condition operators, without the
// ForAnyValue:/ForAllValues: prefixes and the IfExists suffix.
var conditionOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "BinaryEquals": true, "IpAddress": true, "NotIpAddress": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"Null": true,
}

func validOperator(op string) bool {
	op = strings.TrimPrefix(strings.TrimPrefix(op, "ForAnyValue:"), "ForAllValues:")
	if op != "Null" {
		op = strings.TrimSuffix(op, "IfExists")
	}
	return conditionOperators[op]
}

func (p *parser) condition(v node, where string) map[string]map[string][]string {
	if v.kind != 'o' {
		p.fail(v.off, "%s: Condition must be an object", where)
		return nil
	}
	if len(v.obj) == 0 {
		p.fail(v.off, "%s: Condition is empty", where)
	}
	out := map[string]map[string][]string{}
	for _, op := range v.obj {
		if !validOperator(op.key) {
			p.fail(op.off, "%s: %q is not a condition operator (e.g. StringEquals, ArnNotLike, Bool)", where, op.key)
		}
		if op.val.kind != 'o' || len(op.val.obj) == 0 {
			p.fail(op.val.off, "%s: Condition %s must be an object of condition keys", where, op.key)
			continue
		}
		keys := map[string][]string{}
		for _, k := range op.val.obj {
			var vals []string
			switch k.val.kind {
			case 's', 'n', 'b':
				vals = []string{k.val.str}
			case 'a':
				if len(k.val.arr) == 0 {
					p.fail(k.val.off, "%s: Condition %s %s is an empty list", where, op.key, k.key)
				}
				for _, e := range k.val.arr {
					if e.kind != 's' && e.kind != 'n' && e.kind != 'b' {
						p.fail(e.off, "%s: Condition %s %s must hold strings", where, op.key, k.key)
					}
					vals = append(vals, e.str)
				}
			default:
				p.fail(k.val.off, "%s: Condition %s %s must be a string or a list of strings", where, op.key, k.key)
			}
			keys[k.key] = vals
		}
		out[op.key] = keys
	}
	return out
}
