package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/motoserver"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// motoStackTemplate is a stack with the outputs `--stack` reads: a state
// machine (moto keeps its executions RUNNING until they are stopped) and a
// bucket.
const motoStackTemplate = `{
  "Resources": {
    "Auditor": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
      "StateMachineName": "orgaudit-auditor",
      "DefinitionString": "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}",
      "RoleArn": "arn:aws:iam::123456789012:role/orgaudit-states"}},
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "orgaudit-moto-audit"}}
  },
  "Outputs": {
    "StateMachineArn": {"Value": {"Ref": "Auditor"}},
    "BucketName": {"Value": {"Ref": "Bucket"}}
  }
}`

// motoStack deploys motoStackTemplate on moto_server, points this
// process's AWS environment at it, uploads the testdata runs to the
// bucket under prefix, and returns the state machine ARN.
func motoStack(t *testing.T, prefix string) (url, smARN string) {
	t.Helper()
	url = motoserver.Start(t)
	setAWSEnv(t, url, "test", "test")
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = logging.Nop{}
	cfn := cloudformation.NewFromConfig(cfg)
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("orgaudit"), TemplateBody: aws.String(motoStackTemplate)}); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("orgaudit")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Stacks[0].Outputs {
		if aws.ToString(o.OutputKey) == "StateMachineArn" {
			smARN = aws.ToString(o.OutputValue)
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "orgaudit-moto-audit"
	err = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		key := prefix + filepath.ToSlash(strings.TrimPrefix(p, "testdata"+string(filepath.Separator)))
		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return url, smARN
}

func TestStartStatusRunsAgainstMoto(t *testing.T) {
	const prefix = "orgaudit/"
	url, smARN := motoStack(t, prefix)
	stack := []string{"--stack", "orgaudit", "--prefix", prefix}

	// A stored run's id: starting it gives an execution whose summary the
	// bucket already holds (moto runs nothing itself).
	code, stdout, stderr := runCLI(t, append([]string{"start", "--run-id", "20261125T030000Z", "--unused-days", "30"}, stack...)...)
	if code != exitOK {
		t.Fatalf("start: exit %d\n%s%s", code, stdout, stderr)
	}
	execARN := "arn:aws:states:us-east-1:123456789012:execution:orgaudit-auditor:20261125T030000Z"
	if !strings.Contains(stdout, "execution: "+execARN) ||
		!strings.Contains(stdout, "console:   https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/"+execARN) {
		t.Errorf("start printed %q; want the execution ARN %s and its console URL", stdout, execARN)
	}

	// The AWS CLI reads back what start created.
	cli := exec.Command("aws", "stepfunctions", "describe-execution", "--execution-arn", execARN, "--endpoint-url", url, "--region", "us-east-1", "--output", "json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_PROFILE=") { // empty: the CLI looks for a profile named ""
			cli.Env = append(cli.Env, kv)
		}
	}
	var cliErr bytes.Buffer
	cli.Stderr = &cliErr
	raw, err := cli.Output()
	if err != nil {
		raw = append(raw, cliErr.Bytes()...)
		t.Fatalf("aws stepfunctions describe-execution: %v\n%s", err, raw)
	}
	var desc struct {
		ExecutionArn, StateMachineArn, Name, Status, Input string
	}
	if err := json.Unmarshal(raw, &desc); err != nil {
		t.Fatal(err)
	}
	if desc.ExecutionArn != execARN || desc.StateMachineArn != smARN || desc.Name != "20261125T030000Z" || desc.Status != "RUNNING" {
		t.Errorf("describe-execution = %+v; want RUNNING %s of %s", desc, execARN, smARN)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(desc.Input), &input); err != nil {
		t.Fatalf("execution input %q: %v", desc.Input, err)
	}
	if len(input) != 2 || input["runId"] != "20261125T030000Z" || input["unusedDays"] != 30.0 {
		t.Errorf("execution input = %s; want exactly the run id and the flag given", desc.Input)
	}

	// One run at a time: a second start is refused before it starts.
	code, _, stderr = runCLI(t, append([]string{"start", "--run-id", "second"}, stack...)...)
	if code != exitFailure || !strings.Contains(stderr, "run 20261125T030000Z is still running") || !strings.Contains(stderr, "nothing started") {
		t.Errorf("second start: exit %d, %q; want 1 naming the running run", code, stderr)
	}
	// The same run id: the existing execution is reported.
	code, _, stderr = runCLI(t, append([]string{"start", "--run-id", "20261125T030000Z"}, stack...)...)
	if code != exitFailure || !strings.Contains(stderr, "run 20261125T030000Z already has an execution, RUNNING") || !strings.Contains(stderr, execARN) {
		t.Errorf("start of an existing run id: exit %d, %q; want 1 naming the existing execution", code, stderr)
	}

	// runs joins the execution with the stored summary.
	code, stdout, stderr = runCLI(t, append([]string{"runs", "--json"}, stack...)...)
	if code != exitOK {
		t.Fatalf("runs: exit %d\n%s", code, stderr)
	}
	var rows []runRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, stdout)
	}
	sum := readSummary(t, "testdata", "20261125T030000Z")
	if len(rows) != 1 || rows[0].RunID != "20261125T030000Z" || rows[0].ExecutionStatus != "RUNNING" ||
		rows[0].Entities == nil || *rows[0].Entities != sum.Entities.Total || *rows[0].Failed != sum.Entities.Failed {
		t.Errorf("runs --json = %s; want the one execution with the summary's %d entities, %d failed", stdout, sum.Entities.Total, sum.Entities.Failed)
	}
	code, stdout, _ = runCLI(t, append([]string{"runs"}, stack...)...)
	if code != exitOK || !regexp.MustCompile(`(?m)^RUN ID\s+STATUS\s+ENTITIES\s+FAILED\s+STARTED\s+DURATION\n20261125T030000Z\s+RUNNING\s+\d+\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\S+\n$`).MatchString(stdout) {
		t.Errorf("runs table = %q; want a header and one row", stdout)
	}

	// status --once of a running execution: exit 0.
	code, _, stderr = runCLI(t, append([]string{"status", "--once"}, stack...)...)
	if code != exitOK || !strings.Contains(stderr, "Run 20261125T030000Z: execution RUNNING") {
		t.Errorf("status --once: exit %d, %q; want 0 and the running execution", code, stderr)
	}

	// Once stopped, status prints the failure line and the stored summary
	// as run prints it, and exits 1.
	cfg, _ := awsconfig.LoadDefaultConfig(context.Background())
	cfg.Logger = logging.Nop{}
	if _, err := sfn.NewFromConfig(cfg).StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(execARN), Error: aws.String("Stopped"), Cause: aws.String("stopped by hand")}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, append([]string{"status", "20261125T030000Z", "--poll", "1s", "--progress", "none"}, stack...)...)
	if code != exitFailure || !strings.Contains(stderr, "Execution 20261125T030000Z ABORTED") {
		t.Errorf("status of the stopped execution: exit %d, %q; want 1 and the ABORTED line", code, stderr)
	}
	var want bytes.Buffer
	printSummary(&want, sum, objstore.NewS3(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), "orgaudit-moto-audit", prefix), 90)
	if !strings.Contains(want.String(), "\nRun 20261125T030000Z of "+sum.OrganizationID+": "+sum.Status) || stdout != want.String() {
		t.Errorf("status printed\n%s\nwant the run's summary as run prints it:\n%s", stdout, want.String())
	}
	if !strings.Contains(stdout, "Report:  s3://orgaudit-moto-audit/"+prefix+reportdoc.HTMLKey("20261125T030000Z")) {
		t.Errorf("status printed %q; want the report's S3 location", stdout)
	}

	// The stopped run goes on in a new execution with the same input.
	code, stdout, stderr = runCLI(t, append([]string{"start", "--resume", "20261125T030000Z"}, stack...)...)
	if code != exitOK || !strings.Contains(stdout, "Started run 20261125T030000Z") || !strings.Contains(stderr, "Resuming run 20261125T030000Z (execution 20261125T030000Z ABORTED") {
		t.Fatalf("start --resume: exit %d, %q %q; want 0", code, stdout, stderr)
	}
	resumed := regexp.MustCompile(`execution: (\S+:20261125T030000Z-resume-\d{8}T\d{6}Z)\n`).FindStringSubmatch(stdout)
	if resumed == nil {
		t.Fatalf("start --resume printed %q; want an execution named 20261125T030000Z-resume-<time>", stdout)
	}
	rd, err := sfn.NewFromConfig(cfg).DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(resumed[1])})
	if err != nil {
		t.Fatal(err)
	}
	if in := aws.ToString(rd.Input); in != `{"runId":"20261125T030000Z","unusedDays":30}` {
		t.Errorf("resuming execution's input = %s; want the first execution's", in)
	}
	code, _, stderr = runCLI(t, append([]string{"status", "20261125T030000Z", "--once"}, stack...)...)
	if code != exitOK || !strings.Contains(stderr, "Run 20261125T030000Z: execution RUNNING") {
		t.Errorf("status of the resumed run: exit %d, %q; want its newest execution, RUNNING", code, stderr)
	}
	code, stdout, _ = runCLI(t, append([]string{"runs", "--json"}, stack...)...)
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || code != exitOK || len(rows) != 2 || rows[0].RunID != "20261125T030000Z" || rows[0].ExecutionArn != resumed[1] || rows[1].RunID != "20261125T030000Z" {
		t.Errorf("runs --json after the resume = %s; want both executions under the run id", stdout)
	}
	if _, err := sfn.NewFromConfig(cfg).StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(resumed[1])}); err != nil {
		t.Fatal(err)
	}

	// Now a new run may start, by ARN this time.
	code, stdout, stderr = runCLI(t, "start", "--state-machine", smARN, "--run-id", "second")
	if code != exitOK || !strings.Contains(stdout, "Started run second") {
		t.Errorf("start after the first ended: exit %d, %q %q; want 0", code, stdout, stderr)
	}
}

