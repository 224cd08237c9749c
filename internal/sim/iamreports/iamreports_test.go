package iamreports_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// Paths of testdata/org-small.json.
const (
	root     = "o-a1b2c3d4e5/r-ab12"
	prod     = root + "/ou-ab12-workload/ou-ab12-prod0001"
	payments = prod + "/ou-ab12-payments"
	sandbox  = root + "/ou-ab12-sandbox1"
	mgmt     = root + "/111111111111"
)

// Callers by access key id, standing in for the simulator's SigV4 check.
var testCallers = map[string]wire.Caller{
	"admin":   {AccessKeyID: "admin", Account: "111111111111", ARN: "arn:aws:iam::111111111111:user/admin", UserID: "AIDAADMIN"},
	"auditor": {AccessKeyID: "auditor", Account: "111111111111", ARN: "arn:aws:sts::111111111111:assumed-role/orgaudit/other", UserID: "AROAAUDIT:other"},
	"member":  {AccessKeyID: "member", Account: "444444444444", ARN: "arn:aws:iam::444444444444:user/dev", UserID: "AIDAMEMBER"},
	"noorgs":  {AccessKeyID: "noorgs", Account: "111111111111", ARN: "arn:aws:iam::111111111111:user/noorgs", UserID: "AIDANOORGS", NoOrganizationsAccess: true},
	// Another access key of the admin user.
	"admin2": {AccessKeyID: "admin2", Account: "111111111111", ARN: "arn:aws:iam::111111111111:user/admin", UserID: "AIDAADMIN"},
	// Two sessions of one role with one session name: same ARN, other keys.
	"session1": {AccessKeyID: "ASIASESSION1", Account: "111111111111", ARN: "arn:aws:sts::111111111111:assumed-role/orgaudit/orgaudit", UserID: "AROAORGAUDIT:orgaudit"},
	"session2": {AccessKeyID: "ASIASESSION2", Account: "111111111111", ARN: "arn:aws:sts::111111111111:assumed-role/orgaudit/orgaudit", UserID: "AROAORGAUDIT:orgaudit"},
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/`)

// withCaller puts the caller named by the request's access key in the
// context, as the simulator's frame does after checking the signature.
// The management account's callers move to mgmtAccount.
func withCaller(h http.Handler, mgmtAccount string) http.Handler {
	callers := map[string]wire.Caller{}
	for k, c := range testCallers {
		if c.Account == "111111111111" {
			c.ARN = strings.Replace(c.ARN, c.Account, mgmtAccount, 1)
			c.Account = mgmtAccount
		}
		callers[k] = c
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			http.Error(w, "unsigned", http.StatusForbidden)
			return
		}
		c, ok := callers[m[1]]
		if !ok {
			http.Error(w, "unknown key", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(wire.WithCaller(r.Context(), c)))
	})
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var start = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func loadOrg(t testing.TB) *orgmodel.Org {
	t.Helper()
	o, err := orgmodel.LoadFile("../../../testdata/org-small.json")
	if err != nil {
		t.Fatalf("LoadFile = %v", err)
	}
	return o
}

type env struct {
	org   *orgmodel.Org
	svc   *iamreports.Service
	clock *clock
	url   string
}

func newEnv(t testing.TB, org *orgmodel.Org, opts iamreports.Options) *env {
	t.Helper()
	if org == nil {
		org = loadOrg(t)
	}
	c := &clock{t: start}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 0.01
	}
	svc := iamreports.New(org, opts)
	srv := httptest.NewServer(withCaller(svc, org.ManagementAccountID))
	t.Cleanup(srv.Close)
	return &env{org: org, svc: svc, clock: c, url: srv.URL}
}

func (e *env) client(key string) *iam.Client {
	return iam.New(iam.Options{
		BaseEndpoint: aws.String(e.url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", ""),
		Retryer:      aws.NopRetryer{}, // every answer as the server gave it
		HTTPClient:   ownBodyClient{http.DefaultClient},
	})
}

// ownBodyClient hands the transport its own copy of the request body. The
// SDK closes the body it built as soon as Do returns, which on loopback
// can race the transport and drop the connection under a response still
// being read ("use of closed network connection", aws/aws-sdk-go-v2#2737).
// The SDK's standard retryer retries that; these tests use no retries, to
// see every answer exactly as sent.
type ownBodyClient struct{ c *http.Client }

func (o ownBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return o.c.Do(r)
}

func generate(t testing.TB, c *iam.Client, path, policy string) string {
	t.Helper()
	in := &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(path)}
	if policy != "" {
		in.OrganizationsPolicyId = aws.String(policy)
	}
	out, err := c.GenerateOrganizationsAccessReport(context.Background(), in)
	if err != nil {
		t.Fatalf("GenerateOrganizationsAccessReport(%s, %q) = %v", path, policy, err)
	}
	return aws.ToString(out.JobId)
}

// wait polls the job until it is no longer IN_PROGRESS.
func wait(t testing.TB, c *iam.Client, id string) *iam.GetOrganizationsAccessReportOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetOrganizationsAccessReport(%s) = %v", id, err)
		}
		if out.JobStatus != types.JobStatusTypeInProgress {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still IN_PROGRESS after 10s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type pages struct {
	details []types.AccessDetail
	count   int
	short   int // truncated pages with fewer than MaxItems
	last    *iam.GetOrganizationsAccessReportOutput
}

// fetchAll reads every page of a completed job.
func fetchAll(t testing.TB, c *iam.Client, id string, maxItems int32, sortKey types.SortKeyType) pages {
	t.Helper()
	var p pages
	in := &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), SortKey: sortKey}
	if maxItems > 0 {
		in.MaxItems = aws.Int32(maxItems)
	}
	want := int(maxItems)
	if want == 0 {
		want = 100
	}
	for {
		out, err := c.GetOrganizationsAccessReport(context.Background(), in)
		if err != nil {
			t.Fatalf("GetOrganizationsAccessReport(%s, marker %v) = %v", id, aws.ToString(in.Marker), err)
		}
		p.count++
		p.details = append(p.details, out.AccessDetails...)
		p.last = out
		if len(out.AccessDetails) > want {
			t.Fatalf("Got(page %d) = %d items; want at most %d", p.count, len(out.AccessDetails), want)
		}
		if !out.IsTruncated {
			if out.Marker != nil {
				t.Errorf("Got(last page marker) = %q; want none", aws.ToString(out.Marker))
			}
			return p
		}
		if len(out.AccessDetails) < want {
			p.short++
		}
		if out.Marker == nil || len(out.AccessDetails) == 0 {
			t.Fatalf("Got(truncated page %d) marker %v, %d items; want a marker and items", p.count, out.Marker, len(out.AccessDetails))
		}
		in.Marker = out.Marker
	}
}

// checkDetails compares merged pages with the model's report, in order.
func checkDetails(t *testing.T, got []types.AccessDetail, want []orgmodel.ServiceAccess) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Got(services) = %d; want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if aws.ToString(g.ServiceNamespace) != w.Namespace || aws.ToString(g.ServiceName) != w.Name {
			t.Errorf("Got([%d]) = %s %q; want %s %q", i, aws.ToString(g.ServiceNamespace), aws.ToString(g.ServiceName), w.Namespace, w.Name)
		}
		if aws.ToInt32(g.TotalAuthenticatedEntities) != int32(w.TotalAuthenticatedEntities) {
			t.Errorf("Got(%s total) = %d; want %d", w.Namespace, aws.ToInt32(g.TotalAuthenticatedEntities), w.TotalAuthenticatedEntities)
		}
		if w.LastAuthenticated.IsZero() {
			// Only an unused iam row carries a Region, as IAM answers.
			if g.LastAuthenticatedTime != nil || (g.Region == nil) != (w.Region == "") || aws.ToString(g.Region) != w.Region || g.EntityPath != nil {
				t.Errorf("Got(%s) = %v %v %v; want no time or path, region %q", w.Namespace, g.LastAuthenticatedTime, g.Region, g.EntityPath, w.Region)
			}
			continue
		}
		if g.LastAuthenticatedTime == nil || !g.LastAuthenticatedTime.Equal(w.LastAuthenticated) ||
			aws.ToString(g.Region) != w.Region || aws.ToString(g.EntityPath) != w.EntityPath {
			t.Errorf("Got(%s) = %v %s %s; want %s %s %s", w.Namespace, g.LastAuthenticatedTime, aws.ToString(g.Region),
				aws.ToString(g.EntityPath), w.LastAuthenticated, w.Region, w.EntityPath)
		}
	}
}

// apiErr returns the error code and HTTP status of an SDK error.
func apiErr(t testing.TB, err error) (string, int) {
	t.Helper()
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("Got(error) = %v; want an API error with an HTTP response", err)
	}
	return ae.ErrorCode(), re.HTTPStatusCode()
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestJobLifecycle(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{Latency: func(int) time.Duration { return 5 * time.Second }}) // 50 ms at scale 0.01
	c := e.client("admin")
	id := generate(t, c, payments, "")
	if !uuidRE.MatchString(id) {
		t.Errorf("Got(JobId) = %q; want a UUID", id)
	}
	out, err := c.GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetOrganizationsAccessReport = %v", err)
	}
	if out.JobStatus != types.JobStatusTypeInProgress || !aws.ToTime(out.JobCreationDate).Equal(start) ||
		out.JobCompletionDate != nil || out.AccessDetails != nil || out.NumberOfServicesAccessible != nil ||
		out.NumberOfServicesNotAccessed != nil || out.IsTruncated || out.Marker != nil || out.ErrorDetails != nil {
		t.Errorf("Got(in progress) = %s created %v completed %v, %d details; want IN_PROGRESS created %s and nothing else",
			out.JobStatus, out.JobCreationDate, out.JobCompletionDate, len(out.AccessDetails), start)
	}
	e.clock.Add(3 * time.Second) // the reported dates follow Now, not the wall clock
	out = wait(t, c, id)
	if out.JobStatus != types.JobStatusTypeCompleted {
		t.Fatalf("Got(status) = %s; want COMPLETED", out.JobStatus)
	}
	if !aws.ToTime(out.JobCreationDate).Equal(start) || !aws.ToTime(out.JobCompletionDate).Equal(start.Add(50*time.Millisecond)) {
		t.Errorf("Got(dates) = %v, %v; want %s, %s", out.JobCreationDate, out.JobCompletionDate, start, start.Add(50*time.Millisecond))
	}
	want, _ := e.org.AccessReport(payments, "")
	// Payments' SCPs allow 7 services (all listed); 2 of them have no data.
	if aws.ToInt32(out.NumberOfServicesAccessible) != 7 || aws.ToInt32(out.NumberOfServicesNotAccessed) != 2 || out.ErrorDetails != nil {
		t.Errorf("Got(counts) = %d, %d, error %v; want 7, 2, none", aws.ToInt32(out.NumberOfServicesAccessible), aws.ToInt32(out.NumberOfServicesNotAccessed), out.ErrorDetails)
	}
	checkDetails(t, out.AccessDetails, want.Services)
	st := e.svc.Stats()
	if st.JobsCreated != 1 || st.JobsCompleted != 1 || st.JobsFailed != 0 || st.JobDuration != 50*time.Millisecond || st.GenerateCalls != 1 || st.GetCalls < 2 {
		t.Errorf("Got(Stats) = %+v; want 1 created, 1 completed, 50ms, 1 generate, >= 2 gets", st)
	}
}

// TestDefaultLatency pins the latency model to the durations IAM's jobs
// were seen to take: about 2 s for a policy report of a few services, 8 s
// for the management account, 11 s for a 455-service OU report.
func TestDefaultLatency(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 10}) // time scale 0.01
	c := e.client("admin")
	big, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 3, Accounts: 120, Depth: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	eb := newEnv(t, big, iamreports.Options{MaxJobs: 10})
	ou := big.ChildOUs(big.Root.ID)[0]
	tests := []struct {
		e            *env
		path, policy string
		lo, hi       time.Duration // at scale 0.01
	}{
		{e, sandbox, "p-sandbox01", 15 * time.Millisecond, 25 * time.Millisecond}, // 4 services
		{e, mgmt, "", 75 * time.Millisecond, 95 * time.Millisecond},
		{eb, big.ID + "/" + big.Root.ID + "/" + ou, "", 104 * time.Millisecond, 116 * time.Millisecond},
	}
	for _, tc := range tests {
		if tc.e == eb {
			c = eb.client("admin")
		}
		before := tc.e.svc.Stats().JobDuration
		generate(t, c, tc.path, tc.policy)
		if d := tc.e.svc.Stats().JobDuration - before; d < tc.lo || d > tc.hi {
			t.Errorf("Got(latency of %s %s) = %s; want %s..%s", tc.path, tc.policy, d, tc.lo, tc.hi)
		}
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 20, ShortPageRate: 0.3, TimeScale: 0.001})
	c := e.client("admin")
	reports := []struct{ path, policy string }{
		{root, ""}, {payments, ""}, {mgmt, ""}, {root, "p-corebase1"}, {sandbox, "p-staging01"},
	}
	for _, r := range reports {
		id := generate(t, c, r.path, r.policy)
		wait(t, c, id)
		want, err := e.org.AccessReport(r.path, r.policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, max := range []int32{0, 1, 7, 100, 1000} {
			p := fetchAll(t, c, id, max, "")
			checkDetails(t, p.details, want.Services)
			if aws.ToInt32(p.last.NumberOfServicesAccessible) != int32(want.Accessible) || aws.ToInt32(p.last.NumberOfServicesNotAccessed) != int32(want.NotAccessed) {
				t.Errorf("Got(%s %s counts) = %d, %d; want %d, %d", r.path, r.policy, aws.ToInt32(p.last.NumberOfServicesAccessible),
					aws.ToInt32(p.last.NumberOfServicesNotAccessed), want.Accessible, want.NotAccessed)
			}
			if len(want.Services) > 100 && max > 1 && max < 100 && p.short == 0 {
				t.Errorf("Got(%s MaxItems %d) = no short page in %d pages; want some at rate 0.3", r.path, max, p.count)
			}
			if max == 1 && p.count != len(want.Services) {
				t.Errorf("Got(%s MaxItems 1) = %d pages; want %d", r.path, p.count, len(want.Services))
			}
		}
	}
}

func TestSortKeys(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{ShortPageRate: 0.2})
	c := e.client("admin")
	id := generate(t, c, root, "")
	wait(t, c, id)
	want, _ := e.org.AccessReport(root, "")
	never := func(d types.AccessDetail) bool { return d.LastAuthenticatedTime == nil }
	tests := []struct {
		key types.SortKeyType
		// inOrder reports whether a may come right before b.
		inOrder func(a, b types.AccessDetail) bool
	}{
		{"", func(a, b types.AccessDetail) bool { return *a.ServiceNamespace < *b.ServiceNamespace }},
		{types.SortKeyTypeServiceNamespaceAscending, func(a, b types.AccessDetail) bool { return *a.ServiceNamespace < *b.ServiceNamespace }},
		{types.SortKeyTypeServiceNamespaceDescending, func(a, b types.AccessDetail) bool { return *a.ServiceNamespace > *b.ServiceNamespace }},
		{types.SortKeyTypeLastAuthenticatedTimeAscending, func(a, b types.AccessDetail) bool { // never accessed first
			switch {
			case never(a) && never(b):
				return *a.ServiceNamespace < *b.ServiceNamespace
			case never(a) || never(b):
				return never(a)
			case a.LastAuthenticatedTime.Equal(*b.LastAuthenticatedTime):
				return *a.ServiceNamespace < *b.ServiceNamespace
			}
			return a.LastAuthenticatedTime.Before(*b.LastAuthenticatedTime)
		}},
		{types.SortKeyTypeLastAuthenticatedTimeDescending, func(a, b types.AccessDetail) bool { // never accessed last
			switch {
			case never(a) && never(b):
				return *a.ServiceNamespace < *b.ServiceNamespace
			case never(a) || never(b):
				return never(b)
			case a.LastAuthenticatedTime.Equal(*b.LastAuthenticatedTime):
				return *a.ServiceNamespace < *b.ServiceNamespace
			}
			return a.LastAuthenticatedTime.After(*b.LastAuthenticatedTime)
		}},
	}
	for _, tc := range tests {
		p := fetchAll(t, c, id, 50, tc.key)
		if len(p.details) != len(want.Services) {
			t.Fatalf("Got(%s) = %d services; want %d", tc.key, len(p.details), len(want.Services))
		}
		seen := map[string]bool{}
		for i, d := range p.details {
			seen[*d.ServiceNamespace] = true
			if i > 0 && !tc.inOrder(p.details[i-1], d) {
				t.Errorf("Got(%s) [%d] %s after %s; want the other order", tc.key, i, *d.ServiceNamespace, *p.details[i-1].ServiceNamespace)
			}
		}
		for _, s := range want.Services {
			if !seen[s.Namespace] {
				t.Errorf("Got(%s) = no %s; want every service", tc.key, s.Namespace)
			}
		}
		if tc.key == types.SortKeyTypeLastAuthenticatedTimeDescending && aws.ToString(p.details[0].ServiceNamespace) != "lambda" {
			t.Errorf("Got(%s first) = %s; want lambda (2026-10-31T23:59:59Z)", tc.key, aws.ToString(p.details[0].ServiceNamespace))
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	for _, maxJobs := range []int{1, 2} {
		e := newEnv(t, nil, iamreports.Options{MaxJobs: maxJobs, Latency: func(int) time.Duration { return 8 * time.Second }}) // 80 ms
		admin, auditor := e.client("admin"), e.client("auditor")
		first := generate(t, admin, root, "")
		if maxJobs == 2 {
			generate(t, admin, sandbox, "")
		}
		// The limit is per account: another principal of it is refused too.
		for _, c := range []*iam.Client{admin, auditor} {
			_, err := c.GenerateOrganizationsAccessReport(context.Background(), &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(payments)})
			if code, status := apiErr(t, err); code != "ReportGenerationLimitExceeded" || status != http.StatusConflict {
				t.Errorf("Got(MaxJobs %d, job over the limit) = %s %d; want ReportGenerationLimitExceeded 409", maxJobs, code, status)
			}
			var rle *types.ReportGenerationLimitExceededException
			if !errors.As(err, &rle) {
				t.Errorf("Got(%T); want *types.ReportGenerationLimitExceededException", err)
			}
		}
		// An identical request is answered with the running job, not 409.
		if again := generate(t, admin, root, ""); again != first {
			t.Errorf("Got(identical request while running) = %s; want %s", again, first)
		}
		wait(t, admin, first)
		if maxJobs == 1 {
			generate(t, admin, payments, "") // the slot is free again
		}
		if st := e.svc.Stats(); st.LimitExceeded != 2 || st.JobsCreated != maxJobs+boolInt(maxJobs == 1) {
			t.Errorf("Got(Stats) = %+v; want 2 refusals, %d jobs", st, maxJobs+boolInt(maxJobs == 1))
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReuseWithin60Seconds(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 5, TimeScale: 0.001})
	c := e.client("admin")
	id := generate(t, c, root, "")
	wait(t, c, id)
	e.clock.Add(59 * time.Second)
	if again := generate(t, c, root, ""); again != id {
		t.Errorf("Got(same request after 59s) = %s; want %s", again, id)
	}
	if other := generate(t, c, root, "p-corebase1"); other == id {
		t.Errorf("Got(request with a policy id) = %s; want a new job", other)
	}
	e.clock.Add(2 * time.Second)
	later := generate(t, c, root, "")
	if later == id {
		t.Errorf("Got(same request after 61s) = %s; want a new job", later)
	}
	// Equal simulators given equal requests give equal ids.
	e2 := newEnv(t, e.org, iamreports.Options{MaxJobs: 5, TimeScale: 0.001})
	c2 := e2.client("admin")
	if got := generate(t, c2, root, ""); got != id {
		t.Errorf("Got(first id of a second simulator) = %s; want %s", got, id)
	}
	if got := generate(t, c2, root, "p-corebase1"); got == id {
		t.Errorf("Got(second id of a second simulator) = %s; want a new one", got)
	}
}

func TestOwnership(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{})
	admin := e.client("admin")
	id := generate(t, admin, root, "")
	wait(t, admin, id)
	for _, tc := range []struct{ key, id string }{
		{"auditor", id}, // same account, another principal
		{"member", id},  // another account
		{"admin", "00000000-0000-4000-8000-000000000000"}, // no such job
	} {
		_, err := e.client(tc.key).GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(tc.id)})
		if code, status := apiErr(t, err); code != "NoSuchEntity" || status != http.StatusNotFound {
			t.Errorf("Got(%s reads %s) = %s %d; want NoSuchEntity 404", tc.key, tc.id, code, status)
		}
		var nse *types.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Errorf("Got(%T); want *types.NoSuchEntityException", err)
		}
	}
}

// TestReuseFailedJob: an identical request within 60 s gets the same job
// even when it FAILED; after that, a new one.
func TestReuseFailedJob(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 5, TimeScale: 0.001})
	c := e.client("admin")
	path := root + "/ou-ab12-nosuchou"
	id := generate(t, c, path, "")
	if out := wait(t, c, id); out.JobStatus != types.JobStatusTypeFailed {
		t.Fatalf("Got(status) = %s; want FAILED", out.JobStatus)
	}
	e.clock.Add(30 * time.Second)
	if again := generate(t, c, path, ""); again != id {
		t.Errorf("Got(same request 30 s after a FAILED job) = %s; want the same job %s", again, id)
	}
	e.clock.Add(31 * time.Second)
	if later := generate(t, c, path, ""); later == id {
		t.Errorf("Got(same request after 61 s) = %s; want a new job", later)
	}
}

// TestOwnershipModels: under OwnerPrincipal another key of the same user
// and another session of the same role read a job; under OwnerSession only
// the credentials that created it do, and an identical request from other
// credentials starts a job of its own.
func TestOwnershipModels(t *testing.T) {
	tests := []struct {
		owner   string
		readers map[string]bool // caller -> may read the creator's job
	}{
		{iamreports.OwnerPrincipal, map[string]bool{"admin2": true, "auditor": false}},
		{iamreports.OwnerSession, map[string]bool{"admin2": false, "auditor": false}},
	}
	for _, tc := range tests {
		t.Run(tc.owner, func(t *testing.T) {
			e := newEnv(t, nil, iamreports.Options{MaxJobs: 5, JobOwner: tc.owner})
			id := generate(t, e.client("admin"), root, "")
			wait(t, e.client("admin"), id)
			for reader, may := range tc.readers {
				_, err := e.client(reader).GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id)})
				if (err == nil) != may || (err != nil && !errors.As(err, new(*types.NoSuchEntityException))) {
					t.Errorf("Got(%s reads admin's job) = %v; want readable %v (else NoSuchEntity)", reader, err, may)
				}
			}
			s1 := generate(t, e.client("session1"), sandbox, "")
			wait(t, e.client("session1"), s1)
			_, err := e.client("session2").GetOrganizationsAccessReport(context.Background(), &iam.GetOrganizationsAccessReportInput{JobId: aws.String(s1)})
			if may := tc.owner == iamreports.OwnerPrincipal; (err == nil) != may {
				t.Errorf("Got(another session of the same role reads the job) = %v; want readable %v", err, may)
			}
			s2 := generate(t, e.client("session2"), sandbox, "")
			if same := s2 == s1; same != (tc.owner == iamreports.OwnerPrincipal) {
				t.Errorf("Got(identical request of another session) = same job %v; want %v", same, tc.owner == iamreports.OwnerPrincipal)
			}
		})
	}
}

func TestFailedJobs(t *testing.T) {
	tests := []struct {
		name     string
		opts     iamreports.Options
		path     string
		wantFail bool
	}{
		{"failing entity by id", iamreports.Options{FailEntities: []string{"ou-ab12-payments"}}, payments, true},
		{"failing entity by path", iamreports.Options{FailEntities: []string{sandbox}}, sandbox, true},
		{"other entity", iamreports.Options{FailEntities: []string{"ou-ab12-payments"}}, root, false},
		{"fail rate 1", iamreports.Options{FailRate: 1}, root, true},
		{"fail rate 0", iamreports.Options{}, root, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, tc.opts)
			c := e.client("admin")
			out := wait(t, c, generate(t, c, tc.path, ""))
			if !tc.wantFail {
				if out.JobStatus != types.JobStatusTypeCompleted || out.ErrorDetails != nil {
					t.Errorf("Got(%s) = %s %v; want COMPLETED", tc.path, out.JobStatus, out.ErrorDetails)
				}
				return
			}
			if out.JobStatus != types.JobStatusTypeFailed || out.ErrorDetails == nil || aws.ToString(out.ErrorDetails.Code) != "ServiceFailure" ||
				aws.ToString(out.ErrorDetails.Message) == "" || out.AccessDetails != nil || out.JobCompletionDate == nil || out.NumberOfServicesAccessible != nil {
				t.Errorf("Got(%s) = %s %+v, %d details, completed %v; want FAILED with ServiceFailure details only", tc.path, out.JobStatus,
					out.ErrorDetails, len(out.AccessDetails), out.JobCompletionDate)
			}
			if st := e.svc.Stats(); st.JobsFailed != 1 || st.JobsCompleted != 0 {
				t.Errorf("Got(Stats) = %+v; want 1 failed", st)
			}
		})
	}
	// A rate fails a deterministic share of jobs.
	count := func() int {
		e := newEnv(t, nil, iamreports.Options{FailRate: 0.5, MaxJobs: 100, TimeScale: 0.0001})
		c := e.client("admin")
		failed := 0
		for i := 0; i < 40; i++ {
			if wait(t, c, generate(t, c, root, "")).JobStatus == types.JobStatusTypeFailed {
				failed++
			}
			e.clock.Add(time.Minute) // past the reuse window
		}
		return failed
	}
	a, b := count(), count()
	if a != b || a < 8 || a > 32 {
		t.Errorf("Got(failures of 40 at rate 0.5) = %d then %d; want equal, about 20", a, b)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 10})
	admin := e.client("admin")
	id := generate(t, admin, root, "")
	wait(t, admin, id)
	other := generate(t, admin, sandbox, "")
	wait(t, admin, other)
	ctx := context.Background()
	gen := func(c *iam.Client, path string, policy *string) error {
		_, err := c.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(path), OrganizationsPolicyId: policy})
		return err
	}
	get := func(in *iam.GetOrganizationsAccessReportInput) error {
		_, err := admin.GetOrganizationsAccessReport(ctx, in)
		return err
	}
	first, err := admin.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), MaxItems: aws.Int32(10)})
	if err != nil {
		t.Fatal(err)
	}
	marker := aws.ToString(first.Marker)
	tampered := []byte(marker)
	tampered[len(tampered)/2] ^= 1
	const (
		pathLen     = "Value 'bad' at 'entityPath' failed to satisfy constraint: Member must have length greater than or equal to 19"
		pathPattern = "Value 'bad' at 'entityPath' failed to satisfy constraint: Member must satisfy regular expression pattern: "
		badMarker   = "The marker passed in the request was invalid."
	)
	tests := []struct {
		name    string
		err     error
		code    string
		status  int
		message []string // parts the message must hold
	}{
		{"path bad", gen(admin, "bad", nil), "ValidationError", 400, []string{"2 validation errors detected: ", pathLen, "; ", pathPattern}},
		{"path without a root", gen(admin, "o-a1b2c3d4e5/ou-ab12-sandbox1", nil), "ValidationError", 400, []string{"1 validation error detected: ", "regular expression pattern"}},
		{"upper-case path", gen(admin, "o-A1B2C3D4E5/r-ab12", nil), "ValidationError", 400, nil},
		{"policy id bad", gen(admin, root, aws.String("bad")), "ValidationError", 400, []string{"Value 'bad' at 'organizationsPolicyId'"}},
		{"policy id empty", gen(admin, root, aws.String("")), "ValidationError", 400, []string{"Value '' at 'organizationsPolicyId'"}},
		{"other organization", gen(admin, "o-zzzzzzzzzz/r-ab12", nil), "AccessDenied", 403,
			[]string{"The organization ID in the specified entity path is different than your organization ID."}},
		{"member account", gen(e.client("member"), root, nil), "AccessDenied", 403, nil},
		{"short job id", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String("abc")}), "ValidationError", 400, nil},
		{"unknown 36-character job id", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String("00000000-0000-4000-8000-000000000000")}), "NoSuchEntity", 404, nil},
		{"MaxItems 0", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), MaxItems: aws.Int32(0)}), "ValidationError", 400, nil},
		{"MaxItems 1001", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), MaxItems: aws.Int32(1001)}), "ValidationError", 400, nil},
		{"bad sort key", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), SortKey: "BY_NAME"}), "ValidationError", 400, nil},
		{"tampered marker", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), Marker: aws.String(string(tampered))}), "ValidationError", 400, []string{"Invalid Marker."}},
		{"garbage marker", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), Marker: aws.String("not a marker")}), "ValidationError", 400, []string{"Invalid Marker."}},
		{"marker of another sort key", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), Marker: aws.String(marker),
			SortKey: types.SortKeyTypeServiceNamespaceDescending}), "InvalidInput", 400, []string{badMarker}},
		{"marker of another job", get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(other), Marker: aws.String(marker)}), "InvalidInput", 400, []string{badMarker}},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("Got(%s) = no error; want %s %d", tc.name, tc.code, tc.status)
			continue
		}
		if code, status := apiErr(t, tc.err); code != tc.code || status != tc.status {
			t.Errorf("Got(%s) = %s %d; want %s %d", tc.name, code, status, tc.code, tc.status)
		}
		var ae smithy.APIError
		errors.As(tc.err, &ae)
		for _, part := range tc.message {
			if !strings.Contains(ae.ErrorMessage(), part) {
				t.Errorf("Got(%s message) = %q; want it to hold %q", tc.name, ae.ErrorMessage(), part)
			}
		}
	}
	// The page size may change from one page to the next.
	if err := get(&iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), Marker: aws.String(marker), MaxItems: aws.Int32(3)}); err != nil {
		t.Errorf("Got(next page with another MaxItems) = %v; want it", err)
	}
}

// TestAcceptedThenFailed: what IAM only finds out while the job runs is
// accepted and ends FAILED with IAM's code.
func TestAcceptedThenFailed(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{MaxJobs: 10})
	const (
		pathCode   = "INVALID_ORGANIZATIONS_ENTITY_PATH"
		pathMsg    = "The entity with the specified path does not exist in your organization."
		policyCode = "INVALID_ORGANIZATIONS_POLICY"
		accessCode = "ORGANIZATIONS_REPORT_ACCESS_DENIED"
	)
	tests := []struct {
		name, caller, path, policy string
		code, message              string
	}{
		{"unknown OU", "admin", root + "/ou-ab12-nosuchou", "", pathCode, pathMsg},
		{"unknown account", "admin", root + "/123456789012", "", pathCode, pathMsg},
		{"wrong parent chain", "admin", sandbox + "/444444444444", "", pathCode, pathMsg},
		{"unknown root", "admin", "o-a1b2c3d4e5/r-zz99", "", pathCode, pathMsg},
		{"trailing slash", "admin", sandbox + "/", "", pathCode, pathMsg},
		{"unknown policy id", "admin", root, "p-nosuchpolicy", policyCode, ""},
		{"caller without Organizations permissions", "noorgs", root, "", accessCode, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client(tc.caller)
			out := wait(t, c, generate(t, c, tc.path, tc.policy))
			if out.JobStatus != types.JobStatusTypeFailed || out.ErrorDetails == nil || aws.ToString(out.ErrorDetails.Code) != tc.code ||
				aws.ToString(out.ErrorDetails.Message) == "" || (tc.message != "" && aws.ToString(out.ErrorDetails.Message) != tc.message) {
				t.Errorf("Got(%s) = %s %+v; want FAILED %s %q", tc.path, out.JobStatus, out.ErrorDetails, tc.code, tc.message)
			}
			if out.AccessDetails != nil || out.NumberOfServicesAccessible != nil || out.JobCompletionDate == nil {
				t.Errorf("Got(%s) = %d details, accessible %v, completed %v; want only status, dates and error", tc.path, len(out.AccessDetails), out.NumberOfServicesAccessible, out.JobCompletionDate)
			}
		})
	}
}

// TestLimitAcrossCallers: the job limit is the account's, whoever started
// the running job, with IAM's message.
func TestLimitAcrossCallers(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{Latency: func(int) time.Duration { return time.Hour }})
	generate(t, e.client("admin"), root, "")
	_, err := e.client("session1").GenerateOrganizationsAccessReport(context.Background(), &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(sandbox)})
	var ae smithy.APIError
	if code, status := apiErr(t, err); code != "ReportGenerationLimitExceeded" || status != 409 || !errors.As(err, &ae) || ae.ErrorMessage() != "Maximum number of concurrent jobs exceeded" {
		t.Errorf("Got(another caller's job while one runs) = %v; want 409 ReportGenerationLimitExceeded \"Maximum number of concurrent jobs exceeded\"", err)
	}
}

// TestRawQuery covers what the SDK cannot send: unknown actions and
// missing required parameters.
func TestRawQuery(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{})
	tests := []struct {
		form   url.Values
		code   string
		status int
	}{
		{url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}}, "InvalidAction", 400},
		{url.Values{"Action": {"GenerateOrganizationsAccessReport"}, "Version": {"2011-01-01"}}, "InvalidAction", 400},
		{url.Values{"Action": {"GenerateOrganizationsAccessReport"}, "Version": {"2010-05-08"}}, "ValidationError", 400},
		{url.Values{"Action": {"GetOrganizationsAccessReport"}, "Version": {"2010-05-08"}}, "ValidationError", 400},
		{url.Values{"Action": {"GetOrganizationsAccessReport"}, "Version": {"2010-05-08"}, "JobId": {"00000000-0000-4000-8000-000000000000"}, "MaxItems": {"ten"}}, "ValidationError", 400},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(tc.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=admin/20261102/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var er struct {
			Code      string `xml:"Error>Code"`
			Type      string `xml:"Error>Type"`
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal(body, &er); err != nil {
			t.Fatalf("Got(body %s) = %v", body, err)
		}
		if er.Code != tc.code || resp.StatusCode != tc.status || er.Type != "Sender" || er.RequestID == "" {
			t.Errorf("Got(%s) = %s %s %d; want %s Sender %d", tc.form.Encode(), er.Code, er.Type, resp.StatusCode, tc.code, tc.status)
		}
	}
}

// TestSlotIdle: the time the caller account's slot sat free between one
// job's end and the next job's creation is summed, the first job not
// counted.
func TestSlotIdle(t *testing.T) {
	e := newEnv(t, nil, iamreports.Options{Latency: func(int) time.Duration { return 5 * time.Second }}) // 50 ms
	c := e.client("admin")
	wait(t, c, generate(t, c, root, ""))
	const pause = 200 * time.Millisecond
	time.Sleep(pause)
	generate(t, c, payments, "")
	st := e.svc.Stats()
	if st.Handovers != 1 || st.SlotIdle < pause || st.SlotIdle > pause+2*time.Second {
		t.Errorf("Got(SlotIdle, Handovers) = %s, %d; want at least the %s pause, 1", st.SlotIdle, st.Handovers, pause)
	}
}
