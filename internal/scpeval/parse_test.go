package scpeval

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAcceptsTheGrammar(t *testing.T) {
	for _, c := range []struct{ name, doc string }{
		{"FullAWSAccess", FullAWSAccess},
		{"statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}`},
		{"no version, no resource", `{"Statement":[{"Effect":"Deny","Action":["s3:*","ec2:RunInstances"]}]}`},
		{"old version and Id", `{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Allow","Action":"*"}]}`},
		{"NotAction and NotResource", `{"Statement":[{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:s3:::logs/*"}]}`},
		{"wildcards", `{"Statement":[{"Effect":"Deny","Action":["*:Describe*","s3:Get*","s3:GetObjec?","s?:*"]}]}`},
		{"condition", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1"]},"ForAnyValue:StringLike":{"aws:TagKeys":"x*"},"BoolIfExists":{"aws:MultiFactorAuthPresent":false},"NumericLessThan":{"aws:MultiFactorAuthAge":3600},"Null":{"aws:ResourceTag/x":"true"}}}]}`},
		{"unicode and white space", "{\n  \"Statement\": [ { \"Sid\": \"Ünï\", \"Effect\": \"Deny\", \"Action\": \"s3:*\" } ]\n}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "unicode and white space" {
				// Sid is letters and digits of ASCII only.
				if _, err := Parse([]byte(c.doc)); err == nil {
					t.Fatal("Got(Parse error) = nil; want a Sid error")
				}
				return
			}
			p, err := Parse([]byte(c.doc))
			if err != nil {
				t.Fatalf("Got(Parse) error %v; want none", err)
			}
			if len(p.Statements) == 0 {
				t.Fatal("Got(0 statements); want some")
			}
		})
	}
}

func TestParseStatementFields(t *testing.T) {
	p := MustParse(`{"Statement":[{"Sid":"S","Effect":"Deny","NotAction":"iam:*","Resource":["arn:aws:s3:::b","*"],
		"Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}]}`)
	st := p.Statements[0]
	if st.Sid != "S" || st.Effect != Deny || st.Action != nil || len(st.NotAction) != 1 || len(st.Resource) != 2 ||
		len(st.Condition["StringEquals"]["aws:RequestedRegion"]) != 2 {
		t.Errorf("Got(%+v); want the statement's elements", st)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		line, col int
		want      string
	}{
		{"not JSON", `{"Statement": [}`, 1, 16, "invalid JSON"},
		{"ends early", `{"Statement": [`, 1, 16, "ends early"},
		{"trailing data", `{"Statement":{"Effect":"Deny","Action":"*"}} x`, 1, 46, "after the policy"},
		{"array document", `[]`, 1, 1, "JSON object"},
		{"no statement", `{"Version":"2012-10-17"}`, 1, 1, "no Statement"},
		{"bad version", `{"Version":"2020-01-01","Statement":{"Effect":"Deny","Action":"*"}}`, 1, 12, "Version"},
		{"unknown top element", `{"Statment":[]}`, 1, 2, `"Statment" is not an element`},
		{"empty statement list", `{"Statement":[]}`, 1, 14, "empty list"},
		{"statement not object", `{"Statement":["x"]}`, 1, 15, "must be an object"},
		{"Principal", "{\"Statement\":[{\"Effect\":\"Deny\",\n \"Principal\":\"*\",\"Action\":\"*\"}]}", 2, 2, "do not support the Principal element"},
		{"NotPrincipal", `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"*"}]}`, 1, 32, "NotPrincipal"},
		{"no effect", `{"Statement":[{"Action":"*"}]}`, 1, 15, "has no Effect"},
		{"bad effect", `{"Statement":[{"Effect":"deny","Action":"*"}]}`, 1, 25, `Effect must be "Allow" or "Deny"`},
		{"no action", `{"Statement":[{"Effect":"Deny","Resource":"*"}]}`, 1, 15, "neither Action nor NotAction"},
		{"both actions", `{"Statement":[{"Effect":"Deny","Action":"*","NotAction":"s3:*"}]}`, 1, 15, "both Action and NotAction"},
		{"both resources", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","NotResource":"*"}]}`, 1, 15, "both Resource and NotResource"},
		{"bad action", `{"Statement":[{"Effect":"Deny","Action":["s3:*","s3"]}]}`, 1, 49, `"s3" is not an action`},
		{"empty action list", `{"Statement":[{"Effect":"Deny","Action":[]}]}`, 1, 41, "empty list"},
		{"action not string", `{"Statement":[{"Effect":"Deny","Action":7}]}`, 1, 41, "string or a list"},
		{"bad resource", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"bucket"}]}`, 1, 56, "not a resource"},
		{"bad condition operator", `{"Statement":[{"Effect":"Deny","Action":"*","Condition":{"StringIs":{"k":"v"}}}]}`, 1, 58, "not a condition operator"},
		{"condition not object", `{"Statement":[{"Effect":"Deny","Action":"*","Condition":"x"}]}`, 1, 57, "Condition must be an object"},
		{"condition value object", `{"Statement":[{"Effect":"Deny","Action":"*","Condition":{"Bool":{"k":{}}}}]}`, 1, 70, "string or a list"},
		{"unknown statement element", `{"Statement":[{"Effect":"Deny","Action":"*","Actions":"*"}]}`, 1, 45, `"Actions" is not an element`},
		{"duplicate key", `{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*"}]}`, 1, 32, "appears twice"},
		{"bad sid", `{"Statement":[{"Sid":"a b","Effect":"Deny","Action":"*"}]}`, 1, 22, "Sid"},
		{"invalid UTF-8", "{\"Statement\":\"\xff\"}", 1, 15, "UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Got(Parse error) = %v; want a *ParseError", err)
			}
			if !strings.Contains(pe.Msg, c.want) || pe.Line != c.line || pe.Column != c.col {
				t.Errorf("Got(%v); want line %d, column %d: …%s…", err, c.line, c.col, c.want)
			}
		})
	}
}

func TestParseSizeQuota(t *testing.T) {
	head := `{"Statement":{"Effect":"Deny","Action":["s3:*"`
	tail := `]}}`
	fill := func(n int) string {
		var b strings.Builder
		b.WriteString(head)
		for b.Len()+len(tail)+len(`,"ec2:*"`) <= n {
			b.WriteString(`,"ec2:*"`)
		}
		for b.Len()+len(tail) < n {
			b.WriteString(" ")
		}
		b.WriteString(tail)
		return b.String()
	}
	ok := fill(MaxPolicySize)
	if len(ok) != MaxPolicySize {
		t.Fatalf("fixture is %d characters", len(ok))
	}
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("Got(Parse of %d characters) error %v; want none", len(ok), err)
	}
	over := fill(MaxPolicySize + 1)
	_, err := Parse([]byte(over))
	if err == nil || !strings.Contains(err.Error(), "5121 characters") {
		t.Errorf("Got(Parse of %d characters) error %v; want the size quota", len(over), err)
	}
	// Characters, not bytes: 5,000 two-byte letters fit.
	multi := `{"Statement":{"Effect":"Deny","Action":"*","Condition":{"StringEquals":{"aws:PrincipalTag/x":"` + strings.Repeat("é", 4900) + `"}}}}`
	if _, err := Parse([]byte(multi)); err != nil {
		t.Errorf("Got(Parse of %d bytes, %d characters) error %v; want none", len(multi), len([]rune(multi)), err)
	}
}
