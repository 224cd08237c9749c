package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orgaudit/orgaudit/internal/deploytest"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

const (
	region    = "us-east-1"
	stackName = "orgaudit"
	// testBucket is the bucket the stack "creates" (BucketName empty).
	testBucket = "orgaudit-e2e-audit"
	// simTimeScale makes the simulator's report jobs (about 2-11 s) take 20-110 ms.
	simTimeScale = "0.01"
	// waitMillis replaces the Wait state's waitSeconds, and retryMillis
	// every Retry interval: the loop and the retries run as defined, only
	// faster.
	waitMillis  = 50
	retryMillis = 100
	// executionTimeout bounds one execution on local-sfn.
	executionTimeout = 90 * time.Second
)

// stackOptions describe one local deployment.
type stackOptions struct {
	orgFile string
	simArgs []string          // extra `orgaudit sim` flags (faults, throttling)
	params  map[string]string // template parameter overrides
	motoS3  bool              // S3 on moto_server instead of the simulator
	// echo runs the echo function in place of every function (the wiring
	// test).
	echo bool
	// timeouts overrides function timeouts (logical id -> seconds), to
	// bound steps more tightly than the template does.
	timeouts map[string]string
	// timeScale overrides simTimeScale.
	timeScale string
	// s3Faults puts a proxy between the functions and the simulator's S3
	// that can be told to fail manifest writes.
	s3Faults bool
	// functionKey, when set, is the access key the functions are given in
	// place of the simulator's test/test: a key no other string resembles,
	// so that it can be looked for in their logs. The simulator learns it
	// through --credentials, as a user of the management account.
	functionKey *accessKey
	// tapAWS puts a credentialTap between the functions and the simulator
	// (S3 included, unless s3Faults or motoS3 takes it).
	tapAWS bool
}

// accessKey is a long-term AWS access key.
type accessKey struct {
	id, secret string
}

// simKey is the simulator's default key, the management account's
// administrator.
var simKey = accessKey{id: "test", secret: "test"}

// stack is orgaudit deployed on this machine: the simulator (and moto),
// one runtime emulator per function, a Lambda Invoke API in front of them,
// and the rendered state machine definition.
type stack struct {
	org        *orgmodel.Org
	simFlags   []string // the scenario's extra simulator flags
	simURL     string
	s3URL      string
	bucket     string
	prefix     string
	unusedDays string
	functions  map[string]functionConfig
	emulators  map[string]*proc // logical id -> its runtime emulator
	faults     *s3Faults        // with stackOptions.s3Faults
	tap        *credentialTap   // with stackOptions.tapAWS
	key        accessKey        // the functions' own credentials
	front      *lambdaFront
	frontURL   string
	states     *statesFront // the Step Functions API of the stack
	statesURL  string
	definition string // rendered definition file
	s3         *s3.Client
}

