package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// TestStartWaitAndOneRunAtATime drives the stack as a user does after
// `sam deploy`: `orgaudit start --wait` starts an execution through the
// Step Functions API and follows it to the summary; while it runs, a
// second `orgaudit start` is refused, and an execution started past the
// CLI (as the schedule or the console would) ends at Start with
// AlreadyRunning and writes nothing.
func TestStartWaitAndOneRunAtATime(t *testing.T) {
	bin := build(t)
	st := deploy(t, stackOptions{orgFile: orgFile, timeScale: "0.1"})
	env := append(baseEnv(),
		"AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID="+simKey.id, "AWS_SECRET_ACCESS_KEY="+simKey.secret,
		"AWS_ENDPOINT_URL="+st.simURL,
		"AWS_ENDPOINT_URL_S3="+st.s3URL,
		"AWS_ENDPOINT_URL_SFN="+st.statesURL,
	)
	target := []string{"--state-machine", st.states.stateMachineARN, "--bucket", st.bucket, "--prefix", st.prefix}
	const runID = "e2e-start-wait"

	first := exec.Command(bin.orgaudit, append([]string{"start", "--run-id", runID, "--include-accounts", "--wait", "--poll", "1s", "--progress", "log"}, target...)...)
	first.Env = env
	var firstOut, firstErr bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var firstWait error
	firstDone := make(chan struct{})
	go func() { firstWait = first.Wait(); close(firstDone) }()
	t.Cleanup(func() {
		select {
		case <-firstDone:
		default:
			first.Process.Kill()
			<-firstDone
		}
	})

	// Once the first run has its manifest, its Start is behind it.
	manifestKey := st.prefix + reportdoc.ManifestKey(runID)
	deadline := time.Now().Add(60 * time.Second)
	for !contains(st.bucketObjects(t), manifestKey) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 60 s\nstdout:\n%s\nstderr:\n%s", manifestKey, firstOut.String(), firstErr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	second := exec.Command(bin.orgaudit, append([]string{"start", "--run-id", "e2e-second"}, target...)...)
	second.Env = env
	out, err := second.CombinedOutput()
	if code, _ := exitCode(err); code != 1 || !strings.Contains(string(out), "run "+runID+" is still running") {
		t.Errorf("Got(second start) exit %d, %q; want 1 naming run %s", code, out, runID)
	}

	// Past the CLI: the Start function checks for itself.
	client := sfn.New(sfn.Options{Region: region, BaseEndpoint: aws.String(st.statesURL),
		Credentials: credentials.NewStaticCredentialsProvider(simKey.id, simKey.secret, "")})
	ctx := context.Background()
	started, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(st.states.stateMachineARN), Name: aws.String("e2e-bypass"), Input: aws.String("{}")})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	var bypass *sfn.DescribeExecutionOutput
	for {
		bypass, err = client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: started.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		if bypass.Status != "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bypassing execution did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if bypass.Status != "FAILED" || aws.ToString(bypass.Error) != "AlreadyRunning" || !strings.Contains(aws.ToString(bypass.Cause), "run "+runID+" is still running") {
		t.Errorf("Got(bypassing execution) %s %s: %s; want FAILED AlreadyRunning naming run %s", bypass.Status, aws.ToString(bypass.Error), aws.ToString(bypass.Cause), runID)
	}

	select {
	case <-firstDone:
		err = firstWait
	case <-time.After(executionTimeout):
		t.Fatalf("start --wait did not return\nstdout:\n%s\nstderr:\n%s", firstOut.String(), firstErr.String())
	}
	if code, _ := exitCode(err); code != 0 {
		t.Fatalf("Got(start --wait) exit %d; want 0\nstdout:\n%s\nstderr:\n%s", code, firstOut.String(), firstErr.String())
	}
	for _, key := range st.bucketObjects(t) {
		if strings.Contains(key, "e2e-bypass") || strings.Contains(key, "e2e-second") {
			t.Errorf("Got(%s); want nothing written for a run refused as AlreadyRunning", key)
		}
	}

	w := want{runID: runID, input: runInput{IncludeAccounts: true}, status: reportdoc.RunSucceeded, unusedDays: unusedDefault(t, st)}
	st.verifyRun(t, w)

	// What start --wait printed: the run's summary, as run prints it.
	var sum reportdoc.Summary
	if err := json.Unmarshal(st.get(t, st.prefix+reportdoc.SummaryKey(runID)), &sum); err != nil {
		t.Fatal(err)
	}
	stdout := firstOut.String()
	for _, line := range []string{
		"Started run " + runID,
		fmt.Sprintf("Run %s of %s: %s", runID, sum.OrganizationID, reportdoc.RunSucceeded),
		"ENTITIES  SUCCEEDED  FAILED",
		fmt.Sprintf("Report:  s3://%s/%s%s", st.bucket, st.prefix, reportdoc.HTMLKey(runID)),
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("Got(start --wait output) without %q:\n%s", line, stdout)
		}
	}
	f, j := sum.Freshness, sum.Jobs
	if !strings.Contains(stdout, fmt.Sprintf("\n%-8d  %-9d  %-6d  %-5d  %-9d  %-5d  %d\n", sum.Entities.Total, sum.Entities.Succeeded, sum.Entities.Failed,
		f.Fresh, f.Unchanged, f.Stale, j.Root+j.OUs+j.Accounts)) {
		t.Errorf("Got(start --wait output) without the counts %d %d %d %+v %+v:\n%s", sum.Entities.Total, sum.Entities.Succeeded, sum.Entities.Failed, f, j, stdout)
	}
	// The progress lines come from the run's manifest, as run shows them.
	if want := fmt.Sprintf("progress: %d/%d done", sum.Entities.Total, sum.Entities.Total); !strings.Contains(firstErr.String(), want) {
		t.Errorf("Got(start --wait progress) without %q:\n%s", want, firstErr.String())
	}
}

func contains(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}
