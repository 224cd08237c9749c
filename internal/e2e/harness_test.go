package e2e

import (
	"maps"
	"net/http"
	"strings"
	"testing"
)

// TestLambdaResult pins how the front turns the emulator's answers into
// Lambda's: only an error document, a timeout or a failed runtime is a
// function error.
func TestLambdaResult(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantErr   string // X-Amz-Function-Error
		wantType  string // errorType in the result, when an error
		wantBody  string // the result, when not an error
		wantInMsg string
	}{
		{name: "result", status: 200, body: `{"runId":"r","done":false}`, wantBody: `{"runId":"r","done":false}`},
		{name: "handler error", status: 200, body: `{"errorMessage":"invalid input: unusedDays","errorType":"InvalidInput"}`,
			wantErr: "Unhandled", wantType: "InvalidInput", wantInMsg: "unusedDays"},
		{name: "error with stack trace", status: 200, body: `{"errorMessage":"m","errorType":"T","stackTrace":[]}`,
			wantErr: "Unhandled", wantType: "T", wantInMsg: "m"},
		{name: "result that mentions errorType", status: 200, body: `{"errorType":"x","errorMessage":"y","runId":"r"}`,
			wantBody: `{"errorType":"x","errorMessage":"y","runId":"r"}`},
		{name: "timeout", status: 200, body: "Task timed out after 3.00 seconds",
			wantErr: "Unhandled", wantType: "Sandbox.Timedout", wantInMsg: "3.00 seconds"},
		{name: "runtime exited", status: http.StatusBadGateway,
			body:    `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: 7a4b Error: Runtime exited with error: signal: killed"}`,
			wantErr: "Unhandled", wantType: "Runtime.ExitError", wantInMsg: "signal: killed"},
		{name: "emulator failure without a document", status: http.StatusInternalServerError, body: "",
			wantErr: "Unhandled", wantType: "Runtime.ExitError", wantInMsg: "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fnErr := lambdaResult(tt.status, []byte(tt.body))
			if fnErr != tt.wantErr {
				t.Errorf("Got(function error) = %q; want %q", fnErr, tt.wantErr)
			}
			if tt.wantErr == "" {
				if string(got) != tt.wantBody {
					t.Errorf("Got(result) = %s; want %s", got, tt.wantBody)
				}
				return
			}
			if !strings.Contains(string(got), `"errorType":"`+tt.wantType+`"`) || !strings.Contains(string(got), tt.wantInMsg) {
				t.Errorf("Got(error document) = %s; want errorType %s and a message with %q", got, tt.wantType, tt.wantInMsg)
			}
		})
	}
}

// TestFunctionEnvironment checks that the harness gives each function what
// template.yaml gives it, for the defaults and for parameter overrides as a
// deployment would pass them.
func TestFunctionEnvironment(t *testing.T) {
	tp, err := loadTemplate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{
		"ORGAUDIT_BUCKET":               testBucket,
		"ORGAUDIT_PREFIX":               "orgaudit/",
		"ORGAUDIT_REPORT_ROLE_ARN":      "arn:aws:iam::111111111111:role/orgaudit-ReportRole-E2E0TEST",
		"ORGAUDIT_REPORT_ROLE_SESSION":  "orgaudit",
		"ORGAUDIT_UNUSED_DAYS":          "90",
		"ORGAUDIT_MAX_CONCURRENT_JOBS":  "1",
		"ORGAUDIT_INCLUDE_ACCOUNTS":     "false",
		"ORGAUDIT_INCLUDE_POLICIES":     "false",
		"ORGAUDIT_MAX_RUN_MINUTES":      "360",
		"ORGAUDIT_ACCOUNT_REFRESH_DAYS": "7",
	}
	overridden := maps.Clone(defaults)
	overridden["ORGAUDIT_BUCKET"] = "existing-bucket"
	overridden["ORGAUDIT_REPORT_ROLE_ARN"] = "arn:aws:iam::222222222222:role/audit"
	overridden["ORGAUDIT_INCLUDE_ACCOUNTS"] = "true"
	tests := []struct {
		name   string
		params map[string]string
		want   map[string]string
	}{
		{"defaults", nil, defaults},
		{"overrides", map[string]string{"BucketName": "existing-bucket", "ReportRoleArn": "arn:aws:iam::222222222222:role/audit", "IncludeAccounts": "true"}, overridden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &deployment{tp: tp, params: tt.params, account: "111111111111", region: region, bucket: testBucket, stackName: stackName}
			fns := tp.functions()
			if len(fns) != 3 {
				t.Fatalf("Got(functions) = %v; want Start, Check and Store", fns)
			}
			for _, id := range fns {
				fc, err := d.function(id)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(fc.Env, tt.want) {
					t.Errorf("Got(%s environment) = %v; want %v", id, fc.Env, tt.want)
				}
				props, _ := tp.resource(id)["Properties"].(map[string]any)
				if fc.Timeout != scalar(props["Timeout"]) || fc.MemorySize != scalar(props["MemorySize"]) {
					t.Errorf("Got(%s timeout, memory) = %s, %s; want the template's %v, %v", id, fc.Timeout, fc.MemorySize, props["Timeout"], props["MemorySize"])
				}
			}
			subs, err := d.substitutions()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range fns {
				if got := subs[id+"Arn"]; got != d.functionARN(id) {
					t.Errorf("Got(substitution %sArn) = %q; want %q", id, got, d.functionARN(id))
				}
			}
		})
	}
}
