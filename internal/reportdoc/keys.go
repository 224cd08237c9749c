package reportdoc

import (
	"fmt"
	"time"
)

// Keys below are relative to the configured prefix (ORGAUDIT_PREFIX); the
// storage layer adds it.

// LatestKey is the key of latest.json.
const LatestKey = "latest.json"

// RunDir is the folder of one run.
func RunDir(runID string) string { return "runs/" + runID + "/" }

// ManifestKey is the key of a run's manifest.
func ManifestKey(runID string) string { return RunDir(runID) + "manifest.json" }

// SummaryKey is the key of a run's summary.
func SummaryKey(runID string) string { return RunDir(runID) + "summary.json" }

// FindingsKey is the key of a run's findings (unused services and SCP
// suggestions per entity).
func FindingsKey(runID string) string { return RunDir(runID) + "findings.json" }

// HTMLKey is the key of a run's self-contained HTML report.
func HTMLKey(runID string) string { return RunDir(runID) + "report.html" }

// ReportKey is the key of one entity's report; policyID is empty for an
// entity report without a policy.
func ReportKey(runID, entityID, policyID string) string {
	if policyID == "" {
		return RunDir(runID) + "reports/" + entityID + ".json"
	}
	return RunDir(runID) + "reports/" + entityID + "." + policyID + ".json"
}

// AccessPartKey is the key of the n-th Athena part file of a run; day is the
// run's UTC date.
func AccessPartKey(day time.Time, runID string, n int) string {
	return fmt.Sprintf("access/dt=%s/run=%s/part-%05d.jsonl.gz", day.UTC().Format("2006-01-02"), runID, n)
}

// PoliciesKey is the key of a run's policies document: every SCP attached in
// scope, its content and where it is attached (package policyset).
func PoliciesKey(runID string) string { return RunDir(runID) + "policies.json" }
