package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 as AWS defines it:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html

const (
	sigAlgorithm    = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	maxClockSkew    = 15 * time.Minute
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// sigInput is what a request claims about its signature, from the
// Authorization header or from presigned query parameters.
type sigInput struct {
	accessKey     string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
	amzDate       string // request time, yyyymmddThhmmssZ
	presigned     bool
	expires       int // presigned: X-Amz-Expires seconds
	token         string
}

// parseSig extracts the signature claims of r. ok is false when r carries
// no SigV4 authentication at all; malformed is set when it tries and fails.
func parseSig(r *http.Request) (in sigInput, ok bool, malformed string) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		rest, found := strings.CutPrefix(auth, sigAlgorithm+" ")
		if !found {
			return in, true, "Authorization header requires the " + sigAlgorithm + " algorithm"
		}
		var cred, signed string
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				cred = v
			case "SignedHeaders":
				signed = v
			case "Signature":
				in.signature = v
			}
		}
		if cred == "" || signed == "" || in.signature == "" {
			return in, true, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=" + auth
		}
		if !in.setScope(cred) {
			return in, true, "Credential should be scoped to a valid region. Credential=" + cred
		}
		in.signedHeaders = strings.Split(signed, ";")
		in.amzDate = r.Header.Get("X-Amz-Date")
		if in.amzDate == "" {
			if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
				in.amzDate = d.UTC().Format(amzDateLayout)
			}
		}
		in.token = r.Header.Get("X-Amz-Security-Token")
		return in, true, ""
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") == "" && q.Get("X-Amz-Credential") == "" {
		return in, false, ""
	}
	if q.Get("X-Amz-Algorithm") != sigAlgorithm {
		return in, true, "X-Amz-Algorithm only supports " + sigAlgorithm
	}
	if !in.setScope(q.Get("X-Amz-Credential")) {
		return in, true, "X-Amz-Credential is malformed"
	}
	in.presigned = true
	in.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	in.signature = q.Get("X-Amz-Signature")
	in.amzDate = q.Get("X-Amz-Date")
	in.token = q.Get("X-Amz-Security-Token")
	exp, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || exp < 1 || exp > 604800 {
		return in, true, "X-Amz-Expires must be a number of seconds between 1 and 604800"
	}
	in.expires = exp
	if in.signature == "" || q.Get("X-Amz-SignedHeaders") == "" {
		return in, true, "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	}
	return in, true, ""
}

// setScope parses AKID/yyyymmdd/region/service/aws4_request.
func (in *sigInput) setScope(cred string) bool {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || len(parts[1]) != 8 || parts[2] == "" || parts[3] == "" {
		return false
	}
	in.accessKey, in.date, in.region, in.service = parts[0], parts[1], parts[2], parts[3]
	return true
}

func (in sigInput) scope() string {
	return in.date + "/" + in.region + "/" + in.service + "/aws4_request"
}

// signature computes the signature r should carry under secret, with
// payloadHash the hex SHA-256 of the body or UNSIGNED-PAYLOAD.
func (in sigInput) expectedSignature(r *http.Request, secret, payloadHash string) (sig, canonical string) {
	canonical = strings.Join([]string{
		r.Method,
		canonicalURI(r, in.service == svcS3),
		canonicalQuery(r.URL.RawQuery, in.presigned),
		canonicalHeaders(r, in.signedHeaders),
		strings.Join(in.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := sigAlgorithm + "\n" + in.amzDate + "\n" + in.scope() + "\n" + hex.EncodeToString(sum[:])
	key := hmacSHA256([]byte("AWS4"+secret), in.date)
	key = hmacSHA256(key, in.region)
	key = hmacSHA256(key, in.service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign)), canonical
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// canonicalURI is the path as the client sent it. S3 signs it as is; the
// other services sign it URI-encoded once more.
func canonicalURI(r *http.Request, s3 bool) string {
	p := r.URL.EscapedPath()
	if r.RequestURI != "" && strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if p == "" {
		p = "/"
	}
	if s3 {
		return p
	}
	return awsEscape(p, false)
}

func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{awsEscape(k, true), awsEscape(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, n := range names {
		var vals []string
		switch n {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			if v := r.Header.Values("Content-Length"); len(v) > 0 {
				vals = append([]string(nil), v...)
			} else if r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = append([]string(nil), r.Header.Values(n)...)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}

// awsEscape URI-encodes s as SigV4 does: everything but A-Z a-z 0-9 - _ . ~
// is percent-encoded with upper-case hex; '/' too when encodeSlash.
func awsEscape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