// deploy starts a stack for one test; everything stops when the test ends.
func deploy(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	bin := build(t)
	var moto string
	if opts.motoS3 {
		moto = motoServer(t)
	}
	orgFile := opts.orgFile
	if !filepath.IsAbs(orgFile) {
		orgFile = filepath.Join(repoRoot, orgFile)
	}
	org, err := orgmodel.LoadFile(orgFile)
	if err != nil {
		t.Fatalf("load %s: %v", orgFile, err)
	}
	st := &stack{org: org, bucket: testBucket, simFlags: opts.simArgs, key: simKey}

	timeScale := simTimeScale
	if opts.timeScale != "" {
		timeScale = opts.timeScale
	}
	simArgs := []string{bin.orgaudit, "sim", "--listen", "127.0.0.1:0", "--org", orgFile, "--time-scale", timeScale, "--log-level", "warn"}
	if !opts.motoS3 {
		simArgs = append(simArgs, "--bucket", testBucket)
	}
	if opts.functionKey != nil {
		st.key = *opts.functionKey
		simArgs = append(simArgs, "--credentials", writeCredentials(t, st.key, org.ManagementAccountID))
	}
	sim := startProc(t, "orgaudit sim", baseEnv(), append(simArgs, opts.simArgs...)...)
	st.simURL = waitLine(t, sim, "orgaudit simulator listening on ", 20*time.Second)
	st.s3URL = st.simURL

	if opts.motoS3 {
		addr := freeAddr(t)
		host, port, _ := strings.Cut(addr, ":")
		m := startProc(t, "moto_server", baseEnv(), moto, "-H", host, "-p", port)
		waitTCP(t, m, addr, 30*time.Second)
		st.s3URL = "http://" + addr
	}
	st.s3 = s3.New(s3.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(simKey.id, simKey.secret, ""),
		BaseEndpoint: aws.String(st.s3URL),
		UsePathStyle: true,
	})
	if opts.motoS3 {
		if _, err := st.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
			t.Fatalf("create bucket on moto_server: %v", err)
		}
	}

	tp, err := loadTemplate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{tp: tp, params: opts.params, account: org.ManagementAccountID, region: region, bucket: testBucket, stackName: stackName}
	st.prefix, _ = d.param("Prefix")
	st.unusedDays, _ = d.param("UnusedDays")

	functionsAWS, functionsS3 := st.simURL, s3Override(opts.motoS3, st.s3URL)
	if opts.tapAWS {
		target, err := url.Parse(st.simURL)
		if err != nil {
			t.Fatal(err)
		}
		st.tap = &credentialTap{target: target}
		srv := httptest.NewServer(st.tap)
		t.Cleanup(srv.Close)
		functionsAWS = srv.URL
	}
	if opts.s3Faults {
		target, err := url.Parse(st.s3URL)
		if err != nil {
			t.Fatal(err)
		}
		st.faults = &s3Faults{target: target}
		srv := httptest.NewServer(st.faults)
		t.Cleanup(srv.Close)
		functionsS3 = srv.URL
	}

	st.states = &statesFront{st: st, stateMachineARN: fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s-auditor", region, org.ManagementAccountID, stackName)}
	statesSrv := httptest.NewServer(st.states)
	t.Cleanup(st.states.wait)
	t.Cleanup(statesSrv.Close)
	st.statesURL = statesSrv.URL

	st.front = &lambdaFront{routes: map[string]string{}}
	st.functions = map[string]functionConfig{}
	st.emulators = map[string]*proc{}
	for _, id := range tp.functions() {
		fc, err := d.function(id)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := opts.timeouts[id]; ok {
			fc.Timeout = v
		}
		st.functions[id] = fc
		bootstrap := bin.bootstraps[id]
		if opts.echo {
			bootstrap = bin.echo
		}
		invokeURL, p := startFunction(t, bin.rie, bootstrap, fc, st.key, functionsAWS, functionsS3, st.statesURL)
		st.front.routes[fc.Name] = invokeURL
		st.emulators[id] = p
	}
	srv := httptest.NewServer(st.front)
	t.Cleanup(srv.Close)
	st.frontURL = srv.URL

	subs, err := d.substitutions()
	if err != nil {
		t.Fatal(err)
	}
	uri, err := tp.definitionPath()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, uri))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := deploytest.RenderDefinition(raw, subs)
	if err != nil {
		t.Fatalf("render %s: %v", uri, err)
	}
	st.definition = filepath.Join(t.TempDir(), "auditor.asl.json")
	if err := os.WriteFile(st.definition, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	return st
}

func s3Override(moto bool, url string) string {
	if moto {
		return url
	}
	return ""
}

// baseEnv is the environment of every process the tests start: a PATH and
// nothing of the developer's AWS setup.
func baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"TZ=:UTC",
	}
}

