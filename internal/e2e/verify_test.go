package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orgaudit/orgaudit/internal/athena"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// runInput is the part of the execution input the expected scope depends on.
type runInput struct {
	EntityPaths     []string `json:"entityPaths"`
	IncludeAccounts bool     `json:"includeAccounts"`
	IncludePolicies bool     `json:"includePolicies"`
}

// scopeItem is one report a run must produce.
type scopeItem struct {
	node     orgmodel.Node
	policyID string
}

func (s scopeItem) String() string {
	if s.policyID == "" {
		return s.node.ID
	}
	return s.node.ID + "." + s.policyID
}

// expectedScope derives from the organization model, independently of the
// pipeline, the reports a run of in must produce: the root and every OU (or
// the listed entities), with includeAccounts every account among or under
// them, and with includePolicies one more report for each SCP attached to
// each of those entities except the management account (whose report ignores
// a policy).
func expectedScope(t *testing.T, org *orgmodel.Org, in runInput) []scopeItem {
	t.Helper()
	var nodes []orgmodel.Node
	seen := map[string]bool{}
	add := func(n orgmodel.Node) {
		if !seen[n.ID] {
			seen[n.ID] = true
			nodes = append(nodes, n)
		}
	}
	if len(in.EntityPaths) == 0 {
		for _, n := range org.Entities() {
			if n.Type != orgmodel.TypeAccount || in.IncludeAccounts {
				add(n)
			}
		}
	} else {
		for _, p := range in.EntityPaths {
			n, err := org.ResolvePath(p)
			if err != nil {
				t.Fatalf("entity path %s: %v", p, err)
			}
			add(n)
		}
		if in.IncludeAccounts {
			for _, listed := range slices.Clone(nodes) {
				for _, id := range org.AccountsUnder(listed.ID) {
					n, _ := org.Node(id)
					add(n)
				}
			}
		}
	}
	var out []scopeItem
	for _, n := range nodes {
		out = append(out, scopeItem{node: n})
		if in.IncludePolicies && n.ID != org.ManagementAccountID {
			for _, p := range org.PoliciesFor(n.ID) {
				out = append(out, scopeItem{node: n, policyID: p})
			}
		}
	}
	return out
}

// want is what a finished run must have stored.
type want struct {
	runID      string
	input      runInput
	status     string          // summary status
	failed     map[string]bool // entity ids whose reports must be FAILED
	failCode   string          // their error code; default IAM's ServiceFailure
	unusedDays int
}

func (w want) code() string {
	if w.failCode == "" {
		return "ServiceFailure"
	}
	return w.failCode
}

// bucketObjects lists every object of the stack's bucket.
func (st *stack) bucketObjects(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(st.s3, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s: %v", st.bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

// readObjects returns the bytes of every object whose key starts with
// prefix. It reports errors rather than failing the test, for callers on
// other goroutines (hooks run by the proxies).
func (st *stack) readObjects(ctx context.Context, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(st.s3, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", st.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			obj, err := st.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
			if err != nil {
				return nil, fmt.Errorf("get s3://%s/%s: %w", st.bucket, key, err)
			}
			b, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("read s3://%s/%s: %w", st.bucket, key, err)
			}
			out[key] = b
		}
	}
	return out, nil
}

func (st *stack) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := st.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", st.bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read s3://%s/%s: %v", st.bucket, key, err)
	}
	return b
}

// decodeDoc decodes a stored JSON document strictly into v and checks that
// every documented key is present (null counts as present), so a field the
// contract names cannot be silently left out.
func decodeDoc(t *testing.T, key string, b []byte, v any, keys ...string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: %v", key, err)
		return
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Errorf("%s: %v", key, err)
		return
	}
	for _, k := range keys {
		if _, ok := raw[k]; !ok {
			t.Errorf("%s: Got(key %q) absent; want present", key, k)
		}
	}
}

