package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// gatedStore holds the first Put whose key has the given prefix until
// release is closed, and closes reached when it gets there: a writer made
// slow at a chosen point.
type gatedStore struct {
	objstore.Store
	prefix  string
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedStore) Put(ctx context.Context, key string, body []byte, ct string) error {
	if strings.HasPrefix(key, g.prefix) {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
	return g.Store.Put(ctx, key, body, ct)
}

// The conditional manifest writes (objstore.Conditional) pass through the
// gate untouched.
func (g *gatedStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	return g.Store.(objstore.Conditional).GetVersion(ctx, key)
}

func (g *gatedStore) PutIf(ctx context.Context, key string, body []byte, ct, version string) (string, error) {
	return g.Store.(objstore.Conditional).PutIf(ctx, key, body, ct, version)
}

// TestRacingWriterLeavesOneRowSet: two writers of one run at once. A slow
// Check (a retried step's predecessor that was not dead, or a second `run`
// of the same run id) holds reports it read while the other writer runs
// the whole run to its end; then the slow one goes on: it writes its
// reports and tries to record them. Its manifest save loses the race
// (412), and it must have written no Athena part on the way: a part
// numbered as the winner's first part would replace the winner's rows
// with its own, so that some reports had two row sets and others none. Every entity ends with one report and one row set.
func TestRacingWriterLeavesOneRowSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.StepBudget = 20 * time.Second }})
	ctx := testCtx(t)
	const runID = "race"
	st, err := e.p.Start(ctx, StartEvent{ExecutionName: runID, Input: json.RawMessage(`{"includeAccounts":true}`)})
	if err != nil {
		t.Fatal(err)
	}

	// The slow writer runs a few jobs, then stops at its first report.
	gate := &gatedStore{Store: e.store, prefix: reportdoc.RunDir(runID) + "reports/", reached: make(chan struct{}), release: make(chan struct{})}
	slowCfg := e.cfg
	slowCfg.StepBudget = 400 * time.Millisecond
	slow := New(slowCfg, Deps{Orgs: e.p.walker.API, IAM: e.p.reports.API, Store: gate, Now: e.p.now, Logger: e.p.log})
	slow.tune = e.p.tune
	slow.tune.storeInCheck = false // it stores its reports after its jobs, in one go
	var slowErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, slowErr = slow.Check(ctx, st)
	}()
	select {
	case <-gate.reached:
	case <-done:
		t.Fatalf("Got(slow Check ended before storing a report: %v); want it holding reports", slowErr)
	}

	// Meanwhile the other writer does the whole run, in parts of a few
	// reports: its first part holds fewer reports than the slow one's.
	e.p.tune.partRows = 1000
	e.drive(ctx, e.p, st)
	scope := expectScope(e.org, true, false)
	e.verify(ctx, runID, scope, nil)
	before := e.snapshot(ctx)

	close(gate.release)
	<-done
	if !errors.Is(slowErr, manifest.ErrConflict) {
		t.Fatalf("Got(slow Check) error %v; want the lost race (another writer updated the run)", slowErr)
	}
	t.Logf("the slow writer: %v", slowErr)
	e.verify(ctx, runID, scope, nil)
	// Nothing but report files (the same entity read again) may have
	// changed; the Athena parts are the winner's.
	for k, b := range before {
		if strings.HasPrefix(k, "access/") && string(e.read(ctx, k)) != string(b) {
			t.Errorf("Got(%s) rewritten by the writer that lost; want the winner's bytes", k)
		}
	}
}
