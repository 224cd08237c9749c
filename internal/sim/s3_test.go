package sim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/orgaudit/orgaudit/internal/sim"
)

func TestS3Objects(t *testing.T) {
	s, url := startSim(t, sim.Options{Buckets: []string{"reports"}})
	ctx := testCtx(t)
	client := s3.NewFromConfig(awsConfig(url, "test", "test", "", false), func(o *s3.Options) { o.UsePathStyle = true })

	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("scratch")}); err != nil {
		t.Fatalf("CreateBucket() = %v", err)
	}
	lb, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets() = %v", err)
	}
	if len(lb.Buckets) != 2 {
		t.Errorf("Got(len(ListBuckets)) = %d; want %d", len(lb.Buckets), 2)
	}

	keys := []string{"orgaudit/runs/r1/summary.json", "orgaudit/runs/r1/reports/ou-ab12-cdefghij.json", "orgaudit/latest.json", "orgaudit/odd key+with=chars.json"}
	for i, k := range keys {
		body := strings.Repeat("x", i*1000+1)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String(k), Body: strings.NewReader(body), ContentType: aws.String("application/json")}); err != nil {
			t.Fatalf("PutObject(%s) = %v", k, err)
		}
	}
	get, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(keys[1])})
	if err != nil {
		t.Fatalf("GetObject() = %v", err)
	}
	b, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if len(b) != 1001 {
		t.Errorf("Got(len(GetObject body)) = %d; want %d", len(b), 1001)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("reports"), Key: aws.String(keys[3])})
	if err != nil {
		t.Fatalf("HeadObject() = %v", err)
	}
	if got := aws.ToInt64(head.ContentLength); got != 3001 {
		t.Errorf("Got(HeadObject ContentLength) = %d; want %d", got, 3001)
	}

	// v2 with pagination and a prefix, then v1.
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("reports"), Prefix: aws.String("orgaudit/runs/"), MaxKeys: aws.Int32(1)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2() = %v", err)
		}
		n += len(out.Contents)
	}
	if n != 2 {
		t.Errorf("Got(objects under orgaudit/runs/) = %d; want %d", n, 2)
	}
	v1, err := client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("reports")})
	if err != nil {
		t.Fatalf("ListObjects() = %v", err)
	}
	if len(v1.Contents) != len(keys) {
		t.Errorf("Got(len(ListObjects)) = %d; want %d", len(v1.Contents), len(keys))
	}

	// Presigned GET.
	ps, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(keys[0])}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatalf("PresignGetObject() = %v", err)
	}
	resp, err := http.Get(ps.URL)
	if err != nil {
		t.Fatalf("GET presigned = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Got(presigned GET status) = %d; want %d", resp.StatusCode, 200)
	}
	resp, err = http.Get(strings.Replace(ps.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1))
	if err != nil {
		t.Fatalf("GET tampered presigned = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("Got(tampered presigned GET status) = %d; want %d", resp.StatusCode, 403)
	}

	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("reports"), Key: aws.String(keys[0])}); err != nil {
		t.Fatalf("DeleteObject() = %v", err)
	}
	_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(keys[0])})
	if code, status := apiError(t, err); code != "NoSuchKey" || status != 404 {
		t.Errorf("Got(GetObject after delete) = %q %d; want %q %d", code, status, "NoSuchKey", 404)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("missing"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if code, status := apiError(t, err); code != "NoSuchBucket" || status != 404 {
		t.Errorf("Got(PutObject to a missing bucket) = %q %d; want %q %d", code, status, "NoSuchBucket", 404)
	}

	// Session credentials from AssumeRole work on S3 too, and so does an
	// UNSIGNED-PAYLOAD upload.
	out, err := sts.NewFromConfig(awsConfig(url, "test", "test", "", false)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + s.Org().ManagementAccountID + ":role/Writer"), RoleSessionName: aws.String("writer")})
	if err != nil {
		t.Fatalf("AssumeRole() = %v", err)
	}
	c := out.Credentials
	session := s3.NewFromConfig(awsConfig(url, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), false), func(o *s3.Options) { o.UsePathStyle = true })
	payload := bytes.Repeat([]byte("y"), 70000)
	if _, err := session.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("streamed"), Body: bytes.NewReader(payload)}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)); err != nil {
		t.Fatalf("PutObject(streamed) with session credentials = %v", err)
	}
	got, err := session.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("streamed")})
	if err != nil {
		t.Fatalf("GetObject(streamed) = %v", err)
	}
	b, _ = io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, payload) {
		t.Errorf("Got(len(streamed object)) = %d; want %d identical bytes", len(b), len(payload))
	}
}

func TestS3BadBucketOption(t *testing.T) {
	_, err := sim.New(sim.Options{Org: testOrg(t), Buckets: []string{"Not_A_Bucket"}})
	if err == nil {
		t.Errorf("Got(New with bucket %q) = nil; want an error", "Not_A_Bucket")
	}
}

