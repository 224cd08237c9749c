package sim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// S3 still honours SigV2 query-string authentication, and the AWS CLI v1
// presigns S3 URLs with it (`aws s3 presign`):
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html

// s3SubResources are the query parameters part of a SigV2 canonical
// resource.
var s3SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "tagging": true,
	"torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

func hasSigV2Query(r *http.Request) bool {
	q := r.URL.Query()
	return q.Get("AWSAccessKeyId") != "" && q.Get("Signature") != "" && q.Get("Expires") != ""
}

// authenticateV2 verifies a SigV2 presigned S3 URL.
func (s *Simulator) authenticateV2(r *http.Request) (wire.Caller, failure, string) {
	q := r.URL.Query()
	p, ok := s.creds.lookup(q.Get("AWSAccessKeyId"))
	if !ok {
		return wire.Caller{}, failUnknownKey, ""
	}
	token := q.Get("x-amz-security-token")
	if !hmac.Equal([]byte(token), []byte(p.token)) {
		return wire.Caller{}, failInvalidToken, ""
	}
	expires, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil {
		return wire.Caller{}, failIncompleteSig, "Expires must be a number of seconds since the epoch"
	}
	if time.Now().Unix() > expires {
		return wire.Caller{}, failPresignExpired, ""
	}
	var amz []string
	for k, vs := range q {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk+":"+strings.Join(vs, ","))
		}
	}
	for k, vs := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk+":"+strings.Join(vs, ","))
		}
	}
	sort.Strings(amz)
	toSign := r.Method + "\n" + r.Header.Get("Content-MD5") + "\n" + r.Header.Get("Content-Type") + "\n" +
		q.Get("Expires") + "\n"
	for _, h := range amz {
		toSign += h + "\n"
	}
	toSign += v2Resource(r)
	mac := hmac.New(sha1.New, []byte(p.secret))
	mac.Write([]byte(toSign))
	if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(q.Get("Signature"))) {
		return wire.Caller{}, failBadSignature, ""
	}
	if !p.expires.IsZero() && !s.now().Before(p.expires) {
		return wire.Caller{}, failExpiredToken, ""
	}
	return p.caller, failNone, ""
}

// v2Resource is the path as sent plus the sub-resources of the query.
func v2Resource(r *http.Request) string {
	res := canonicalURI(r, true)
	var subs []string
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		k, v, hasV := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		if !s3SubResources[k] {
			continue
		}
		if hasV {
			v, _ = url.QueryUnescape(v)
			subs = append(subs, k+"="+v)
		} else {
			subs = append(subs, k)
		}
	}
	sort.Strings(subs)
	if len(subs) > 0 {
		res += "?" + strings.Join(subs, "&")
	}
	return res
}
