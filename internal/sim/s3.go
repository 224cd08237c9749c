package sim

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// S3 is gofakes3 on an in-memory backend, path-style, behind the frame's
// authentication.

func (s *Simulator) serveS3(w http.ResponseWriter, r *http.Request) {
	// Virtual-hosted style works where a name resolves every subdomain to
	// the simulator: <bucket>.localhost. The signature covered the
	// original host and path, so the rewrite comes after authentication.
	if host, _, err := net.SplitHostPort(r.Host); err == nil || !strings.Contains(r.Host, ":") {
		if err != nil {
			host = r.Host
		}
		if bucket, ok := strings.CutSuffix(host, ".localhost"); ok && bucket != "" {
			r.URL.Path = "/" + bucket + r.URL.Path
			r.URL.RawPath = ""
		}
	}
	// gofakes3 decodes signed aws-chunked bodies itself; unsigned ones
	// with trailing checksums (what SDKs send over TLS) are decoded here.
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-UNSIGNED-PAYLOAD") {
		body, err := decodeAWSChunked(r.Body)
		if err != nil {
			s.fail(w, r, svcS3, failIncompleteSig, "the aws-chunked body is malformed: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		r.Header.Del("X-Amz-Decoded-Content-Length")
		if ce := strings.TrimSpace(strings.ReplaceAll(r.Header.Get("Content-Encoding"), "aws-chunked", "")); ce == "" || ce == "," {
			r.Header.Del("Content-Encoding")
		}
	}
	rw := &s3Answer{w: w, r: r, header: http.Header{}}
	s.s3.ServeHTTP(rw, r)
	rw.finish()
}

// s3Answer corrects what gofakes3 answers where S3 answers otherwise:
//   - an object's stored headers are those S3 keeps (Content-Type,
//     Content-Encoding, Content-Disposition, x-amz-meta-*, …), not every
//     x-amz-* header of the PutObject request (the signature's date, the
//     payload hash, the session token, the SDK's checksum headers);
//   - an error names the Key and the Resource (/bucket/key) and carries
//     the RequestId, as S3's NoSuchKey does;
//   - LastModified in XML has a fixed millisecond precision
//     (2026-11-25T03:00:00.000Z), where gofakes3 drops trailing zeros.
//
// Object bodies stream through; error and XML answers, small, are
// buffered to be rewritten.
type s3Answer struct {
	w      http.ResponseWriter
	r      *http.Request
	header http.Header
	status int
	buffer bool
	body   bytes.Buffer
}

func (a *s3Answer) Header() http.Header { return a.header }

func (a *s3Answer) WriteHeader(status int) {
	if a.status != 0 {
		return
	}
	a.status = status
	for k := range a.header {
		if strings.HasPrefix(k, "X-Amz-") && !s3AnswerHeader(k) {
			a.header.Del(k)
		}
	}
	// An object's content streams; anything else is XML or empty.
	object := (a.r.Method == http.MethodGet || a.r.Method == http.MethodHead) && status < 300 && objectKey(a.r) != ""
	a.buffer = !object
	if !a.buffer {
		for k, v := range a.header {
			a.w.Header()[k] = v
		}
		a.w.WriteHeader(status)
	}
}

func (a *s3Answer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if a.buffer {
		return a.body.Write(b)
	}
	return a.w.Write(b)
}

// Flush lets a streamed body through at once.
func (a *s3Answer) Flush() {
	if f, ok := a.w.(http.Flusher); ok && !a.buffer {
		f.Flush()
	}
}

func (a *s3Answer) finish() {
	if a.status == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if !a.buffer {
		return
	}
	body := a.body.Bytes()
	if a.status >= 300 && a.r.Method != http.MethodHead {
		body = a.errorBody(body)
	}
	body = lastModifiedRE.ReplaceAllFunc(body, func(m []byte) []byte {
		sub := lastModifiedRE.FindSubmatch(m)
		t, err := time.Parse(time.RFC3339Nano, string(sub[1]))
		if err != nil {
			return m
		}
		return []byte("<LastModified>" + t.UTC().Format("2006-01-02T15:04:05.000Z") + "</LastModified>")
	})
	for k, v := range a.header {
		a.w.Header()[k] = v
	}
	if len(body) > 0 {
		a.w.Header().Set("Content-Type", "application/xml")
	}
	a.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	a.w.WriteHeader(a.status)
	a.w.Write(body)
}

var lastModifiedRE = regexp.MustCompile(`<LastModified>([^<]+)</LastModified>`)

// s3Error is S3's error document with the fields NoSuchKey and its kin
// carry.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Key       string   `xml:"Key,omitempty"`
	Bucket    string   `xml:"BucketName,omitempty"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId,omitempty"`
}

func (a *s3Answer) errorBody(body []byte) []byte {
	var e s3Error
	if err := xml.Unmarshal(body, &e); err != nil || e.Code == "" {
		return body
	}
	bucket, key := bucketAndKey(a.r)
	e.Resource = "/" + bucket
	switch e.Code {
	case "NoSuchKey":
		e.Key, e.Resource = key, "/"+bucket+"/"+key
		if e.Message == "" {
			e.Message = "The specified key does not exist."
		}
	case "NoSuchBucket":
		e.Bucket = bucket
		if e.Message == "" {
			e.Message = "The specified bucket does not exist."
		}
	default:
		if key != "" {
			e.Resource += "/" + key
		}
	}
	e.RequestID = a.header.Get("X-Amz-Request-Id")
	if e.RequestID == "" {
		e.RequestID = wire.RequestID(a.r.Context())
	}
	e.HostID = a.header.Get("X-Amz-Id-2")
	out, err := xml.Marshal(e)
	if err != nil {
		return body
	}
	return append([]byte(xml.Header), out...)
}

// bucketAndKey splits a path-style request path.
func bucketAndKey(r *http.Request) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

func objectKey(r *http.Request) string {
	_, key := bucketAndKey(r)
	return key
}

// s3AnswerHeader reports whether S3 may answer with the x-amz-* header k.
func s3AnswerHeader(k string) bool {
	switch k {
	case "X-Amz-Request-Id", "X-Amz-Id-2", "X-Amz-Version-Id", "X-Amz-Delete-Marker", "X-Amz-Storage-Class",
		"X-Amz-Tagging-Count", "X-Amz-Website-Redirect-Location", "X-Amz-Mp-Parts-Count", "X-Amz-Expiration",
		"X-Amz-Restore", "X-Amz-Replication-Status", "X-Amz-Bucket-Region", "X-Amz-Copy-Source-Version-Id":
		return true
	}
	return strings.HasPrefix(k, "X-Amz-Meta-") || strings.HasPrefix(k, "X-Amz-Server-Side-Encryption") ||
		strings.HasPrefix(k, "X-Amz-Object-Lock-")
}

// decodeAWSChunked reads "<hex size>[;ext]\r\n<data>\r\n"… "0\r\n"
// [trailers]"\r\n" and returns the data.
func decodeAWSChunked(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxBodyBytes+1<<20))
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		sizeHex, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || size < 0 || out.Len()+int(size) > maxBodyBytes {
			return nil, errTooLarge
		}
		if size == 0 {
			return out.Bytes(), nil // trailers follow; their checksums are not verified
		}
		if _, err := io.CopyN(&out, br, size); err != nil {
			return nil, err
		}
		if _, err := br.Discard(2); err != nil {
			return nil, err
		}
	}
}
