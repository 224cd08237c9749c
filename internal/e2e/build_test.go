package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository's top directory (tests run in their package's
// directory).
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

// buildDir holds what the tests build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orgaudit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	// Every test stops what it started; this catches a process that
	// escaped its test's cleanup.
	if left := started.alive(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: processes left running after the tests: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// binaries are the programs an end-to-end run needs.
type binaries struct {
	bootstraps map[string]string // function logical id -> bootstrap
	orgaudit   string
	rie        string
	echo       string // a stand-in function for the wiring test
	took       time.Duration
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildWhat string // what failed to build, for the message
)

// build builds, once per test binary, the Lambda bootstraps exactly as SAM
// builds them (the Makefile's build-<Function> rule, for this machine's
// architecture), the orgaudit CLI, the Lambda Runtime Interface Emulator from
// the pinned tools module and the echo function.
func build(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		tp, err := loadTemplate(repoRoot)
		if err != nil {
			buildErr, buildWhat = err, "template.yaml"
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		built.bootstraps = map[string]string{}
		type step struct {
			what string
			dir  string
			env  []string
			args []string
		}
		var steps []step
		for _, fn := range tp.functions() {
			out := filepath.Join(buildDir, fn)
			steps = append(steps, step{"bootstrap of " + fn, repoRoot, nil,
				[]string{"make", "--no-print-directory", "build-" + fn, "GO=" + goBin, "GOARCH=" + runtime.GOARCH, "ARTIFACTS_DIR=" + out}})
			built.bootstraps[fn] = filepath.Join(out, "bootstrap")
		}
		built.orgaudit = filepath.Join(buildDir, "orgaudit")
		built.rie = filepath.Join(buildDir, "aws-lambda-rie")
		built.echo = filepath.Join(buildDir, "echo", "bootstrap")
		// orgaudit and echo are built with the bootstraps' settings so that
		// the three builds share every compiled package.
		lambdaLike := []string{"build", "-tags", "lambda.norpc", "-trimpath"}
		steps = append(steps,
			step{"echo function", repoRoot, []string{"CGO_ENABLED=0"},
				append(append([]string{goBin}, lambdaLike...), "-o", built.echo, "./internal/e2e/testdata/echo")},
			step{"orgaudit", repoRoot, []string{"CGO_ENABLED=0"},
				append(append([]string{goBin}, lambdaLike...), "-o", built.orgaudit, "./cmd/orgaudit")},
		)
		rie := step{"aws-lambda-rie (tools/go.mod)", filepath.Join(repoRoot, "tools"), []string{"GOWORK=off"},
			[]string{goBin, "build", "-o", built.rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"}}
		run := func(s step) error {
			cmd := exec.Command(s.args[0], s.args[1:]...)
			cmd.Dir = s.dir
			cmd.Env = append(os.Environ(), s.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(s.args, " "), err, out)
			}
			return nil
		}
		// The emulator shares nothing with the rest: build it alongside.
		rieErr := make(chan error, 1)
		go func() { rieErr <- run(rie) }()
		for _, s := range steps {
			if err := run(s); err != nil {
				<-rieErr
				buildErr, buildWhat = err, s.what
				return
			}
		}
		if err := <-rieErr; err != nil {
			buildErr, buildWhat = err, rie.what
			return
		}
		built.took = time.Since(start)
		t.Logf("built the bootstraps, orgaudit and aws-lambda-rie in %v", built.took.Round(100*time.Millisecond))
	})
	if buildErr != nil {
		if strings.HasPrefix(buildWhat, "aws-lambda-rie") {
			require(t, false, "aws-lambda-rie",
				"it builds from tools/go.mod; run `go -C tools mod download` with the Go module proxy reachable ("+buildErr.Error()+")")
		}
		t.Fatalf("build %s: %v", buildWhat, buildErr)
	}
	return built
}

// nodeTools returns Node 22 and local-sfn from the repository's node_modules
// (package.json pins both).
func nodeTools(t *testing.T) (node, localSFN string) {
	t.Helper()
	node = filepath.Join(repoRoot, "node_modules", "node", "bin", "node")
	localSFN = filepath.Join(repoRoot, "node_modules", "aws-local-stepfunctions", "bin", "CLI.cjs")
	for _, p := range []string{node, localSFN} {
		_, err := os.Stat(p)
		require(t, err == nil, p, "run `npm ci` in the repository root (package.json pins node and aws-local-stepfunctions)")
	}
	return node, localSFN
}

// motoServer returns the moto_server program.
func motoServer(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("moto_server")
	require(t, err == nil, "moto_server", "install the Python package moto with its server extra (pip install 'moto[server]')")
	return p
}