func TestStartErrors(t *testing.T) {
	url := motoserver.Start(t)
	setAWSEnv(t, url, "test", "test")
	missing := "arn:aws:states:us-east-1:123456789012:stateMachine:nowhere"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", []string{"start"}, exitUsage, "--stack NAME"},
		{"both targets", []string{"start", "--stack", "a", "--state-machine", missing}, exitUsage, "give one"},
		{"bad ARN", []string{"start", "--state-machine", "orgaudit-auditor"}, exitUsage, "not a state machine ARN"},
		{"bad unused days", []string{"start", "--state-machine", missing, "--unused-days", "0"}, exitUsage, "--unused-days: 0 is out of range 1..400"},
		{"bad path", []string{"start", "--state-machine", missing, "--entity-path", "o-x/r-y"}, exitUsage, "--entity-path: "},
		{"bad run id", []string{"start", "--state-machine", missing, "--run-id", "a/b"}, exitUsage, "--run-id: "},
		{"missing state machine", []string{"start", "--state-machine", missing}, exitFailure, "state machine " + missing + " does not exist"},
		{"missing stack", []string{"start", "--stack", "nowhere"}, exitFailure, `stack "nowhere" does not exist`},
		{"status of a missing state machine", []string{"status", "r1", "--state-machine", missing}, exitFailure, "state machine " + missing + " does not exist"},
		{"resume with run flags", []string{"start", "--state-machine", missing, "--resume", "r1", "--unused-days", "3"}, exitUsage, "it takes no --unused-days"},
		{"resume with a budget", []string{"start", "--state-machine", missing, "--resume", "r1", "--max-run-minutes", "30"}, exitUsage, "it takes no --max-run-minutes"},
		{"resume of no execution", []string{"start", "--state-machine", missing, "--resume", "r1"}, exitFailure, "does not exist"},
		{"runs bad limit", []string{"runs", "--state-machine", missing, "--limit", "0"}, exitUsage, "--limit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("orgaudit %v: exit %d, %q; want %d containing %q", tt.args, code, stderr, tt.code, tt.want)
			}
		})
	}
}
