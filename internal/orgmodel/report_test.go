package orgmodel_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// Paths of testdata/org-small.json.
const (
	root      = "o-a1b2c3d4e5/r-ab12"
	security  = root + "/ou-ab12-security"
	workloads = root + "/ou-ab12-workload"
	prod      = workloads + "/ou-ab12-prod0001"
	payments  = prod + "/ou-ab12-payments"
	nonprod   = workloads + "/ou-ab12-nonprod1"
	sandbox   = root + "/ou-ab12-sandbox1"

	mgmt         = root + "/111111111111"
	auditAcct    = security + "/333333333333"
	paymentsProd = payments + "/444444444444"
	checkoutProd = prod + "/555555555555"
	paymentsDev  = nonprod + "/666666666666"
	dataDev      = nonprod + "/777777777777"
	sandboxAlice = sandbox + "/888888888888"
	legacyTools  = root + "/101010101010"
)

// Allow lists of the file's SCPs.
var (
	allowCore      = []string{"cloudtrail", "cloudwatch", "ec2", "iam", "kms", "logs", "s3", "sts"}
	allowWorkloads = []string{"cloudwatch", "dynamodb", "ec2", "iam", "kms", "lambda", "logs", "s3", "sqs", "sts"}
	allowSandbox   = []string{"ec2", "lambda", "s3", "sts"}
	allowStaged    = []string{"athena", "glue", "s3", "sts"}
	// workloads ∩ core: what reaches payments-prod and data-dev.
	workloadsCore = []string{"cloudwatch", "ec2", "iam", "kms", "logs", "s3", "sts"}
)

// seen is the expected data of one service: when, where, by which account
// path the latest access happened, and how many data accounts used it.
type seen struct {
	at     string
	region string
	path   string
	total  int
}

func loadSmall(t testing.TB) *orgmodel.Org {
	t.Helper()
	o, err := orgmodel.LoadFile("../../testdata/org-small.json")
	if err != nil {
		t.Fatalf("LoadFile(org-small.json) = %v", err)
	}
	return o
}