// verifyRun checks everything a finished run stored against the documented layout and shapes and
// against the simulator's own answers (orgmodel.AccessReport).
func (st *stack) verifyRun(t *testing.T, w want) {
	t.Helper()
	scope := expectedScope(t, st.org, w.input)
	runDir := st.prefix + reportdoc.RunDir(w.runID)
	keys := st.bucketObjects(t)

	// The run's folder holds the manifest, the SCPs found by the walk, one
	// report per scope item, the summary, the findings and the HTML report;
	// nothing else.
	wantRun := []string{
		st.prefix + reportdoc.ManifestKey(w.runID),
		st.prefix + reportdoc.PoliciesKey(w.runID),
		st.prefix + reportdoc.SummaryKey(w.runID),
		st.prefix + reportdoc.HTMLKey(w.runID),
		runDir + "findings.json",
	}
	for _, s := range scope {
		wantRun = append(wantRun, st.prefix+reportdoc.ReportKey(w.runID, s.node.ID, s.policyID))
	}
	sort.Strings(wantRun)
	var gotRun, parts []string
	for _, k := range keys {
		rel, inPrefix := strings.CutPrefix(k, st.prefix)
		if !inPrefix || !(strings.HasPrefix(rel, "runs/") || strings.HasPrefix(rel, "access/") || rel == reportdoc.LatestKey) {
			t.Errorf("Got(object %s); want everything under %q in runs/, access/ or latest.json", k, st.prefix)
		}
		switch {
		case strings.HasPrefix(k, runDir):
			gotRun = append(gotRun, k)
		case strings.HasPrefix(k, st.prefix+"access/") && strings.Contains(k, "/run="+w.runID+"/"):
			parts = append(parts, k)
		}
	}
	if !slices.Equal(gotRun, wantRun) {
		t.Errorf("Got(objects under %s) = %q; want %q", runDir, gotRun, wantRun)
	}

	// Reports.
	reports := map[string]*reportdoc.EntityReport{}
	for _, s := range scope {
		key := st.prefix + reportdoc.ReportKey(w.runID, s.node.ID, s.policyID)
		if !slices.Contains(keys, key) {
			continue // reported above
		}
		r := st.verifyReport(t, key, s, w)
		reports[s.String()] = r
	}

	// Summary.
	var sum reportdoc.Summary
	sumKey := st.prefix + reportdoc.SummaryKey(w.runID)
	if slices.Contains(keys, sumKey) {
		decodeDoc(t, sumKey, st.get(t, sumKey), &sum,
			"schemaVersion", "runId", "organizationId", "startedAt", "completedAt", "status", "entities", "reports", "errors")
		st.verifySummary(t, &sum, scope, reports, w)
	}

	// latest.json points at this run's summary, unless the run FAILED.
	latestKey := st.prefix + reportdoc.LatestKey
	if w.status == reportdoc.RunFailed {
		if slices.Contains(keys, latestKey) {
			var l reportdoc.Latest
			decodeDoc(t, latestKey, st.get(t, latestKey), &l, "runId", "summaryKey", "completedAt")
			if l.RunID == w.runID {
				t.Errorf("Got(latest.json) = the FAILED run %s; want it to keep pointing at the last finished run", w.runID)
			}
		}
	} else if slices.Contains(keys, latestKey) {
		var l reportdoc.Latest
		decodeDoc(t, latestKey, st.get(t, latestKey), &l, "runId", "summaryKey", "completedAt")
		if l.RunID != w.runID || l.SummaryKey != reportdoc.SummaryKey(w.runID) {
			t.Errorf("Got(latest.json) = {runId %q, summaryKey %q}; want {%q, %q}", l.RunID, l.SummaryKey, w.runID, reportdoc.SummaryKey(w.runID))
		}
		if l.CompletedAt == nil || sum.CompletedAt == nil || !l.CompletedAt.Equal(sum.CompletedAt.Time) {
			t.Errorf("Got(latest.json completedAt) = %v; want the summary's %v", l.CompletedAt, sum.CompletedAt)
		}
	} else {
		t.Errorf("Got(%s) absent; want present", latestKey)
	}

	// Athena rows: one per (completed report, service), every line a JSON
	// object with the documented columns, matching the report it came from.
	completed := 0
	for _, s := range scope {
		if !w.failed[s.node.ID] {
			completed++
		}
	}
	if len(parts) == 0 && completed > 0 {
		t.Errorf("Got(access parts of run %s) none; want at least one", w.runID)
	}
	st.verifyRows(t, parts, scope, reports, w)

	// The HTML report is one self-contained page.
	html := st.get(t, st.prefix+reportdoc.HTMLKey(w.runID))
	lower := strings.ToLower(string(html))
	if !strings.Contains(lower, "<html") || !strings.Contains(string(html), w.runID) {
		t.Errorf("Got(report.html) without <html or the run id; want a page about run %s", w.runID)
	}
	for _, ext := range []string{`src="http`, `href="http`, `@import url(http`, `src='http`, `href='http`} {
		if strings.Contains(lower, ext) {
			t.Errorf("Got(report.html) with an external asset (%s); want self-contained", ext)
		}
	}
}