// startFunction runs one function's bootstrap under the Lambda Runtime
// Interface Emulator with the template's environment and the AWS settings
// Lambda would give it (region, key's credentials), its endpoints pointed at
// awsURL (S3 at s3URL when set, Step Functions at statesURL), and returns
// its invoke URL.
func startFunction(t *testing.T, rie, bootstrap string, fc functionConfig, key accessKey, awsURL, s3URL, statesURL string) (string, *proc) {
	t.Helper()
	env := baseEnv()
	// Lambda's own variables; the emulator reads the timeout from here.
	env = append(env,
		"AWS_LAMBDA_FUNCTION_NAME="+fc.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+fc.Timeout,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+fc.MemorySize,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_REGION="+region, "AWS_DEFAULT_REGION="+region,
		"AWS_ACCESS_KEY_ID="+key.id, "AWS_SECRET_ACCESS_KEY="+key.secret,
		"AWS_ENDPOINT_URL="+awsURL,
	)
	if s3URL != "" {
		env = append(env, "AWS_ENDPOINT_URL_S3="+s3URL)
	}
	if statesURL != "" {
		env = append(env, "AWS_ENDPOINT_URL_SFN="+statesURL)
	}
	for k, v := range fc.Env {
		env = append(env, k+"="+v)
	}
	// The emulator cannot pick its own ports: a port found free may be
	// taken before it binds, so try again with others.
	for attempt := 1; ; attempt++ {
		addr, apiAddr := freeAddr(t), freeAddr(t)
		p := startProc(t, fc.LogicalID+" (aws-lambda-rie)", env, rie,
			"--runtime-interface-emulator-address", addr,
			"--runtime-api-address", apiAddr,
			bootstrap)
		if err := dialUntil(p, addr, 20*time.Second); err != nil {
			if p.exited() && attempt < 3 {
				t.Logf("%s exited at start (%v); trying other ports", p.name, err)
				continue
			}
			t.Fatal(err)
		}
		return "http://" + addr + "/2015-03-31/functions/function/invocations", p
	}
}

// invocation is one Invoke the front passed to a function.
type invocation struct {
	Function      string // physical function name
	Payload       json.RawMessage
	Response      json.RawMessage
	FunctionError string // "Unhandled" for a function error
}

// lambdaFront serves the Lambda Invoke API (POST
// /2015-03-31/functions/{FunctionName}/invocations) for the functions of a
// stack, passing each call to the function's runtime emulator. The emulator
// answers a function error with status 200 and the error document but
// without Lambda's X-Amz-Function-Error header; the front adds it, so the
// state machine runner sees the errorType as Step Functions does.
type lambdaFront struct {
	routes map[string]string // function name -> emulator invoke URL
	// before, when set, runs before each invocation is passed on: n counts
	// the calls of that function, from 1.
	before func(function string, n int)

	mu    sync.Mutex
	calls []invocation
}