// TestS3AddressingStyles checks what clients do without UsePathStyle: on a
// numeric endpoint the SDK falls back to path style by itself; on
// localhost it addresses <bucket>.localhost, which the simulator serves.
func TestS3AddressingStyles(t *testing.T) {
	var log syncBuffer
	_, url := startSim(t, sim.Options{Buckets: []string{"audit"}, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	ctx := testCtx(t)
	addr := strings.TrimPrefix(url, "http://")
	_, port, _ := net.SplitHostPort(addr)
	dialer := &net.Dialer{}
	// Every name reaches the test server, as *.localhost does on systems
	// that resolve it to the loopback address.
	toServer := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}}}
	tests := []struct {
		name     string
		endpoint string
		client   *http.Client
		path     string // of the PUT as the client sent it
	}{
		{"ip endpoint", url, http.DefaultClient, "/audit/style/ip-endpoint"},
		{"localhost endpoint", "http://localhost:" + port, toServer, "/style/localhost-endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := awsConfig(tc.endpoint, "test", "test", "", false)
			cfg.HTTPClient = tc.client
			client := s3.NewFromConfig(cfg)
			key := "style/" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
				t.Fatalf("PutObject() = %v", err)
			}
			out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("audit"), Prefix: aws.String(key)})
			if err != nil {
				t.Fatalf("ListObjectsV2() = %v", err)
			}
			if len(out.Contents) != 1 {
				t.Errorf("Got(len(ListObjectsV2)) = %d; want %d", len(out.Contents), 1)
			}
			if want := `"op":"PUT ` + tc.path + `"`; !strings.Contains(log.String(), want) {
				t.Errorf("Got(request log) = %s; want a PUT of %s", log.String(), tc.path)
			}
		})
	}
}

func TestS3TamperedPayload(t *testing.T) {
	_, url := startSim(t, sim.Options{Buckets: []string{"audit"}})
	body := "original"
	req, err := http.NewRequest(http.MethodPut, url+"/audit/k", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(strings.NewReader("tampered"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT = %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>XAmzContentSHA256Mismatch</Code>") {
		t.Errorf("Got(tampered payload) = %d %s; want 400 XAmzContentSHA256Mismatch", resp.StatusCode, b)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
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

// recorder keeps the last raw answer the SDK received.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.header, r.body = resp.Header.Clone(), b
	r.mu.Unlock()
	return resp, nil
}

// TestS3AnswersAsS3 pins three details of S3's answers: GetObject returns
// the object's metadata, not the PutObject request's headers; NoSuchKey
// names the Key and the Resource and carries the RequestId; LastModified
// has a fixed millisecond precision.
func TestS3AnswersAsS3(t *testing.T) {
	_, url := startSim(t, sim.Options{Buckets: []string{"reports"}})
	ctx := testCtx(t)
	rec := &recorder{}
	cfg := awsConfig(url, "test", "test", "", false)
	cfg.HTTPClient = rec
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("a/b.json"),
		Body: strings.NewReader(`{}`), ContentType: aws.String("application/json"), Metadata: map[string]string{"run": "r1"}}); err != nil {
		t.Fatalf("PutObject() = %v", err)
	}
	get, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("a/b.json")})
	if err != nil {
		t.Fatalf("GetObject() = %v", err)
	}
	get.Body.Close()
	for k := range rec.header {
		switch k {
		case "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token", "X-Amz-User-Agent", "X-Amz-Sdk-Checksum-Algorithm",
			"X-Amz-Checksum-Crc32", "X-Amz-Checksum-Crc64nvme", "X-Amz-Decoded-Content-Length", "X-Amz-Trailer":
			t.Errorf("Got(GetObject header %s: %s); want no request header of the PutObject echoed", k, rec.header.Get(k))
		}
	}
	if aws.ToString(get.ContentType) != "application/json" || get.Metadata["run"] != "r1" {
		t.Errorf("Got(GetObject) = %q %v; want application/json and the run metadata", aws.ToString(get.ContentType), get.Metadata)
	}

	_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("a/missing.json")})
	var e struct {
		Code, Message, Key, Resource, RequestId string
	}
	if err == nil || xml.Unmarshal(rec.body, &e) != nil {
		t.Fatalf("Got(GetObject(missing)) = %v, body %s; want a NoSuchKey document", err, rec.body)
	}
	if e.Code != "NoSuchKey" || e.Key != "a/missing.json" || e.Resource != "/reports/a/missing.json" || e.RequestId == "" || e.Message == "" ||
		e.RequestId != rec.header.Get("X-Amz-Request-Id") {
		t.Errorf("Got(NoSuchKey) = %+v (header id %q); want Key, Resource /reports/a/missing.json and the answer's RequestId", e, rec.header.Get("X-Amz-Request-Id"))
	}

	if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("reports")}); err != nil {
		t.Fatalf("ListObjectsV2() = %v", err)
	}
	m := regexp.MustCompile(`<LastModified>([^<]*)</LastModified>`).FindSubmatch(rec.body)
	if m == nil || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).Match(m[1]) {
		t.Errorf("Got(LastModified in %s); want YYYY-MM-DDTHH:MM:SS.mmmZ", rec.body)
	}
}
