package orgmodel_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// TestDocumentValidation pins the checks Organizations makes of an SCP
// document; each error names the policy and the element at fault.
func TestDocumentValidation(t *testing.T) {
	long := doc(`{"Effect":"Allow","Action":["` + strings.Repeat("s3:GetObject\",\"", 400) + `s3:GetObject"],"Resource":"*"}`)
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"Version":"2012-10-17",`, "not a JSON object"},
		{"not an object", `["Allow"]`, "not a JSON object"},
		{"two objects", doc(allowAll) + doc(allowAll), "data after the top-level object"},
		{"too long", long, "characters; an SCP may have at most 5120"},
		{"no Version", `{"Statement":[` + allowAll + `]}`, "Version is missing"},
		{"other Version", `{"Version":"2008-10-17","Statement":[` + allowAll + `]}`, `want "2012-10-17"`},
		{"unknown top-level element", `{"Version":"2012-10-17","Statements":[]}`, `unknown element "Statements"`},
		{"no Statement", `{"Version":"2012-10-17"}`, "Statement is missing"},
		{"empty Statement", `{"Version":"2012-10-17","Statement":[]}`, "Statement: the array is empty"},
		{"Statement a string", `{"Version":"2012-10-17","Statement":"Allow"}`, "want a statement object or an array"},
		{"Principal", doc(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}`), "Statement[0]: Principal is not allowed in an SCP"},
		{"NotPrincipal", doc(allowAll, `{"Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"s3:*","Resource":"*"}`), "Statement[1]: NotPrincipal is not allowed"},
		{"no Effect", doc(`{"Action":"s3:*","Resource":"*"}`), "Statement[0]: Effect is missing"},
		{"bad Effect", doc(`{"Effect":"allow","Action":"s3:*","Resource":"*"}`), `Effect "allow": want "Allow" or "Deny"`},
		{"no Action", doc(`{"Effect":"Allow","Resource":"*"}`), "Action or NotAction is required"},
		{"Action and NotAction", doc(`{"Effect":"Deny","Action":"s3:*","NotAction":"ec2:*","Resource":"*"}`), "Action and NotAction are exclusive"},
		{"empty Action list", doc(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "Action: the array is empty"},
		{"Action without a colon", doc(`{"Effect":"Allow","Action":"s3","Resource":"*"}`), `Action "s3": want "*" or a service prefix`},
		{"Action with a bad character", doc(`{"Effect":"Allow","Action":"s3:Get Object","Resource":"*"}`), `action "Get Object"`},
		{"Action a number", doc(`{"Effect":"Allow","Action":3,"Resource":"*"}`), "Action: want a string or an array of strings"},
		{"no Resource", doc(`{"Effect":"Allow","Action":"s3:*"}`), "Resource or NotResource is required"},
		{"Resource and NotResource", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*","NotResource":"*"}`), "Resource and NotResource are exclusive"},
		{"Resource not an ARN", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"my-bucket"}`), `Resource "my-bucket": want "*" or an ARN`},
		{"unknown statement element", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*","Resources":"*"}`), `unknown element "Resources"`},
		{"bad Sid", doc(`{"Sid":"deny s3","Effect":"Deny","Action":"s3:*","Resource":"*"}`), "Sid \"deny s3\": want letters and digits only"},
		{"duplicate Sid", doc(`{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}`, `{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}`), `Sid "A" is used by an earlier statement`},
		{"Condition not an object", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":"yes"}`), "Condition: want"},
		{"Condition operator without keys", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{}}}`), `Condition "StringEquals"`},
		{"Condition value an object", doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:x":{"a":1}}}}`), "Condition StringEquals aws:x"},
		{"statement not an object", doc(`"Allow"`), "Statement[0]: want an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tinyOrg(t)
			p := scp(tc.doc)
			err := o.AttachPolicy(tinyA, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p.ID) {
				t.Errorf("Got(AttachPolicy(%s)) = %v; want an error naming %s and containing %q", tc.doc[:min(len(tc.doc), 80)], err, p.ID, tc.want)
			}
			if _, ok := o.Policy(p.ID); ok {
				t.Errorf("Got(Policy(%s)) after a refused document; want it not added", p.ID)
			}
		})
	}
	// The largest document accepted: exactly MaxPolicySize characters,
	// white space and non-ASCII characters counting one each.
	exact := doc(`{"Sid":"Größe","Effect":"Allow","Action":"*","Resource":"*"}`)
	exact = exact[:len(exact)-1] + strings.Repeat(" ", orgmodel.MaxPolicySize-len([]rune(exact))) + "}"
	if err := tinyOrg(t).AddPolicy(scp(exact)); err == nil || !strings.Contains(err.Error(), "Sid") {
		t.Errorf("Got(AddPolicy(non-ASCII Sid)) = %v; want the Sid refused", err)
	}
	exact = doc(allowAll)
	exact = exact[:len(exact)-1] + strings.Repeat(" ", orgmodel.MaxPolicySize-len(exact)) + "}"
	if err := tinyOrg(t).AddPolicy(scp(exact)); err != nil {
		t.Errorf("Got(AddPolicy(%d characters)) = %v; want it accepted", len(exact), err)
	}
	if err := tinyOrg(t).AddPolicy(scp(exact + " ")); err == nil {
		t.Errorf("Got(AddPolicy(%d characters)) = nil; want too long", len(exact)+1)
	}
}

