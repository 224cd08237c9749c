package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ciMode is true on CI, where nothing may be skipped.
var ciMode = os.Getenv("CI") == "true"

// require fails the test under CI and skips it elsewhere when a prerequisite
// is missing; install says how to get it.
func require(t *testing.T, ok bool, what, install string) {
	t.Helper()
	if ok {
		return
	}
	if ciMode {
		t.Fatalf("%s is missing: %s", what, install)
	}
	t.Skipf("%s is missing (%s); CI runs this test", what, install)
}

// logTail bounds how much of a process's output goes into a failed test's
// log: the end is where the trouble is.
const logTail = 48 << 10

// syncBuffer is an output buffer written by a process and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startedPIDs records every process the tests started, and those the
// processes started, so TestMain can check that none outlives the tests.
type startedPIDs struct {
	mu   sync.Mutex
	pids []int
}

var started startedPIDs

func (s *startedPIDs) add(pids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pids = append(s.pids, pids...)
}

// alive returns the recorded processes still running.
func (s *startedPIDs) alive() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, p := range s.pids {
		if running(p) {
			out = append(out, p)
		}
	}
	return out
}

// proc is a process the test started in a process group of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startProc starts a process whose output is kept for the test log, and
// registers its stop: the whole process group and every descendant, verified
// gone. The output is logged when the test failed.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own group, so a stop reaches what it starts in that group too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	started.add(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			s := out.String()
			if len(s) > logTail {
				s = "…" + s[len(s)-logTail:]
			}
			t.Logf("--- output of %s (pid %d):\n%s", name, cmd.Process.Pid, s)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group with SIGTERM (SIGKILL after a grace period),
// then ends any descendant that left the group (the Lambda runtime emulator
// starts the function in a group of its own), and fails the test if any of
// them is still alive.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	pid := p.cmd.Process.Pid
	family := descendants(pid)
	started.add(family...)
	if !p.exited() {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // stragglers of the group
	deadline := time.Now().Add(3 * time.Second)
	for {
		var alive []int
		for _, d := range append(family, pid) {
			if running(d) {
				alive = append(alive, d)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: processes %v still running after stop", p.name, alive)
			return
		}
		for _, d := range alive {
			_ = syscall.Kill(d, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether pid is a live process (a zombie is not: it only
// waits for its parent to collect it).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		parent, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		children[parent] = append(children[parent], child)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// killRuntime ends the function runtime under a runtime emulator (every
// descendant of it) with SIGKILL, as a crash ends a Lambda runtime, and
// waits until they are gone, so that nothing they had in flight goes on. It
// returns the processes it killed.
func killRuntime(emulator *proc) []int {
	kids := descendants(emulator.cmd.Process.Pid)
	for _, pid := range kids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range kids {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return kids
}

// freeAddr returns a loopback address with a port free at the time of the
// call, for programs that cannot report the port they picked.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitTCP waits until addr accepts connections; it fails the test if p
// exits first or takes longer than within.
func waitTCP(t *testing.T, p *proc, addr string, within time.Duration) {
	t.Helper()
	if err := dialUntil(p, addr, within); err != nil {
		t.Fatal(err)
	}
}

func dialUntil(p *proc, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before listening on %s", p.name, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %v", p.name, addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLine waits for a line of p's output that starts with prefix and
// returns the rest of it.
func waitLine(t *testing.T, p *proc, prefix string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(rest)
			}
		}
		if p.exited() {
			t.Fatalf("%s exited before printing %q", p.name, prefix)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v", p.name, prefix, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode tells a command that ran and exited non-zero from one that
// could not run.
func exitCode(err error) (int, bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return 0, err == nil
}
