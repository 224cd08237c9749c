package orgmodel_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// A three-level organization for the evaluation tests: the root, OU A,
// OU B under it and one account in B, FullAWSAccess attached to each.
const (
	tinyRoot    = "r-tiny"
	tinyA       = "ou-tiny-aaaaaaaa"
	tinyB       = "ou-tiny-bbbbbbbb"
	tinyAccount = "222222222222"
)

func tinyOrg(t testing.TB) *orgmodel.Org {
	t.Helper()
	const file = `{
	  "id": "o-tinyorg000", "managementAccountId": "111111111111", "asOf": "2026-11-01T00:00:00Z",
	  "root": {"id": "r-tiny", "name": "Root"},
	  "ous": [{"id": "ou-tiny-aaaaaaaa", "name": "A", "parentId": "r-tiny"},
	          {"id": "ou-tiny-bbbbbbbb", "name": "B", "parentId": "ou-tiny-aaaaaaaa"}],
	  "accounts": [{"id": "111111111111", "name": "management", "email": "m@example.com", "parentId": "r-tiny", "joined": "2020-01-01T00:00:00Z"},
	               {"id": "222222222222", "name": "workload", "email": "w@example.com", "parentId": "ou-tiny-bbbbbbbb", "joined": "2020-01-01T00:00:00Z"}],
	  "policies": [{"id": "p-FullAWSAccess", "name": "FullAWSAccess", "awsManaged": true, "allow": ["*"]}],
	  "attachments": {"r-tiny": ["p-FullAWSAccess"], "ou-tiny-aaaaaaaa": ["p-FullAWSAccess"],
	                  "ou-tiny-bbbbbbbb": ["p-FullAWSAccess"], "111111111111": ["p-FullAWSAccess"],
	                  "222222222222": ["p-FullAWSAccess"]},
	  "activity": {"222222222222": {"s3": {"time": "2026-10-01T00:00:00Z", "region": "eu-west-1"}}}
	}`
	o, err := orgmodel.Load(strings.NewReader(file))
	if err != nil {
		t.Fatalf("Load(tiny org) = %v", err)
	}
	return o
}

// doc wraps statements into an SCP document.
func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

var policySeq int

// scp returns a policy with a fresh id holding the document.
func scp(document string) orgmodel.Policy {
	policySeq++
	return orgmodel.Policy{ID: fmt.Sprintf("p-test%06d", policySeq), Name: "Test", Content: orgmodel.Document(document)}
}

const (
	allowAll       = `{"Effect":"Allow","Action":"*","Resource":"*"}`
	bucketARN      = "arn:aws:s3:::reports/*"
	otherBucketARN = "arn:aws:s3:::other/*"
)

