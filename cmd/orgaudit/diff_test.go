package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// testdata holds two hand-made runs in the documented storage layout (no prefix):
// 20261124T030000Z and 20261125T030000Z, where Production first used
// sagemaker, used athena again after 120 days, and stopped using lambda
// (90 days before the first run, 91 before the second), and Data failed in
// the second run.

func Example_diff() {
	dispatch(context.Background(), []string{"diff", "--out", "testdata", "--prefix", "", "--unused-days", "90",
		"20261124T030000Z", "20261125T030000Z"}, os.Stdout, os.Stderr)
	// Output:
	// Changes from run 20261124T030000Z to run 20261125T030000Z (unused: not accessed for 90 days)
	//
	// ENTITY                                 NEWLY ACCESSED     BECAME UNUSED
	// o-exampleorg1/r-ex12/ou-ex12-prod0001  athena, sagemaker  lambda
	//
	// 3 entity reports compared, 1 changed, 0 new; 2 services newly accessed, 1 became unused.
	//
	// Caveats:
	//   - Access data covers about the last 400 days, and only Regions where IAM tracks service last accessed data; activity elsewhere is not counted.
	//   - Access attempts include denied requests: a service listed as accessed may only have been tried.
	//   - Root and OU reports exclude the management account: a service unused at the OU level may still be needed by the management account (which SCPs do not restrict).
	//   - Reports cover SCP-allowed services only; a service missing from a report is already denied by an SCP.
}

func Example_diffJSON() {
	// Backwards, the second run's failed Data OU has no counterpart, and
	// what was newly accessed becomes "became unused" where still listed.
	dispatch(context.Background(), []string{"diff", "--out", "testdata", "--prefix", "", "--unused-days", "90", "--json",
		"20261125T030000Z", "20261124T030000Z"}, os.Stdout, os.Stderr)
	// Output:
	// {
	//   "previousRunId": "20261125T030000Z",
	//   "unusedDays": 90,
	//   "totals": {
	//     "compared": 3,
	//     "new": 1,
	//     "changed": 1,
	//     "newlyAccessed": 1,
	//     "becameUnused": 2
	//   },
	//   "entities": [
	//     {
	//       "entityId": "ou-ex12-prod0001",
	//       "path": "o-exampleorg1/r-ex12/ou-ex12-prod0001",
	//       "policyId": null,
	//       "newlyAccessed": [
	//         "lambda"
	//       ],
	//       "becameUnused": [
	//         "athena",
	//         "sagemaker"
	//       ]
	//     }
	//   ]
	// }
}

func TestDiffExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"diff", "--help"}, exitOK},
		{"one run", []string{"diff", "--out", "testdata", "--prefix", "", "20261124T030000Z"}, exitUsage},
		{"bad flag", []string{"diff", "--nope", "a", "b"}, exitUsage},
		{"unknown run", []string{"diff", "--out", "testdata", "--prefix", "", "20261124T030000Z", "20991231T000000Z"}, exitFailure},
		{"run id leaving the store", []string{"diff", "--out", "testdata", "--prefix", "", "../runs", "20261124T030000Z"}, exitFailure},
		{"flags after the runs", []string{"diff", "20261124T030000Z", "20261125T030000Z", "--out", "testdata", "--prefix", "", "--json"}, exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := dispatch(context.Background(), tc.args, &out, &errb); got != tc.want {
				t.Errorf("Got(exit of %q) = %d; want %d\nstderr: %s", tc.args, got, tc.want, errb.String())
			}
			if tc.want == exitOK && tc.name != "help" {
				var ch reportdoc.Changes
				if err := json.Unmarshal(out.Bytes(), &ch); err != nil || ch.PreviousRunID != "20261124T030000Z" {
					t.Errorf("Got(--json output) = %s (%v); want the changes from 20261124T030000Z", out.String(), err)
				}
			}
		})
	}
}
