package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// TestTwoRunsOfOneRunID starts two `orgaudit run` of the same run id into
// one bucket at once: the manifest's conditional writes let one win and
// make the other report the conflict, and the stored run holds every
// entity's report and Athena rows exactly once.
func TestTwoRunsOfOneRunID(t *testing.T) {
	const bucket, runID = "audit", "twice"
	org := smallOrg(t)
	startSim(t, sim.Options{Org: org, Buckets: []string{bucket}, IAM: iamreports.Options{TimeScale: 0.05}})
	var wg sync.WaitGroup
	codes, stderrs := make([]int, 2), make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, stderrs[i] = runCLI(t, "run", "--run-id", runID, "--bucket", bucket, "--prefix", "orgaudit/", "--include-accounts", "--progress", "none")
		}()
	}
	wg.Wait()
	won := -1
	for i, c := range codes {
		if c == exitOK {
			won = i
		}
	}
	if won < 0 || codes[1-won] != exitFailure {
		t.Fatalf("Got(exit codes) %v; want one 0 and one 1\nstderr 0:\n%s\nstderr 1:\n%s", codes, stderrs[0], stderrs[1])
	}
	if lost := stderrs[1-won]; !strings.Contains(lost, "another writer updated run "+runID) || !strings.Contains(lost, "Let the other finish, or use another --run-id") {
		t.Errorf("Got(the losing run's stderr) %q; want the conflict named", lost)
	} else {
		t.Logf("the losing run: %s", strings.TrimSpace(lost))
	}

	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = logging.Nop{}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	store := objstore.NewS3(client, bucket, "orgaudit/")
	sum, err := loadSummary(ctx, store, runID)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + len(org.OUs) + len(org.Accounts)
	if sum.Status != reportdoc.RunSucceeded || sum.Entities.Total != want || len(sum.Reports) != want {
		t.Fatalf("Got(summary) %s with %d entities, %d reports; want SUCCEEDED with %d", sum.Status, sum.Entities.Total, len(sum.Reports), want)
	}
	services := map[string]int{}
	for _, r := range sum.Reports {
		if _, dup := services[r.EntityID]; dup {
			t.Errorf("Got(entity %s) twice in the summary; want once", r.EntityID)
		}
		var rep reportdoc.EntityReport
		if err := getJSON(ctx, store, r.Key, &rep); err != nil {
			t.Fatal(err)
		}
		services[r.EntityID] = len(rep.Services)
	}
	keys, err := store.List(ctx, "runs/"+runID+"/reports/")
	if err != nil || len(keys) != want {
		t.Errorf("Got(%d report objects, %v); want %d", len(keys), err, want)
	}

	// Athena rows: one per (report, service), none twice.
	parts, err := store.List(ctx, "access/")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	seen := map[string]bool{}
	for _, key := range parts {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("orgaudit/" + key)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if len(b) == 0 {
			continue // an orphan part, emptied
		}
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var row struct {
				EntityID  string `json:"entity_id"`
				Namespace string `json:"service_namespace"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if id := row.EntityID + "/" + row.Namespace; seen[id] {
				t.Errorf("Got(row %s) twice; want once", id)
			} else {
				seen[id] = true
			}
			rows[row.EntityID]++
		}
	}
	for id, n := range services {
		if rows[id] != n {
			t.Errorf("Got(%d Athena rows of %s); want %d, one per service of its report", rows[id], id, n)
		}
	}
}
