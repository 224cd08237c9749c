package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/creack/pty"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestRunMatchesTheLambdaPath runs the same audit twice on two identical
// simulators with a frozen clock: once through `orgaudit run`, once through
// the Lambda handlers driven as the state machine drives them. Every
// per-entity report must be byte-identical.
func TestRunMatchesTheLambdaPath(t *testing.T) {
	const runID = "same-run"
	simOpts := func() sim.Options {
		return sim.Options{Org: smallOrg(t), IAM: iamreports.Options{TimeScale: 0.005, Now: frozenClock}}
	}

	// The CLI path.
	startSim(t, simOpts())
	cliOut := t.TempDir()
	if code, _, stderr := runCLI(t, "run", "--out", cliOut, "--run-id", runID, "--include-accounts", "--include-policies", "--progress", "none"); code != exitOK {
		t.Fatalf("orgaudit run exit code = %d; want 0\n%s", code, stderr)
	}

	// The Lambda path, on a fresh simulator of the same organization.
	startSim(t, simOpts())
	lambdaOut := t.TempDir()
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"ORGAUDIT_BUCKET": "unused-by-a-directory-store", "ORGAUDIT_INCLUDE_ACCOUNTS": "true", "ORGAUDIT_INCLUDE_POLICIES": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	clients := newClients(ctx, awsCfg, cfg)
	p := pipeline.New(cfg, pipeline.Deps{Orgs: clients.Organizations, IAM: clients.IAM,
		Store: objstore.NewDir(lambdaOut, cfg.Prefix), Now: time.Now})
	runStateMachine(t, p, `{"executionName":"`+runID+`","input":{}}`)

	cliFiles := listFiles(t, filepath.Join(cliOut, "orgaudit", "runs", runID, "reports"))
	lambdaFiles := listFiles(t, filepath.Join(lambdaOut, "orgaudit", "runs", runID, "reports"))
	if strings.Join(cliFiles, ",") != strings.Join(lambdaFiles, ",") || len(cliFiles) == 0 {
		t.Fatalf("report files differ:\n cli    %v\n lambda %v", cliFiles, lambdaFiles)
	}
	for _, f := range cliFiles {
		a, _ := os.ReadFile(filepath.Join(cliOut, "orgaudit", "runs", runID, "reports", f))
		b, _ := os.ReadFile(filepath.Join(lambdaOut, "orgaudit", "runs", runID, "reports", f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the CLI and the Lambda path:\n cli    %.300s\n lambda %.300s", f, a, b)
		}
	}
}

// runStateMachine drives the steps through aws-lambda-go's handler wrapper
// (JSON in, JSON out) in the order auditor.asl.json does, with Lambda-like
// deadlines and the Wait state shortened.
func runStateMachine(t *testing.T, p *pipeline.Pipeline, startEvent string) pipeline.State {
	t.Helper()
	invoke := func(h lambda.Handler, payload []byte) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		return out
	}
	start, check, store := lambda.NewHandler(p.Start), lambda.NewHandler(p.Check), lambda.NewHandler(p.Store)
	payload := invoke(start, []byte(startEvent))
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the loop did not finish")
		}
		var st pipeline.State
		if err := json.Unmarshal(payload, &st); err != nil {
			t.Fatal(err)
		}
		if st.Done {
			return st
		}
		time.Sleep(time.Duration(st.WaitSeconds) * 10 * time.Millisecond)
		payload = invoke(store, invoke(check, payload))
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// orgauditBinary builds the command once for the tests that run it as a
// separate process (signals, terminals).
func orgauditBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orgaudit-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "orgaudit")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestRunShowsABarOnATerminal runs the demo in a pseudo-terminal: the bar
// is redrawn in place and ends at every entity done.
func TestRunShowsABarOnATerminal(t *testing.T) {
	bin := orgauditBinary(t)
	setAWSEnv(t, "", "", "")
	out := t.TempDir()
	cmd := exec.Command(bin, "run", "--demo", "--demo-ous", "6", "--demo-accounts", "30", "--demo-depth", "3",
		"--demo-time-scale", "0.01", "--include-accounts", "--out", out, "--step-budget", "200ms")
	cmd.Env = os.Environ()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, ptmx); close(done) }()
	if err := waitTimeout(cmd, 90*time.Second); err != nil {
		t.Fatalf("orgaudit run --demo: %v\n%s", err, buf.String())
	}
	<-done
	screen := buf.String()
	const total = 1 + 6 + 30
	if n := strings.Count(screen, "\r["); n < 2 {
		t.Errorf("bar drawn %d times; want it redrawn in place (\\r[) at least twice:\n%q", n, screen)
	}
	if !strings.Contains(screen, "] 37/37") || !strings.Contains(screen, "ETA 0s") {
		t.Errorf("the last bar does not show %d/%d done:\n%q", total, total, screen)
	}
	if strings.Contains(screen, "progress: ") {
		t.Errorf("terminal output has log-style progress lines; want the bar only:\n%q", screen)
	}
}

func waitTimeout(cmd *exec.Cmd, d time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		return <-errc
	}
}