func TestAttachDetachPolicy(t *testing.T) {
	o := tinyOrg(t)
	deny := scp(doc(`{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`))
	if err := o.AttachPolicy(tinyA, deny); err != nil {
		t.Fatalf("AttachPolicy(A, deny) = %v", err)
	}
	p, ok := o.Policy(deny.ID)
	if !ok || p.Text() != string(deny.Content) || p.Name != "Test" {
		t.Fatalf("Got(Policy(%s)) = %v %v; want the document as given", deny.ID, p, ok)
	}
	if got := o.PoliciesFor(tinyA); len(got) != 2 || got[1] != deny.ID {
		t.Errorf("Got(PoliciesFor(A)) = %v; want FullAWSAccess and %s", got, deny.ID)
	}
	// The same policy by id alone, at a second target.
	if err := o.AttachPolicy(tinyAccount, orgmodel.Policy{ID: deny.ID}); err != nil {
		t.Fatalf("AttachPolicy(account, by id) = %v", err)
	}
	if got := o.TargetsFor(deny.ID); len(got) != 2 || got[0] != tinyAccount || got[1] != tinyA {
		t.Errorf("Got(TargetsFor(%s)) = %v; want [%s %s]", deny.ID, got, tinyAccount, tinyA)
	}
	for _, n := range []string{tinyA, tinyB, tinyAccount} {
		if ns := o.AllowedServices(n); len(ns) == 0 || contains(ns, "gamelift") {
			t.Errorf("Got(AllowedServices(%s)) holds gamelift or nothing; want gamelift removed", n)
		}
	}
	if !contains(o.AllowedServices(tinyRoot), "gamelift") {
		t.Errorf("Got(AllowedServices(root)) without gamelift; want the Deny below not to reach it")
	}

	errs := []struct {
		name string
		err  error
		want string
	}{
		{"twice", o.AttachPolicy(tinyA, orgmodel.Policy{ID: deny.ID}), "already attached to " + tinyA},
		{"unknown target", o.AttachPolicy("ou-tiny-cccccccc", deny), "is not the root, an OU or an account"},
		{"same id, another document", o.AttachPolicy(tinyB, orgmodel.Policy{ID: deny.ID, Allow: []string{"s3"}}), "another document"},
		{"unknown id without document", o.AttachPolicy(tinyB, orgmodel.Policy{ID: "p-nosuchpolicy"}), "content (or allow) is required"},
		{"bad id", o.AttachPolicy(tinyB, orgmodel.Policy{ID: "p-x", Allow: []string{"s3"}}), `id "p-x"`},
		{"content and allow", o.AttachPolicy(tinyB, orgmodel.Policy{ID: "p-bothgiven", Content: orgmodel.Document(doc(allowAll)), Allow: []string{"s3"}}), "not both"},
		{"detach the last SCP", o.DetachPolicy(tinyB, orgmodel.FullAWSAccessID), "last SCP attached to " + tinyB},
		{"detach what is not attached", o.DetachPolicy(tinyB, deny.ID), "is not attached"},
	}
	for _, e := range errs {
		if e.err == nil || !strings.Contains(e.err.Error(), e.want) {
			t.Errorf("Got(%s) = %v; want an error containing %q", e.name, e.err, e.want)
		}
	}
	for i := 0; i < 3; i++ {
		if err := o.AttachPolicy(tinyB, scp(doc(allowAll))); err != nil {
			t.Fatalf("AttachPolicy(B, #%d) = %v", i+2, err)
		}
	}
	if err := o.AttachPolicy(tinyB, orgmodel.Policy{ID: deny.ID}); err != nil {
		t.Fatalf("AttachPolicy(B, fifth) = %v", err)
	}
	if err := o.AttachPolicy(tinyB, scp(doc(allowAll))); err == nil || !strings.Contains(err.Error(), "already has 5 SCPs") {
		t.Errorf("Got(AttachPolicy(B, sixth)) = %v; want at most 5", err)
	}

	if err := o.DetachPolicy(tinyA, deny.ID); err != nil {
		t.Fatalf("DetachPolicy(A, deny) = %v", err)
	}
	if got := o.TargetsFor(deny.ID); len(got) != 2 || got[0] != tinyAccount || got[1] != tinyB {
		t.Errorf("Got(TargetsFor after detach) = %v; want [%s %s]", got, tinyAccount, tinyB)
	}
	if _, ok := o.Policy(deny.ID); !ok {
		t.Errorf("Got(Policy after detach) missing; want the policy kept")
	}
}

// TestAttachWhileReading runs attachments beside report computations, for
// the race detector.
func TestAttachWhileReading(t *testing.T) {
	o := tinyOrg(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			if _, err := o.AccessReport("o-tinyorg000/r-tiny/ou-tiny-aaaaaaaa", ""); err != nil {
				t.Errorf("AccessReport() = %v", err)
				return
			}
			_ = o.PoliciesFor(tinyA)
			_ = o.ListPolicies()
		}
	}()
	for i := 0; i < 50; i++ {
		p := scp(doc(`{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`))
		if err := o.AttachPolicy(tinyA, p); err != nil {
			t.Fatalf("AttachPolicy() = %v", err)
		}
		if err := o.DetachPolicy(tinyA, p.ID); err != nil {
			t.Fatalf("DetachPolicy() = %v", err)
		}
	}
	wg.Wait()
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
