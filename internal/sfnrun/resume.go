package sfnrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/runinput"
)

// A run is resumed by a new execution of the same input named
// "<run id>-resume-<UTC time>": execution names stay taken for 90 days, and
// the Start function resumes a run id that has a manifest.
const resumeInfix = "-resume-"

// ResumeName is the name of an execution that resumes runID at now.
func ResumeName(runID string, now time.Time) (string, error) {
	name := runID + resumeInfix + now.UTC().Format("20060102T150405Z")
	if len(name) > 80 {
		return "", fmt.Errorf("run id %q is too long for a resuming execution's name (80 characters); start an execution with input {\"runId\": %q} instead", runID, runID)
	}
	return name, nil
}

// RunIDOfName is the run id an execution name stands for: the name, less a
// ResumeName suffix.
func RunIDOfName(name string) string {
	if i := strings.LastIndex(name, resumeInfix); i > 0 {
		if _, err := time.Parse("20060102T150405Z", name[i+len(resumeInfix):]); err == nil {
			return name[:i]
		}
	}
	return name
}

// ResumeInput is the input of an execution that resumes runID: the
// input of the execution that started it, with runId set, so that the
// settings the Start function checks against the manifest are the same.
func ResumeInput(input, runID string) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if trimmed := bytes.TrimSpace([]byte(input)); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("the input of run %s is not a JSON object: %v", runID, err)
		}
	}
	id, _ := json.Marshal(runID)
	m["runId"] = id
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := runinput.ValidRunID(runID); err != nil {
		return nil, err
	}
	return b, nil
}

// Latest returns the newest execution of runID among the newest
// executions of the state machine: the one named runID or one resuming it.
// Older than those listed, it describes the execution named runID.
func Latest(ctx context.Context, api API, smARN, runID string) (*Execution, error) {
	recent, err := List(ctx, api, smARN, "", 1000)
	if err != nil {
		return nil, err
	}
	for _, e := range recent {
		if e.Name == runID || RunIDOfName(e.Name) == runID {
			return Describe(ctx, api, e.ARN)
		}
	}
	arn, err := ExecutionARN(smARN, runID)
	if err != nil {
		return nil, err
	}
	return Describe(ctx, api, arn)
}