// verifyReport checks one stored report against the simulator's answer.
func (st *stack) verifyReport(t *testing.T, key string, s scopeItem, w want) *reportdoc.EntityReport {
	t.Helper()
	var r reportdoc.EntityReport
	b := st.get(t, key)
	decodeDoc(t, key, b, &r, "schemaVersion", "runId", "organizationId", "entity", "policyId", "job",
		"numberOfServicesAccessible", "numberOfServicesNotAccessed", "services")
	wantEntity := reportdoc.Entity{ID: s.node.ID, Type: s.node.Type, Name: s.node.Name, Path: s.node.Path}
	if r.SchemaVersion != reportdoc.SchemaVersion || r.RunID != w.runID || r.OrganizationID != st.org.ID || r.Entity != wantEntity {
		t.Errorf("%s: Got(header) = {%d %q %q %+v}; want {%d %q %q %+v}", key,
			r.SchemaVersion, r.RunID, r.OrganizationID, r.Entity, reportdoc.SchemaVersion, w.runID, st.org.ID, wantEntity)
	}
	if got := aws.ToString(r.PolicyID); got != s.policyID || (s.policyID == "" && r.PolicyID != nil) {
		t.Errorf("%s: Got(policyId) = %v; want %q (null when none)", key, r.PolicyID, s.policyID)
	}
	if w.failed[s.node.ID] {
		if r.Job.Status != reportdoc.StatusFailed || r.Job.Error == nil || r.Job.Error.Code != w.code() || r.Job.Error.Message == "" {
			t.Errorf("%s: Got(job) = {status %q, error %+v}; want FAILED with %s and a message", key, r.Job.Status, r.Job.Error, w.code())
		}
		if len(r.Services) != 0 {
			t.Errorf("%s: Got(services of a failed job) = %d; want 0", key, len(r.Services))
		}
		return &r
	}
	if r.Job.ID == "" || r.Job.CreatedAt == nil {
		t.Errorf("%s: Got(job) = %+v; want an id and createdAt", key, r.Job)
		return &r
	}
	if r.Job.Status != reportdoc.StatusCompleted || r.Job.Error != nil || r.Job.CompletedAt == nil || r.Job.CompletedAt.Before(r.Job.CreatedAt.Time) {
		t.Errorf("%s: Got(job) = {status %q, error %+v, created %v, completed %v}; want COMPLETED, no error, completed after created",
			key, r.Job.Status, r.Job.Error, r.Job.CreatedAt, r.Job.CompletedAt)
	}
	exp, err := st.org.AccessReport(s.node.Path, s.policyID)
	if err != nil {
		t.Fatalf("expected report of %s: %v", s, err)
	}
	if r.NumberOfServicesAccessible != exp.Accessible || r.NumberOfServicesNotAccessed != exp.NotAccessed {
		t.Errorf("%s: Got(accessible, not accessed) = (%d, %d); want (%d, %d)", key,
			r.NumberOfServicesAccessible, r.NumberOfServicesNotAccessed, exp.Accessible, exp.NotAccessed)
	}
	if len(r.Services) != len(exp.Services) {
		t.Errorf("%s: Got(len(services)) = %d; want %d", key, len(r.Services), len(exp.Services))
		return &r
	}
	for i, e := range exp.Services {
		got := r.Services[i]
		wantSvc := reportdoc.Service{Namespace: e.Namespace, Name: e.Name, LastAuthenticated: reportdoc.NewTime(e.LastAuthenticated),
			Region: optional(e.Region), EntityPath: optional(e.EntityPath), TotalAuthenticatedEntities: e.TotalAuthenticatedEntities}
		if !sameService(got, wantSvc) {
			t.Errorf("%s: Got(services[%d]) = %s; want %s", key, i, jsonString(got), jsonString(wantSvc))
		}
	}
	return &r
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func sameService(a, b reportdoc.Service) bool {
	return jsonString(a) == jsonString(b)
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// verifySummary checks the summary: every scope item exactly once, with the
// counts of its stored report, and the errors of the failed ones.
func (st *stack) verifySummary(t *testing.T, sum *reportdoc.Summary, scope []scopeItem, reports map[string]*reportdoc.EntityReport, w want) {
	t.Helper()
	failedCount := 0
	for _, s := range scope {
		if w.failed[s.node.ID] {
			failedCount++
		}
	}
	wantEntities := reportdoc.SummaryEntities{Total: len(scope), Succeeded: len(scope) - failedCount, Failed: failedCount}
	if sum.SchemaVersion != reportdoc.SchemaVersion || sum.RunID != w.runID || sum.OrganizationID != st.org.ID ||
		sum.Status != w.status || sum.Entities != wantEntities {
		t.Errorf("Got(summary) = {%d %q %q %s %+v}; want {%d %q %q %s %+v}",
			sum.SchemaVersion, sum.RunID, sum.OrganizationID, sum.Status, sum.Entities,
			reportdoc.SchemaVersion, w.runID, st.org.ID, w.status, wantEntities)
	}
	if sum.StartedAt == nil || sum.CompletedAt == nil || sum.CompletedAt.Before(sum.StartedAt.Time) {
		t.Errorf("Got(summary startedAt, completedAt) = %v, %v; want both, in order", sum.StartedAt, sum.CompletedAt)
	}
	lines := map[string]int{}
	for _, l := range sum.Reports {
		item := l.EntityID
		if l.PolicyID != nil {
			item += "." + *l.PolicyID
		}
		lines[item]++
	}
	var errs []string
	for _, s := range scope {
		if n := lines[s.String()]; n != 1 {
			t.Errorf("Got(summary lines for %s) = %d; want 1", s, n)
		}
		if w.failed[s.node.ID] {
			errs = append(errs, s.String())
		}
	}
	if len(sum.Reports) != len(scope) {
		t.Errorf("Got(len(summary.reports)) = %d; want %d", len(sum.Reports), len(scope))
	}
	for _, l := range sum.Reports {
		item := scopeItem{node: orgmodel.Node{ID: l.EntityID}, policyID: aws.ToString(l.PolicyID)}
		r := reports[item.String()]
		if r == nil {
			continue
		}
		status := reportdoc.StatusCompleted
		if w.failed[l.EntityID] {
			status = reportdoc.StatusFailed
		}
		unused := len(r.UnusedServices(w.unusedDays, r.AsOf()))
		wantLine := reportdoc.SummaryReport{EntityID: r.Entity.ID, Path: r.Entity.Path, PolicyID: r.PolicyID,
			Key: reportdoc.ReportKey(w.runID, r.Entity.ID, aws.ToString(r.PolicyID)), Status: status,
			ServicesAccessible: r.NumberOfServicesAccessible, ServicesNotAccessed: r.NumberOfServicesNotAccessed, UnusedServices: unused}
		if status == reportdoc.StatusCompleted {
			// Fresh unless carried from an earlier run, as of the report's
			// own instant.
			wantLine.Freshness, wantLine.AsOf = reportdoc.Fresh, reportdoc.NewTime(r.AsOf())
			if r.Carried != nil {
				wantLine.Freshness = r.Carried.Freshness
			}
		}
		if !reflect.DeepEqual(l, wantLine) {
			t.Errorf("Got(summary line %s) = %s; want %s", item, jsonString(l), jsonString(wantLine))
		}
	}
	var gotErrs []string
	for _, e := range sum.Errors {
		item := scopeItem{node: orgmodel.Node{ID: e.EntityID}, policyID: aws.ToString(e.PolicyID)}
		gotErrs = append(gotErrs, item.String())
		if e.Code != w.code() || e.Message == "" {
			t.Errorf("Got(summary error %s) = {%q, %q}; want %s and a message", item, e.Code, e.Message, w.code())
		}
	}
	sort.Strings(gotErrs)
	sort.Strings(errs)
	if !slices.Equal(gotErrs, errs) {
		t.Errorf("Got(summary errors) = %v; want %v", gotErrs, errs)
	}
}

// rowColumns are the documented columns of an Athena row (docs/athena.md),
// taken from the exported row type.
func rowColumns() []string {
	var cols []string
	rt := reflect.TypeFor[athena.Row]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		cols = append(cols, name)
	}
	return cols
}

// verifyRows reads every access part of the run and checks each row.
func (st *stack) verifyRows(t *testing.T, parts []string, scope []scopeItem, reports map[string]*reportdoc.EntityReport, w want) {
	t.Helper()
	cols := rowColumns()
	got := map[string][]string{} // scope item -> namespaces, in part order
	for _, key := range parts {
		zr, err := gzip.NewReader(bytes.NewReader(st.get(t, key)))
		if err != nil {
			t.Errorf("%s: not gzip: %v", key, err)
			continue
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			var row athena.Row
			decodeDoc(t, key+":"+strconv.Itoa(n), sc.Bytes(), &row, cols...)
			item := scopeItem{node: orgmodel.Node{ID: row.EntityID}, policyID: aws.ToString(row.PolicyID)}
			got[item.String()] = append(got[item.String()], row.ServiceNamespace)
			r := reports[item.String()]
			if r == nil || row.RunID != w.runID || row.OrganizationID != st.org.ID {
				t.Errorf("%s:%d: Got(row of %s in run %q) without a matching report of run %q", key, n, item, row.RunID, w.runID)
				continue
			}
			i, found := slices.BinarySearchFunc(r.Services, row.ServiceNamespace, func(s reportdoc.Service, ns string) int { return strings.Compare(s.Namespace, ns) })
			if !found {
				t.Errorf("%s:%d: Got(service %q) not in the report of %s", key, n, row.ServiceNamespace, item)
				continue
			}
			s := r.Services[i]
			var last *string
			if s.LastAuthenticated != nil {
				v := s.LastAuthenticated.Format(time.RFC3339)
				last = &v
			}
			if row.EntityType != r.Entity.Type || row.EntityName != r.Entity.Name || row.EntityPath != r.Entity.Path ||
				row.ServiceName != s.Name || aws.ToString(row.LastAuthenticated) != aws.ToString(last) ||
				aws.ToString(row.Region) != aws.ToString(s.Region) || aws.ToString(row.LastEntityPath) != aws.ToString(s.EntityPath) ||
				row.TotalAuthenticatedEntities != s.TotalAuthenticatedEntities || row.JobCompletedAt != r.AsOf().UTC().Format(time.RFC3339) {
				t.Errorf("%s:%d: Got(row) = %s; want the values of %s in the report of %s", key, n, sc.Text(), jsonString(s), item)
			}
			if (row.DaysSinceLastAccess == nil) != (s.LastAuthenticated == nil) {
				t.Errorf("%s:%d: Got(days_since_last_access) = %v; want a number exactly when last_authenticated is set", key, n, row.DaysSinceLastAccess)
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	for _, s := range scope {
		r := reports[s.String()]
		if r == nil {
			continue
		}
		var want []string
		if !w.failed[s.node.ID] {
			for _, svc := range r.Services {
				want = append(want, svc.Namespace)
			}
		}
		if !slices.Equal(got[s.String()], want) {
			t.Errorf("Got(rows of %s) = %d; want one per service of its report (%d)", s, len(got[s.String()]), len(want))
		}
		delete(got, s.String())
	}
	for item, rows := range got {
		t.Errorf("Got(%d rows of %s); want none: not in scope", len(rows), item)
	}
}
