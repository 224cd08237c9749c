package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/deploytest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/pipeline"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestFunctionsMatchTemplate keeps the deadlines and memory sizes the
// bench bills with equal to template.yaml's.
func TestFunctionsMatchTemplate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := deploytest.DecodeTemplate(data)
	if err != nil {
		t.Fatal(err)
	}
	resources, _ := tpl["Resources"].(map[string]any)
	for step, f := range Functions {
		res, _ := resources[f.Name].(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		if props == nil {
			t.Fatalf("template.yaml has no %s properties", f.Name)
		}
		if got := fmt.Sprint(props["Timeout"]); got != fmt.Sprint(int(f.Timeout.Seconds())) {
			t.Errorf("Got(%s Timeout) = %s; want %d (Functions[%q])", f.Name, got, int(f.Timeout.Seconds()), step)
		}
		if got := fmt.Sprint(props["MemorySize"]); got != fmt.Sprint(f.MemoryMB) {
			t.Errorf("Got(%s MemorySize) = %s; want %d (Functions[%q])", f.Name, got, f.MemoryMB, step)
		}
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct{ walks, iterations, want int }{{0, 0, 3}, {0, 1, 7}, {0, 220, 883}, {2, 1, 13}}
	for _, tt := range tests {
		if got := Transitions(tt.walks, tt.iterations); got != tt.want {
			t.Errorf("Got(Transitions(%d, %d)) = %d; want %d", tt.walks, tt.iterations, got, tt.want)
		}
	}
}

func TestCostUSD(t *testing.T) {
	sfn, lambda := CostUSD(1000, 1000, 1_000_000)
	if math.Abs(sfn-0.025) > 1e-12 {
		t.Errorf("Got(Step Functions cost of 1,000 transitions) = %v; want 0.025", sfn)
	}
	if want := 0.0133334 + 0.20; math.Abs(lambda-want) > 1e-9 {
		t.Errorf("Got(Lambda cost of 1,000 GB-s and 1M requests) = %v; want %v", lambda, want)
	}
}

func TestGBSeconds(t *testing.T) {
	tr := Trace{Billed: map[string]time.Duration{"Check": 8 * time.Second, "Store": 4 * time.Second}}
	if got, want := tr.GBSeconds(), 8*0.125+4*0.25; math.Abs(got-want) > 1e-9 {
		t.Errorf("Got(GBSeconds) = %v; want %v", got, want)
	}
}

func TestWaitDuration(t *testing.T) {
	if got, want := WaitDuration(3, 0.01), 30*time.Millisecond; got != want {
		t.Errorf("Got(WaitDuration(3, 0.01)) = %s; want %s", got, want)
	}
}

func TestServiceOf(t *testing.T) {
	tests := []struct{ header, want string }{
		{"AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/organizations/aws4_request, SignedHeaders=host, Signature=x", "organizations"},
		{"AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x", "iam"},
		{"", ""},
		{"Bearer x", ""},
	}
	for _, tt := range tests {
		if got := ServiceOf(tt.header); got != tt.want {
			t.Errorf("Got(ServiceOf(%q)) = %q; want %q", tt.header, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := Median(tt.xs); got != tt.want {
			t.Errorf("Got(Median(%v)) = %v; want %v", tt.xs, got, tt.want)
		}
	}
}

// TestDriveAndNaive runs both runners on a small simulated organization
// over real HTTP and checks what they count against the simulator's own
// statistics.
func TestDriveAndNaive(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 4, Accounts: 6, Depth: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.002, MaxJobs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	counter := &CallCounter{}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, "")),
		awsconfig.WithBaseEndpoint(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	awsCfg.HTTPClient = &http.Client{Transport: counter}
	cfg := config.Default()
	cfg.Bucket = "bench"
	orgs, iamClient, _ := config.NewClients(context.Background(), awsCfg, cfg)
	counting := &CountingIAM{API: iamClient, Record: true}
	dir := t.TempDir()
	p := pipeline.New(cfg, pipeline.Deps{Orgs: orgs, IAM: counting, Store: objstore.NewDir(dir, cfg.Prefix)})
	tr, err := Drive(context.Background(), Steps{P: p}, "bench-test", json.RawMessage(`{"includeAccounts": true}`), 0.002)
	if err != nil {
		t.Fatal(err)
	}
	entities := 1 + len(org.OUs) + len(org.Accounts)
	st := s.IAM().Stats()
	checks := []struct {
		what      string
		got, want int
	}{
		{"entities", tr.Final.Total, entities},
		{"completed", tr.Final.Completed, entities},
		{"transitions", tr.Transitions, Transitions(tr.Walks, tr.Iterations)},
		{"Start invocations", tr.Invocations["Start"], 1 + tr.Walks},
		{"Check invocations", tr.Invocations["Check"], tr.Iterations},
		{"Store invocations", tr.Invocations["Store"], tr.Iterations},
		{"IAM requests counted", int(counter.IAM()), st.GenerateCalls + st.GetCalls},
		{"polls + pages", int(counting.Polls() + counting.Pages()), st.GetCalls},
		{"generate events", countOp(counting.Events(), "generate"), st.GenerateCalls},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Got(%s) = %d; want %d", c.what, c.got, c.want)
		}
	}
	if counter.Organizations() == 0 {
		t.Errorf("Got(Organizations requests) = 0; want the walk's calls")
	}
	if tr.GBSeconds() <= 0 {
		t.Errorf("Got(GBSeconds) = %v; want > 0", tr.GBSeconds())
	}

	naiveDir := t.TempDir()
	global := awsCfg.Copy()
	n, err := Naive(context.Background(), orgs, iam.NewFromConfig(global), true, time.Millisecond, naiveDir)
	if err != nil {
		t.Fatal(err)
	}
	if n.Entities != entities {
		t.Errorf("Got(naive entities) = %d; want %d", n.Entities, entities)
	}
	files, err := os.ReadDir(naiveDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != entities {
		t.Errorf("Got(naive report files) = %d; want %d", len(files), entities)
	}
}

func countOp(evs []Event, op string) int {
	n := 0
	for _, e := range evs {
		if e.Op == op {
			n++
		}
	}
	return n
}