// TestRunStopsOnInterruptAndResumes interrupts a run with SIGINT, then
// resumes it: every entity ends with exactly one report and every
// (report, service) with exactly one Athena row.
func TestRunStopsOnInterruptAndResumes(t *testing.T) {
	bin := orgauditBinary(t)
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.1}})
	out := t.TempDir()
	cmd := exec.Command(bin, "run", "--out", out, "--run-id", "stopped", "--include-accounts", "--progress", "log", "--step-budget", "200ms")
	cmd.Env = os.Environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the run is under way and has stored something.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if files, _ := os.ReadDir(filepath.Join(out, "orgaudit", "runs", "stopped", "reports")); len(files) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := waitTimeout(cmd, 30*time.Second)
	if code := exitCode(err); code != exitInterrupted {
		t.Fatalf("exit code after SIGINT = %d (%v); want %d, as shells expect\n%s", code, err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "orgaudit run --resume stopped") {
		t.Fatalf("stderr does not say how to resume:\n%s", stderr.String())
	}
	stored, _ := os.ReadDir(filepath.Join(out, "orgaudit", "runs", "stopped", "reports"))
	want := 1 + len(org.OUs) + len(org.Accounts)
	if len(stored) >= want {
		t.Fatalf("the run finished before the interrupt (%d reports); the test needs it stopped mid-way", len(stored))
	}

	// A setting of the run is refused, naming the flag; nothing changes.
	for _, f := range [][]string{{"--unused-days", "30"}, {"--include-policies"}, {"--account-refresh-days", "3"}} {
		code, _, errOut := runCLI(t, append([]string{"run", "--out", out, "--resume", "stopped", "--progress", "none"}, f...)...)
		if code != exitUsage || !strings.Contains(errOut, "it takes no "+f[0]) {
			t.Errorf("resume with %v: exit %d, %q; want %d naming %s", f, code, errOut, exitUsage, f[0])
		}
	}
	m0 := readManifest(t, out, "stopped")
	before := 0
	for _, e := range m0.Entities {
		if e.State == manifest.StateStored {
			before++
		}
	}
	if before == 0 {
		t.Fatal("the interrupted run's manifest records no stored report")
	}
	// The pacing flags apply; the first lines show the run's real totals.
	code, stdout, errOut := runCLI(t, "run", "--out", out, "--resume", "stopped", "--progress", "log", "--max-concurrent-jobs", "3")
	if code != exitOK {
		t.Fatalf("resume exit code = %d; want 0\n%s\n%s", code, stdout, errOut)
	}
	lines := strings.Split(errOut, "\n")
	var head, firstProgress string
	for _, l := range lines {
		if strings.HasPrefix(l, "Resuming run stopped: ") && head == "" {
			head = l
		}
		if strings.HasPrefix(l, "progress: ") && firstProgress == "" {
			firstProgress = l
		}
	}
	var total, done, failed, ptotal, pdone int
	if _, err := fmt.Sscanf(head, "Resuming run stopped: %d entities, %d done (%d failed)", &total, &done, &failed); err != nil || total != want || done < before {
		t.Errorf("Got(first line of the resume) %q (%v); want %d entities and at least the %d stored", head, err, want, before)
	}
	if _, err := fmt.Sscanf(firstProgress, "progress: %d/%d done", &pdone, &ptotal); err != nil || ptotal != want || pdone < before {
		t.Errorf("Got(first progress line) %q (%v); want at least %d/%d done", firstProgress, err, before, want)
	}
	if m := readManifest(t, out, "stopped"); m.Settings.MaxConcurrentJobs != 3 || m.Settings.UnusedDays != m0.Settings.UnusedDays {
		t.Errorf("Got(resumed settings) %+v; want maxConcurrentJobs 3 and the run's own threshold %d", m.Settings, m0.Settings.UnusedDays)
	}
	sum := readSummary(t, filepath.Join(out, "orgaudit"), "stopped")
	if sum.Entities.Total != want || sum.Entities.Succeeded != want || len(sum.Reports) != want {
		t.Errorf("after resume: entities %+v, %d reports; want %d", sum.Entities, len(sum.Reports), want)
	}
	rows := athenaRows(t, filepath.Join(out, "orgaudit", "access"))
	seen := map[string]int{}
	for _, r := range rows {
		seen[r["entity_id"].(string)+"/"+r["service_namespace"].(string)]++
	}
	wantRows := 0
	for _, r := range sum.Reports {
		wantRows += r.ServicesAccessible // every listed service is SCP-allowed, so counted as accessible
	}
	if len(rows) != wantRows {
		t.Errorf("Athena rows = %d; want %d (one per report and service)", len(rows), wantRows)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("Athena row %s written %d times; want once", k, n)
		}
	}
}

func readManifest(t *testing.T, out, runID string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(context.Background(), objstore.NewDir(out, "orgaudit/"), runID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// athenaRows reads every JSONL.gz part under dir.
func athenaRows(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, f := range listFiles(t, dir) {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: row %q: %v", f, sc.Text(), err)
			}
			rows = append(rows, row)
		}
		fh.Close()
	}
	return rows
}
