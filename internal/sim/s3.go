package sim

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	s.s3.ServeHTTP(w, r)
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
