package orgmodel_test

import (
	"testing"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// TestPolicyReportScope pins which accounts give data to a report for a
// policy: IAM's rule is that a policy not attached to the account (for an
// OU, to the OU or one of its children) gives its services with no data,
// even when it reaches the entity through an ancestor.
func TestPolicyReportScope(t *testing.T) {
	o := loadSmall(t)
	tests := []struct {
		name, path, policy string
		// accounts is how many accounts give data: every account of the
		// file uses sts, so it is sts's TotalAuthenticatedEntities.
		accounts int
	}{
		{"OU whose SCP is attached only above it", payments, "p-workload1", 0},
		{"OU between the attachment and the accounts", prod, "p-workload1", 0},
		{"account whose SCP is attached only above it", paymentsProd, "p-workload1", 0},
		{"account whose SCP is attached to its OU only", paymentsDev, "p-corebase1", 0},
		{"account with the SCP attached to it", dataDev, "p-corebase1", 1},
		{"OU with the SCP attached to it", workloads, "p-workload1", 4},
		{"OU with the SCP attached to two of its children", workloads, "p-corebase1", 3},
		{"root with the SCP attached below", root, "p-corebase1", 3},
		{"OU with FullAWSAccess attached to it and above", prod, orgmodel.FullAWSAccessID, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := o.AccessReport(tc.path, tc.policy)
			if err != nil {
				t.Fatalf("AccessReport(%q, %s) = %v", tc.path, tc.policy, err)
			}
			got := -1
			for _, s := range r.Services {
				if s.Namespace == "sts" {
					got = s.TotalAuthenticatedEntities
				}
			}
			if got != tc.accounts {
				t.Errorf("Got(%s for %s: accounts with data) = %d; want %d", tc.path, tc.policy, got, tc.accounts)
			}
			if len(r.Services) != len(o.PolicyServices(tc.policy)) {
				t.Errorf("Got(%s for %s) = %d services; want the policy's %d", tc.path, tc.policy, len(r.Services), len(o.PolicyServices(tc.policy)))
			}
		})
	}
}