func (f *lambdaFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(rest, "/invocations")
	if !ok || !ok2 || r.Method != http.MethodPost {
		http.Error(w, `{"Type":"User","message":"not a Lambda Invoke request"}`, http.StatusBadRequest)
		return
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// FunctionName may be a name or an ARN (arn:aws:lambda:…:function:name).
	if i := strings.Index(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	target, ok := f.routes[name]
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"Type":"User","Message":"Function not found: %s"}`, name)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if f.before != nil {
		f.mu.Lock()
		n := 1
		for _, c := range f.calls {
			if c.Function == name {
				n++
			}
		}
		f.mu.Unlock()
		f.before(name, n)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", "ServiceException")
		http.Error(w, `{"Type":"Service","Message":"invoke emulator: `+err.Error()+`"}`, http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	result, fnErr := lambdaResult(resp.StatusCode, body)
	f.mu.Lock()
	f.calls = append(f.calls, invocation{Function: name, Payload: payload, Response: result, FunctionError: fnErr})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if fnErr != "" {
		w.Header().Set("X-Amz-Function-Error", fnErr)
	}
	w.Write(result)
}

// lambdaResult turns the emulator's answer into Lambda's: the result, or the
// error document and "Unhandled". A timed-out or crashed runtime becomes the
// error Lambda reports for it (Sandbox.Timedout, Runtime.ExitError).
func lambdaResult(status int, body []byte) (json.RawMessage, string) {
	errDoc := func(typ, msg string) json.RawMessage {
		b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
		return b
	}
	switch {
	case isErrorDoc(body):
		// A handler error (200), or a runtime that exited mid-invoke (502,
		// errorType Runtime.ExitError).
		return body, "Unhandled"
	case status != http.StatusOK:
		return errDoc("Runtime.ExitError", fmt.Sprintf("runtime failed (emulator status %d): %s", status, bytes.TrimSpace(body))), "Unhandled"
	case bytes.HasPrefix(body, []byte("Task timed out after")):
		return errDoc("Sandbox.Timedout", string(body)), "Unhandled"
	}
	return body, ""
}

// isErrorDoc reports whether body is the error document the Lambda runtime
// API reports: errorType and errorMessage, perhaps a stackTrace, nothing
// else. No State of the pipeline has that shape.
func isErrorDoc(body []byte) bool {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil || doc["errorType"] == nil || doc["errorMessage"] == nil {
		return false
	}
	for k := range doc {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return false
		}
	}
	return true
}

// invocations returns the calls so far.
func (f *lambdaFront) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.calls...)
}

// execution is the outcome of one state machine execution on local-sfn.
type execution struct {
	name      string
	succeeded bool
	// errorText is local-sfn's account of a failed execution (the failing
	// error's "<errorType>: <message>", or a Fail state's cause).
	errorText string
	output    string // everything local-sfn printed
	took      time.Duration
}

// execute runs one execution of the rendered definition on local-sfn with
// input as the execution input and name as the execution name. The Task
// states invoke the stack's functions through the Lambda Invoke API of the
// front; waits and retry intervals are shortened. The stack's Step
// Functions API lists the execution as RUNNING while it runs, as Step
// Functions would.
func (st *stack) execute(t *testing.T, name, input string) execution {
	t.Helper()
	nodeTools(t)
	rec, err := st.states.begin(name, input)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := st.runExecution(name, rec.arn, input)
	st.states.end(rec, ex, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("execution %s of %s: %v, %s", name, input, ex.took.Round(time.Millisecond), strings.TrimSpace(lastLine(ex.output)))
	return ex
}

// redrive stands in for RedriveExecution of the failed execution name,
// which aws-local-stepfunctions does not have: Step Functions runs the
// state that failed again with that state's original input, under the same
// name and ARN, with $$.Execution.RedriveCount one higher. So the rendered
// definition, with StartAt moved to state and nothing else changed, runs
// on local-sfn with input (the failed state's input, as recorded) as its
// input and the context object's RedriveCount at 1. The stack's Step
// Functions API lists the execution as RUNNING again, redriven now.
func (st *stack) redrive(t *testing.T, name, state, input string) execution {
	t.Helper()
	nodeTools(t)
	rec, err := st.states.redrive(name)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := st.runFrom(name, rec.arn, input, state, 1)
	st.states.end(rec, ex, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("redrive of %s from %s: %v, %s", name, state, ex.took.Round(time.Millisecond), strings.TrimSpace(lastLine(ex.output)))
	return ex
}

// runExecution runs one execution on local-sfn, with the context object's
// execution name and ARNs. An error means local-sfn could not run it.
func (st *stack) runExecution(name, execARN, input string) (execution, error) {
	return st.runFrom(name, execARN, input, "", 0)
}

// runFrom runs an execution starting at state (the definition's StartAt
// when empty) with the context object's Execution.RedriveCount at
// redrives (0 for an execution not redriven, as in Step Functions).
func (st *stack) runFrom(name, execARN, input, state string, redrives int) (execution, error) {
	node := filepath.Join(repoRoot, "node_modules", "node", "bin", "node")
	localSFN := filepath.Join(repoRoot, "node_modules", "aws-local-stepfunctions", "bin", "CLI.cjs")
	raw, err := os.ReadFile(st.definition)
	if err != nil {
		return execution{}, err
	}
	definition := st.definition
	if state != "" {
		derived, err := deploytest.RedriveDefinition(raw, state)
		if err != nil {
			return execution{}, err
		}
		definition = strings.TrimSuffix(st.definition, ".json") + ".from-" + state + ".json"
		if err := os.WriteFile(definition, derived, 0o644); err != nil {
			return execution{}, err
		}
	}
	var def struct {
		States map[string]struct {
			Type  string `json:"Type"`
			Retry []any  `json:"Retry"`
		} `json:"States"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		return execution{}, fmt.Errorf("definition: %v", err)
	}
	contextObject, _ := json.Marshal(map[string]any{
		"Execution":    map[string]any{"Name": name, "Id": execARN, "RedriveCount": redrives},
		"StateMachine": map[string]string{"Id": st.states.stateMachineARN},
	})
	args := []string{node, localSFN, "-f", definition, "--context", string(contextObject)}
	if state != "" {
		// Started elsewhere than StartAt, the definition has states no
		// transition reaches (Start), which local-sfn's checks refuse; it
		// is the committed definition, which every other run checks.
		args = append(args, "--no-validation")
	}
	for stateName, s := range def.States {
		if s.Type == "Wait" {
			args = append(args, "-w", fmt.Sprintf("%s:%d", stateName, waitMillis))
		}
		if len(s.Retry) > 0 {
			args = append(args, "-r", fmt.Sprintf("%s:%d", stateName, retryMillis))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), executionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(baseEnv(),
		"AWS_ENDPOINT_URL_LAMBDA="+st.frontURL,
		"AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
	)
	// local-sfn reads the execution input from stdin when it is not a
	// terminal, one JSON document per line.
	cmd.Stdin = strings.NewReader(input + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	ex := execution{name: name, output: out.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		return ex, fmt.Errorf("execution %s did not finish within %v\n%s", name, executionTimeout, ex.output)
	}
	code, ran := exitCode(err)
	switch {
	case !ran:
		return ex, fmt.Errorf("run local-sfn: %v", err)
	case code == 0:
		ex.succeeded = true
	case code == 2:
		// Exit code 2: the execution failed; local-sfn prints why.
		const lead = "Execution has failed with the following error: "
		i := strings.LastIndex(ex.output, lead)
		if i < 0 {
			return ex, fmt.Errorf("local-sfn exited 2 without saying why:\n%s", ex.output)
		}
		ex.errorText = strings.TrimSpace(ex.output[i+len(lead):])
	default:
		// Exit code 1: the definition or the options were refused.
		return ex, fmt.Errorf("local-sfn exited %d before running the execution:\n%s", code, ex.output)
	}
	return ex, nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// refuseCheckManifestWrites makes S3 refuse the manifest writes of every
// Check invocation and accept Store's, so that Check fails through its
// retries and RecordFailure can still write the FAILED summary. The stack
// must be deployed with s3Faults.
func (st *stack) refuseCheckManifestWrites() {
	check, store := st.functions["CheckFunction"].Name, st.functions["StoreFunction"].Name
	st.front.before = func(function string, n int) {
		switch function {
		case check:
			st.faults.armed.Store(true)
		case store:
			st.faults.armed.Store(false)
		}
	}
}

// s3Faults passes S3 requests on to target, and while armed answers every
// write of a run manifest with S3's InternalError, as S3 does when it fails.
type s3Faults struct {
	target *url.URL
	armed  atomic.Bool
	failed atomic.Int32 // writes refused
	// beforePut, when set, sees every PUT before it is passed on, with the
	// object's key. If it returns true the request is dropped: the
	// connection closes unanswered, as it does for a writer that died.
	beforePut func(key string) (drop bool)
}

func (f *s3Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && f.beforePut != nil {
		// Path style: /<bucket>/<key>.
		_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if f.beforePut(key) {
			panic(http.ErrAbortHandler)
		}
	}
	if f.armed.Load() && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifest.json") {
		f.failed.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>E2E0FAULT</RequestId></Error>`)
		return
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(f.target)
		// The client signed the Host it sent.
		pr.Out.Host = pr.In.Host
	}}
	proxy.ServeHTTP(w, r)
}
