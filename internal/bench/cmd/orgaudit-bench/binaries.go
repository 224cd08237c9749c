package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orgaudit/orgaudit/internal/bench"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/sim"
)

// binaryResult is one function's bootstrap.
type binaryResult struct {
	Step       string          `json:"step"`
	Function   string          `json:"function"`
	SizeArm64  int64           `json:"sizeArm64"`
	SizeHost   int64           `json:"sizeHost"`
	ColdStarts []time.Duration `json:"coldStartsNs"`
	Warm       []time.Duration `json:"warmNs"`
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/orgaudit/orgaudit\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the orgaudit repository")
		}
		dir = parent
	}
}

// binaries builds each bootstrap with the Makefile's SAM rule (arm64, as
// deployed, and the host architecture for aws-lambda-rie) and times cold
// starts.
func binaries(ctx context.Context, o options, log func(string, ...any)) ([]binaryResult, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "orgaudit-bench-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []binaryResult
	for _, step := range []string{"Start", "Check", "Store"} {
		f := bench.Functions[step]
		r := binaryResult{Step: step, Function: f.Name}
		for _, arch := range []string{"arm64", runtime.GOARCH} {
			dir := filepath.Join(tmp, arch, step)
			cmd := exec.CommandContext(ctx, "make", "-s", "-C", root, "build-"+f.Name, "GOARCH="+arch, "ARTIFACTS_DIR="+dir)
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("make build-%s GOARCH=%s: %w: %s", f.Name, arch, err, b)
			}
			fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
			if err != nil {
				return nil, err
			}
			if arch == "arm64" {
				r.SizeArm64 = fi.Size()
			}
			if arch == runtime.GOARCH {
				r.SizeHost = fi.Size()
			}
		}
		log("%s bootstrap: %d bytes (arm64)", f.Name, r.SizeArm64)
		out = append(out, r)
	}
	if o.coldReps <= 0 {
		return out, nil
	}
	rie := o.rie
	if rie == "" {
		rie = filepath.Join(tmp, "aws-lambda-rie")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
		cmd.Dir = filepath.Join(root, "tools")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build aws-lambda-rie from tools/go.mod: %w: %s", err, b)
		}
	}
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 5, Accounts: 20, Depth: 2, Seed: 3})
	if err != nil {
		return nil, err
	}
	env, err := newEnvironment(ctx, org, 0.01, o, benchBucket)
	if err != nil {
		return nil, err
	}
	defer env.stop()
	lambdaEnv := append(os.Environ(),
		"AWS_ENDPOINT_URL="+env.endpoint,
		"AWS_ACCESS_KEY_ID="+sim.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+sim.DefaultSecretAccessKey,
		"AWS_REGION=us-east-1",
		config.EnvBucket+"="+benchBucket,
	)
	for rep := 0; rep < o.coldReps; rep++ {
		start, err := json.Marshal(pipeline.StartEvent{ExecutionName: fmt.Sprintf("cold-%d-%d", rep, time.Now().UnixNano()), Input: json.RawMessage(`{}`)})
		if err != nil {
			return nil, err
		}
		var state []byte
		for i := range out {
			event := start
			if out[i].Step != "Start" {
				event = state
			}
			boot := filepath.Join(tmp, runtime.GOARCH, out[i].Step, "bootstrap")
			cold, warm, resp, err := coldStart(ctx, rie, boot, lambdaEnv, event)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", out[i].Function, err)
			}
			if out[i].Step == "Start" {
				state = resp
			}
			out[i].ColdStarts = append(out[i].ColdStarts, cold)
			out[i].Warm = append(out[i].Warm, warm)
		}
	}
	for _, r := range out {
		log("%s cold start median %s", r.Function, medianDuration(r.ColdStarts))
	}
	return out, nil
}

// coldStart starts aws-lambda-rie with the bootstrap and returns the time
// from starting the process to the answer of the first invocation, the
// time of a second (warm) invocation, and the first answer.
func coldStart(ctx context.Context, rie, bootstrap string, env []string, event []byte) (cold, warm time.Duration, resp []byte, err error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return 0, 0, nil, err
	}
	cmd := exec.CommandContext(ctx, rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--log-level", "error", bootstrap)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/2015-03-31/functions/function/invocations"
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	invoke := func() ([]byte, error) {
		res, err := http.Post(url, "application/json", bytes.NewReader(event))
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		return io.ReadAll(res.Body)
	}
	for {
		resp, err = invoke()
		if err == nil {
			break
		}
		if time.Since(begin) > 30*time.Second {
			return 0, 0, nil, fmt.Errorf("no answer: %w: %s", err, logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	cold = time.Since(begin)
	if bytes.Contains(resp, []byte(`"errorType"`)) || bytes.Contains(resp, []byte(`"errorMessage"`)) {
		return 0, 0, nil, fmt.Errorf("invocation failed: %s", strings.TrimSpace(string(resp)))
	}
	t := time.Now()
	if _, err := invoke(); err != nil {
		return 0, 0, nil, err
	}
	warm = time.Since(t)
	return cold, warm, resp, nil
}