// TestPolicyServices pins what a report for one SCP lists, rule by rule:
// the facts IAM answered and the syntactic reading of actions the
// simulator applies without a list of each service's actions.
func TestPolicyServices(t *testing.T) {
	all := len(catalog.All())
	tests := []struct {
		name string
		doc  string
		// want lists namespaces that must be listed, gone those that must
		// not; count, when not -1, is how many services are listed.
		want, gone []string
		count      int
	}{
		// Captured from IAM.
		{name: "deny-only SCP lists nothing", doc: doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*"}`), count: 0},
		{name: "conditional Allow lists the service",
			doc:  doc(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}`),
			want: []string{"s3"}, count: 1},
		{name: "Allow beside a conditional Deny lists the service",
			doc: doc(`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`),
			want: []string{"s3"}, count: 1},
		{name: "Allow of one action on one bucket lists nothing",
			doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + bucketARN + `"}`), count: 0},
		{name: "Deny on the same resource as the Allow lists nothing",
			doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}`), count: 0},
		{name: "Deny on the same bucket as the Allow lists nothing",
			doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"`+bucketARN+`"}`,
				`{"Effect":"Deny","Action":"s3:GetObject","Resource":"`+bucketARN+`"}`), count: 0},
		{name: "Deny on a different resource lists the service",
			doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:GetObject","Resource":"`+otherBucketARN+`"}`),
			want: []string{"s3"}, count: 1},

		// Whole-service Denies remove the service.
		{name: "Deny of every action", doc: doc(allowAll, `{"Effect":"Deny","Action":"*","Resource":"*"}`), count: 0},
		{name: "Deny of ns:*", doc: doc(allowAll, `{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`),
			want: []string{"s3", "gameliftstreams"}, gone: []string{"gamelift"}, count: all - 1},
		{name: "Deny of a namespace wildcard with action *",
			doc:  doc(allowAll, `{"Effect":"Deny","Action":["gamelift*:*"],"Resource":["*"]}`),
			want: []string{"s3"}, gone: []string{"gamelift", "gameliftstreams"}, count: all - 2},
		{name: "Deny of *:* removes all", doc: doc(allowAll, `{"Effect":"Deny","Action":"*:*","Resource":"*"}`), count: 0},
		{name: "Deny in upper case", doc: doc(allowAll, `{"Effect":"Deny","Action":"GameLift:*","Resource":"*"}`),
			gone: []string{"gamelift"}, count: all - 1},
		{name: "Deny with an empty Condition is unconditional",
			doc:  doc(allowAll, `{"Effect":"Deny","Action":"gamelift:*","Resource":"*","Condition":{}}`),
			gone: []string{"gamelift"}, count: all - 1},
		{name: "Deny on a list of resources holding *",
			doc:  doc(allowAll, `{"Effect":"Deny","Action":"gamelift:*","Resource":["arn:aws:gamelift:*:*:fleet/*","*"]}`),
			gone: []string{"gamelift"}, count: all - 1},

		// Partial or conditional Denies remove nothing.
		{name: "Deny of an action subset", doc: doc(allowAll, `{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}`),
			want: []string{"s3"}, count: all},
		{name: "Deny of ns:* on one resource", doc: doc(allowAll, `{"Effect":"Deny","Action":"s3:*","Resource":"`+bucketARN+`"}`),
			want: []string{"s3"}, count: all},
		{name: "Deny of ns:* under a Condition",
			doc:  doc(allowAll, `{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1"]}}}`),
			want: []string{"s3"}, count: all},
		{name: "Deny of ns:* with NotResource",
			doc:  doc(allowAll, `{"Effect":"Deny","Action":"s3:*","NotResource":"`+bucketARN+`"}`),
			want: []string{"s3"}, count: all},

		// NotAction in a Deny denies everything but what it names.
		{name: "Deny NotAction s3:* leaves only s3",
			doc:  doc(allowAll, `{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}`),
			want: []string{"s3"}, gone: []string{"ec2", "s3express"}, count: 1},
		{name: "Deny NotAction of some s3 actions leaves s3",
			doc:  doc(allowAll, `{"Effect":"Deny","NotAction":["s3:GetObject","s3:List*"],"Resource":"*"}`),
			want: []string{"s3"}, gone: []string{"ec2"}, count: 1},
		{name: "Deny NotAction * removes nothing",
			doc: doc(allowAll, `{"Effect":"Deny","NotAction":"*","Resource":"*"}`), count: all},
		{name: "conditional Deny NotAction removes nothing (region deny)",
			doc: doc(allowAll, `{"Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*",
				"Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}}`), count: all},

		// Allow statements.
		{name: "Allow of one action", doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), want: []string{"s3"}, count: 1},
		{name: "Allow with an action wildcard", doc: doc(`{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`), want: []string{"s3"}, count: 1},
		{name: "Allow with ?", doc: doc(`{"Effect":"Allow","Action":"ec2:Describe?nstances","Resource":"*"}`), want: []string{"ec2"}, count: 1},
		{name: "Allow with a wildcard service prefix reaches every service it matches",
			doc: doc(`{"Effect":"Allow","Action":"*:Describe*","Resource":"*"}`), want: []string{"ec2", "s3"}, count: all},
		{name: "Allow with ? in the service prefix",
			doc: doc(`{"Effect":"Allow","Action":"s?:*","Resource":"*"}`), want: []string{"s3"}, gone: []string{"ec2", "sts"}, count: -1},
		{name: "Allow NotAction lists every other service",
			doc:  doc(`{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}`),
			want: []string{"ec2"}, gone: []string{"s3"}, count: all - 1},
		{name: "Allow NotAction of one s3 action still reaches s3",
			doc: doc(`{"Effect":"Allow","NotAction":"s3:DeleteBucket","Resource":"*"}`), want: []string{"s3"}, count: all},
		{name: "Allow with NotResource makes nothing accessible",
			doc: doc(`{"Effect":"Allow","Action":"s3:*","NotResource":"` + bucketARN + `"}`), count: 0},
		{name: "statement as an object, actions as a string",
			doc: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:*","Resource":"*"}}`, want: []string{"sts"}, count: 1},

		// Allows and Denies within the document meet action by action.
		{name: "Deny of a wildcard covering the only Allow",
			doc: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:GetBucketAcl"],"Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:Get*","Resource":"*"}`), count: 0},
		{name: "Deny of one action under a wider Allow",
			doc: doc(`{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}`), want: []string{"s3"}, count: 1},
		{name: "Deny ? covering an Allow",
			doc: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:GetObjec?","Resource":"*"}`), count: 0},
		{name: "Deny NotAction sparing only actions the Allow lacks",
			doc: doc(`{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`,
				`{"Effect":"Deny","NotAction":"s3:Put*","Resource":"*"}`), count: 0},
		{name: "Deny NotAction sparing part of the Allow",
			doc: doc(`{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`,
				`{"Effect":"Deny","NotAction":"s3:GetObject*","Resource":"*"}`), want: []string{"s3"}, count: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tinyOrg(t)
			p := scp(tc.doc)
			if err := o.AddPolicy(p); err != nil {
				t.Fatalf("AddPolicy(%s) = %v", tc.doc, err)
			}
			got := o.PolicyServices(p.ID)
			for _, ns := range tc.want {
				if !slices.Contains(got, ns) {
					t.Errorf("Got(PolicyServices) without %s; want it listed", ns)
				}
			}
			for _, ns := range tc.gone {
				if slices.Contains(got, ns) {
					t.Errorf("Got(PolicyServices) with %s; want it removed", ns)
				}
			}
			if tc.count >= 0 && len(got) != tc.count {
				t.Errorf("Got(len(PolicyServices)) = %d; want %d (%v)", len(got), tc.count, head(got))
			}
			// The report for the policy lists the same services.
			r, err := o.AccessReport("o-tinyorg000/"+tinyRoot, p.ID)
			if err != nil {
				t.Fatalf("AccessReport(root, %s) = %v", p.ID, err)
			}
			if len(r.Services) != len(got) {
				t.Errorf("Got(report for the policy) = %d services; want %d", len(r.Services), len(got))
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestAllowedAcrossLevels pins how documents at different levels combine:
// a service stays when some action of it is allowed at every level and
// denied at none.
func TestAllowedAcrossLevels(t *testing.T) {
	s3Get := doc(`{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`)
	tests := []struct {
		name   string
		attach map[string][]string // target -> documents attached besides FullAWSAccess
		detach []string            // targets whose FullAWSAccess is detached
		at     string              // entity asked about
		want   []string
		gone   []string
		count  int
	}{
		{name: "FullAWSAccess everywhere lists every service", at: tinyAccount, count: len(catalog.All())},
		{name: "whole-service Deny at an OU removes the service below it",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`)}},
			at:     tinyAccount, want: []string{"s3"}, gone: []string{"gamelift"}, count: len(catalog.All()) - 1},
		{name: "a Deny below the entity does not reach it",
			attach: map[string][]string{tinyB: {doc(`{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`)}},
			at:     tinyA, want: []string{"gamelift"}, count: len(catalog.All())},
		{name: "a Deny at one level removes what another level allows",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Deny","Action":"s3:*","Resource":"*"}`)}, tinyB: {s3Get}},
			detach: []string{tinyB}, at: tinyAccount, count: 0},
		{name: "a level with only a Deny allows nothing",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Deny","Action":"gamelift:*","Resource":"*"}`)}},
			detach: []string{tinyA}, at: tinyB, count: 0},
		{name: "allow-lists intersect over levels",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Allow","Action":["s3:*","ec2:*"],"Resource":"*"}`)},
				tinyB: {doc(`{"Effect":"Allow","Action":["s3:*","sts:*"],"Resource":"*"}`)}},
			detach: []string{tinyA, tinyB}, at: tinyB, want: []string{"s3"}, count: 1},
		{name: "partial Allows with no action in common list nothing",
			attach: map[string][]string{tinyA: {s3Get}, tinyB: {doc(`{"Effect":"Allow","Action":"s3:Put*","Resource":"*"}`)}},
			detach: []string{tinyA, tinyB}, at: tinyB, count: 0},
		{name: "partial Allows with an action in common list the service",
			attach: map[string][]string{tinyA: {s3Get}, tinyB: {doc(`{"Effect":"Allow","Action":"s3:*Object","Resource":"*"}`)}},
			detach: []string{tinyA, tinyB}, at: tinyB, want: []string{"s3"}, count: 1},
		{name: "a Deny at the root of what an OU allows partly",
			attach: map[string][]string{tinyRoot: {doc(`{"Effect":"Deny","Action":"s3:Get*","Resource":"*"}`)}, tinyA: {s3Get}},
			detach: []string{tinyA}, at: tinyA, count: 0},
		{name: "conditional Allow at a level still allows",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`)}},
			detach: []string{tinyA}, at: tinyAccount, want: []string{"s3"}, count: 1},
		{name: "Allow on one bucket at a level allows nothing there",
			attach: map[string][]string{tinyA: {doc(`{"Effect":"Allow","Action":"s3:*","Resource":"` + bucketARN + `"}`)}},
			detach: []string{tinyA}, at: tinyAccount, count: 0},
		{name: "Deny NotAction at the root leaves one service",
			attach: map[string][]string{tinyRoot: {doc(`{"Effect":"Deny","NotAction":["s3:*","sts:AssumeRole"],"Resource":"*"}`)}},
			at:     tinyAccount, want: []string{"s3", "sts"}, count: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tinyOrg(t)
			for _, target := range []string{tinyRoot, tinyA, tinyB, tinyAccount} {
				for _, d := range tc.attach[target] {
					if err := o.AttachPolicy(target, scp(d)); err != nil {
						t.Fatalf("AttachPolicy(%s) = %v", target, err)
					}
				}
			}
			for _, target := range tc.detach {
				if err := o.DetachPolicy(target, orgmodel.FullAWSAccessID); err != nil {
					t.Fatalf("DetachPolicy(%s, FullAWSAccess) = %v", target, err)
				}
			}
			got := o.AllowedServices(tc.at)
			for _, ns := range tc.want {
				if !slices.Contains(got, ns) {
					t.Errorf("Got(AllowedServices(%s)) without %s; want it listed", tc.at, ns)
				}
			}
			for _, ns := range tc.gone {
				if slices.Contains(got, ns) {
					t.Errorf("Got(AllowedServices(%s)) with %s; want it removed", tc.at, ns)
				}
			}
			if len(got) != tc.count {
				t.Errorf("Got(len(AllowedServices(%s))) = %d; want %d (%v)", tc.at, len(got), tc.count, head(got))
			}
		})
	}
}
