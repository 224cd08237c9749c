package reportdoc

// Changes is the "changes" section of a summary: what moved between the
// previous finished run and this one, per entity report. A service is newly
// accessed when it was never accessed, unused (not accessed within the unused
// threshold) or not listed in the previous run, and is accessed within the
// threshold now. It became unused when it was accessed within the threshold
// in the previous run, is still listed, and is not accessed within the
// threshold now. Both runs are judged with this run's threshold, each from
// its own as-of instant.
type Changes struct {
	PreviousRunID string          `json:"previousRunId"`
	UnusedDays    int             `json:"unusedDays"`
	Totals        ChangeTotals    `json:"totals"`
	Entities      []EntityChanges `json:"entities"`
}

// ChangeTotals counts the changes of a run.
type ChangeTotals struct {
	// Compared counts the entity reports that succeeded in both runs.
	Compared int `json:"compared"`
	// New counts the entity reports that succeeded now but not in the
	// previous run (a new OU, or one that failed before).
	New int `json:"new"`
	// Changed counts the compared entity reports with at least one change.
	Changed       int `json:"changed"`
	NewlyAccessed int `json:"newlyAccessed"`
	BecameUnused  int `json:"becameUnused"`
}

// EntityChanges lists the changed services of one entity report, as
// namespaces sorted ascending. Only entity reports with a change appear.
type EntityChanges struct {
	EntityID      string   `json:"entityId"`
	Path          string   `json:"path"`
	PolicyID      *string  `json:"policyId"`
	NewlyAccessed []string `json:"newlyAccessed"`
	BecameUnused  []string `json:"becameUnused"`
}