func TestAccessReport(t *testing.T) {
	o := loadSmall(t)
	tests := []struct {
		name     string
		path     string
		policy   string
		entityID string
		services []string // nil: every catalog service
		data     map[string]seen
	}{
		{
			name: "root", path: root, entityID: "r-ab12",
			data: map[string]seen{
				"sts":            {"2026-10-31T23:45:00Z", "us-east-2", legacyTools, 8},
				"s3":             {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 6},
				"ec2":            {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 4}, // tie with 555…: smaller id
				"kms":            {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 2},
				"cloudtrail":     {"2026-10-30T00:00:00Z", "eu-west-1", security + "/222222222222", 1},
				"securityhub":    {"2026-10-28T10:00:00Z", "us-east-1", auditAcct, 1},
				"guardduty":      {"2026-10-27T10:00:00Z", "us-east-1", auditAcct, 1},
				"iam":            {"2026-10-29T11:00:00Z", "us-east-1", auditAcct, 1},
				"dynamodb":       {"2026-10-31T21:00:00Z", "eu-central-1", paymentsProd, 2},
				"logs":           {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"lambda":         {"2026-10-31T23:59:59Z", "eu-west-1", paymentsDev, 2},
				"sqs":            {"2026-06-01T00:00:00Z", "us-west-2", checkoutProd, 1},
				"athena":         {"2026-10-05T00:00:00Z", "ap-southeast-2", dataDev, 1}, // not the management account's later use
				"rekognition":    {"2026-07-04T13:00:00Z", "us-east-1", sandboxAlice, 1},
				"cloudformation": {"2026-03-03T03:03:03Z", "us-east-2", legacyTools, 1},
				// organizations: used only by the management account, so no data.
			},
		},
		{
			name: "OU replacing FullAWSAccess", path: workloads, entityID: "ou-ab12-workload", services: allowWorkloads,
			data: map[string]seen{
				"dynamodb": {"2026-10-31T21:00:00Z", "eu-central-1", paymentsProd, 2},
				"ec2":      {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 2},
				"kms":      {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"lambda":   {"2026-10-31T23:59:59Z", "eu-west-1", paymentsDev, 2},
				"logs":     {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"s3":       {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 4},
				"sqs":      {"2026-06-01T00:00:00Z", "us-west-2", checkoutProd, 1},
				"sts":      {"2026-10-31T21:30:00Z", "us-west-2", checkoutProd, 4},
			},
		},
		{
			name: "nested OU, intersection of three levels", path: payments, entityID: "ou-ab12-payments", services: workloadsCore,
			data: map[string]seen{
				"ec2":  {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"kms":  {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"logs": {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"s3":   {"2026-10-31T19:00:00Z", "eu-central-1", paymentsProd, 1},
				"sts":  {"2026-10-31T20:00:00Z", "eu-central-1", paymentsProd, 1},
			},
		},
		{
			name: "OU with an idle account", path: sandbox, entityID: "ou-ab12-sandbox1", services: allowSandbox,
			data: map[string]seen{
				"ec2": {"2026-07-04T12:00:00Z", "us-east-1", sandboxAlice, 1},
				"s3":  {"2026-07-04T12:30:00Z", "us-east-1", sandboxAlice, 1},
				"sts": {"2026-07-04T12:00:00Z", "us-east-1", sandboxAlice, 1},
			},
		},
		{
			name: "account", path: checkoutProd, entityID: "555555555555", services: allowWorkloads,
			data: map[string]seen{
				"dynamodb": {"2026-10-29T10:00:00Z", "us-west-2", checkoutProd, 1},
				"ec2":      {"2026-10-30T09:00:00Z", "us-west-2", checkoutProd, 1},
				"lambda":   {"2026-10-31T10:00:00Z", "us-west-2", checkoutProd, 1},
				"s3":       {"2026-10-30T12:00:00Z", "us-west-2", checkoutProd, 1},
				"sqs":      {"2026-06-01T00:00:00Z", "us-west-2", checkoutProd, 1},
				"sts":      {"2026-10-31T21:30:00Z", "us-west-2", checkoutProd, 1},
			},
		},
		{
			name: "account whose own SCP restricts", path: dataDev, entityID: "777777777777", services: workloadsCore,
			data: map[string]seen{
				"s3":  {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 1},
				"sts": {"2026-10-10T00:00:00Z", "ap-southeast-2", dataDev, 1},
			},
		},
		{
			name: "account under FullAWSAccess with an extra SCP", path: legacyTools, entityID: "101010101010",
			data: map[string]seen{
				"ec2":            {"2025-12-01T00:00:00Z", "us-east-2", legacyTools, 1},
				"sts":            {"2026-10-31T23:45:00Z", "us-east-2", legacyTools, 1},
				"cloudformation": {"2026-03-03T03:03:03Z", "us-east-2", legacyTools, 1},
			},
		},
		{
			name: "management account", path: mgmt, entityID: "111111111111",
			data: map[string]seen{
				"organizations": {"2026-10-31T12:00:00Z", "us-east-1", mgmt, 1},
				"sts":           {"2026-10-31T13:00:00Z", "us-east-1", mgmt, 1},
				"s3":            {"2026-10-20T08:00:00Z", "eu-west-1", mgmt, 1},
				"athena":        {"2026-09-01T10:00:00Z", "eu-west-1", mgmt, 1},
			},
		},
		{
			name: "management account ignores a policy id", path: mgmt, policy: "p-sandbox01", entityID: "111111111111",
			data: map[string]seen{
				"organizations": {"2026-10-31T12:00:00Z", "us-east-1", mgmt, 1},
				"sts":           {"2026-10-31T13:00:00Z", "us-east-1", mgmt, 1},
				"s3":            {"2026-10-20T08:00:00Z", "eu-west-1", mgmt, 1},
				"athena":        {"2026-09-01T10:00:00Z", "eu-west-1", mgmt, 1},
			},
		},
		{
			name: "management account ignores an unknown policy id", path: mgmt, policy: "p-nosuchpolicy", entityID: "111111111111",
			data: map[string]seen{
				"organizations": {"2026-10-31T12:00:00Z", "us-east-1", mgmt, 1},
				"sts":           {"2026-10-31T13:00:00Z", "us-east-1", mgmt, 1},
				"s3":            {"2026-10-20T08:00:00Z", "eu-west-1", mgmt, 1},
				"athena":        {"2026-09-01T10:00:00Z", "eu-west-1", mgmt, 1},
			},
		},
		{
			name: "root with an SCP attached to an OU and an account", path: root, policy: "p-workload1", entityID: "r-ab12", services: allowWorkloads,
			data: map[string]seen{
				"dynamodb": {"2026-10-31T21:00:00Z", "eu-central-1", paymentsProd, 2},
				"ec2":      {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 3},
				"kms":      {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"lambda":   {"2026-10-31T23:59:59Z", "eu-west-1", paymentsDev, 2},
				"logs":     {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"s3":       {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 4},
				"sqs":      {"2026-06-01T00:00:00Z", "us-west-2", checkoutProd, 1},
				"sts":      {"2026-10-31T23:45:00Z", "us-east-2", legacyTools, 5},
			},
		},
		{
			name: "root with an SCP inherited from two OUs", path: root, policy: "p-corebase1", entityID: "r-ab12", services: allowCore,
			data: map[string]seen{
				"ec2":  {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"kms":  {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"logs": {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"s3":   {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 3},
				"sts":  {"2026-10-31T20:00:00Z", "eu-central-1", paymentsProd, 3},
			},
		},
		{
			name: "OU with the SCP attached to it", path: nonprod, policy: "p-corebase1", entityID: "ou-ab12-nonprod1", services: allowCore,
			data: map[string]seen{
				"s3":  {"2026-10-31T23:30:00Z", "ap-southeast-2", dataDev, 2},
				"sts": {"2026-10-20T10:00:00Z", "eu-west-1", paymentsDev, 2},
			},
		},
		{
			name: "OU with an SCP applied nowhere in it", path: workloads, policy: "p-sandbox01", entityID: "ou-ab12-workload", services: allowSandbox,
		},
		{
			name: "root with an unattached SCP", path: root, policy: "p-staging01", entityID: "r-ab12", services: allowStaged,
		},
		{
			name: "account with FullAWSAccess lists services its OU denies", path: paymentsProd, policy: "p-FullAWSAccess", entityID: "444444444444",
			data: map[string]seen{
				"dynamodb": {"2026-10-31T21:00:00Z", "eu-central-1", paymentsProd, 1},
				"ec2":      {"2026-10-30T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"kms":      {"2026-10-25T09:00:00Z", "eu-central-1", paymentsProd, 1},
				"logs":     {"2026-09-30T00:00:00Z", "eu-central-1", paymentsProd, 1},
				"s3":       {"2026-10-31T19:00:00Z", "eu-central-1", paymentsProd, 1},
				"sts":      {"2026-10-31T20:00:00Z", "eu-central-1", paymentsProd, 1},
			},
		},
		{
			name: "account the SCP does not apply to", path: checkoutProd, policy: "p-corebase1", entityID: "555555555555", services: allowCore,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := o.AccessReport(tc.path, tc.policy)
			if err != nil {
				t.Fatalf("AccessReport(%q, %q) = %v", tc.path, tc.policy, err)
			}
			if r.Entity.ID != tc.entityID || r.Entity.Path != tc.path {
				t.Errorf("Got(%q).Entity = %s %s; want %s %s", tc.path, r.Entity.ID, r.Entity.Path, tc.entityID, tc.path)
			}
			wantN := len(tc.services)
			if tc.services == nil {
				wantN = len(catalog.All())
			}
			if len(r.Services) != wantN {
				t.Fatalf("Got(%q) = %d services; want %d", tc.path, len(r.Services), wantN)
			}
			for i, s := range r.Services {
				if tc.services != nil && s.Namespace != tc.services[i] {
					t.Errorf("Got(%q).Services[%d] = %s; want %s", tc.path, i, s.Namespace, tc.services[i])
				}
				if i > 0 && r.Services[i-1].Namespace >= s.Namespace {
					t.Errorf("Got(%q).Services not sorted at %d: %s after %s", tc.path, i, s.Namespace, r.Services[i-1].Namespace)
				}
				want, ok := tc.data[s.Namespace]
				if !ok {
					wantRegion := ""
					if s.Namespace == "iam" {
						wantRegion = "us-east-1" // as IAM answers on an unused iam row
					}
					if !s.LastAuthenticated.IsZero() || s.Region != wantRegion || s.EntityPath != "" || s.TotalAuthenticatedEntities != 0 {
						t.Errorf("Got(%q) %s = %+v; want no data (Region %q)", tc.path, s.Namespace, s, wantRegion)
					}
					continue
				}
				got := seen{s.LastAuthenticated.UTC().Format(time.RFC3339), s.Region, s.EntityPath, s.TotalAuthenticatedEntities}
				if got != want {
					t.Errorf("Got(%q) %s = %+v; want %+v", tc.path, s.Namespace, got, want)
				}
				if s.Name == "" {
					t.Errorf("Got(%q) %s has no name", tc.path, s.Namespace)
				}
			}
			// Accessible counts the services the SCPs allow (all listed),
			// NotAccessed those of them without data.
			if r.Accessible != wantN || r.NotAccessed != wantN-len(tc.data) {
				t.Errorf("Got(%q) accessible, not accessed = %d, %d; want %d, %d", tc.path, r.Accessible, r.NotAccessed, wantN, wantN-len(tc.data))
			}
		})
	}
}

func TestAccessReportErrors(t *testing.T) {
	o := loadSmall(t)
	tests := []struct {
		path, policy string
		want         error
	}{
		{"", "", orgmodel.ErrInvalidInput},
		{"o-a1b2c3d4e5", "", orgmodel.ErrInvalidInput},
		{"o-A1B2C3D4E5/r-ab12", "", orgmodel.ErrInvalidInput},
		{"o-a1b2c3d4e5/r-ab12/ou_ab12", "", orgmodel.ErrInvalidInput},
		{"r-ab12/o-a1b2c3d4e5", "", orgmodel.ErrInvalidInput},
		{root + "/" + longSegment(420), "", orgmodel.ErrInvalidInput}, // longer than 427
		{root, "p-short", orgmodel.ErrInvalidInput},
		{root, "x-12345678", orgmodel.ErrInvalidInput},
		{mgmt, "p-bad!chars", orgmodel.ErrInvalidInput},
		{"o-zzzzzzzzzz/r-ab12", "", orgmodel.ErrNoSuchEntity},
		{"o-a1b2c3d4e5/r-zz99", "", orgmodel.ErrNoSuchEntity},
		{root + "/ou-ab12-nosuchou", "", orgmodel.ErrNoSuchEntity},
		{root + "/ou-ab12-prod0001", "", orgmodel.ErrNoSuchEntity},                  // skips Workloads
		{sandbox + "/444444444444", "", orgmodel.ErrNoSuchEntity},                   // not its parent
		{payments + "/444444444444/ou-ab12-workload", "", orgmodel.ErrNoSuchEntity}, // upside down
		{root + "/123456789012", "", orgmodel.ErrNoSuchEntity},
		{root + "/", "", orgmodel.ErrNoSuchEntity},
		{root, "p-nosuchpolicy", orgmodel.ErrNoSuchEntity},
		{checkoutProd, "p-nosuchpolicy", orgmodel.ErrNoSuchEntity},
	}
	for _, tc := range tests {
		_, err := o.AccessReport(tc.path, tc.policy)
		if !errors.Is(err, tc.want) {
			t.Errorf("Got(%q, %q) = %v; want %v", tc.path, tc.policy, err, tc.want)
		}
		var e *orgmodel.Error
		if errors.As(err, &e) && e.Message == "" {
			t.Errorf("Got(%q, %q): empty message", tc.path, tc.policy)
		}
	}
}

func longSegment(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestResolvePath(t *testing.T) {
	o := loadSmall(t)
	tests := []struct {
		path, id, typ, name string
		depth               int
	}{
		{root, "r-ab12", orgmodel.TypeRoot, "Root", 0},
		{workloads, "ou-ab12-workload", orgmodel.TypeOU, "Workloads", 1},
		{payments, "ou-ab12-payments", orgmodel.TypeOU, "Payments", 3},
		{paymentsProd, "444444444444", orgmodel.TypeAccount, "payments-prod", 4},
		{mgmt, "111111111111", orgmodel.TypeAccount, "management", 1},
	}
	for _, tc := range tests {
		n, err := o.ResolvePath(tc.path)
		if err != nil {
			t.Fatalf("ResolvePath(%q) = %v", tc.path, err)
		}
		if n.ID != tc.id || n.Type != tc.typ || n.Name != tc.name || n.Depth != tc.depth || n.Path != tc.path {
			t.Errorf("Got(%q) = %+v; want %s %s %s depth %d", tc.path, n, tc.id, tc.typ, tc.name, tc.depth)
		}
	}
}
