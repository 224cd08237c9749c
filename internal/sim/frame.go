package sim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// Services, by their SigV4 signing name.
const (
	svcOrganizations = "organizations"
	svcIAM           = "iam"
	svcSTS           = "sts"
	svcS3            = "s3"
)

// globalRegion is the only region Organizations and IAM accept in a
// credential scope.
const globalRegion = "us-east-1"

const (
	orgTargetPrefix = "AWSOrganizationsV20161128."
	maxBodyBytes    = 64 << 20
)

// failure is a frame-level refusal; each protocol words it its own way.
type failure int

const (
	failNone failure = iota - 1 // authenticated
	failMissingAuth
	failIncompleteSig
	failUnknownKey
	failInvalidToken
	failExpiredToken
	failBadSignature
	failSkew
	failPresignExpired
	failThrottled
	failInternal
	failUnavailable
	failUnknownService
	failTooLarge
	failPayloadHash
	failWrongRegion
)

type shape struct {
	status        int
	code, message string
}

const sigMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// Query (IAM, STS), JSON 1.1 (Organizations) and S3 REST answers.
var (
	queryShapes = map[failure]shape{
		failMissingAuth:    {403, "MissingAuthenticationToken", "Request is missing Authentication Token"},
		failIncompleteSig:  {400, "IncompleteSignature", ""},
		failUnknownKey:     {403, "InvalidClientTokenId", "The security token included in the request is invalid."},
		failInvalidToken:   {403, "InvalidClientTokenId", "The security token included in the request is invalid."},
		failExpiredToken:   {403, "ExpiredToken", "The security token included in the request is expired"},
		failBadSignature:   {403, "SignatureDoesNotMatch", sigMismatch},
		failSkew:           {403, "SignatureDoesNotMatch", ""},
		failPresignExpired: {403, "AccessDenied", "Request has expired"},
		failThrottled:      {400, "Throttling", "Rate exceeded"},
		failInternal:       {500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."},
		failUnavailable:    {503, "ServiceUnavailable", "Service is unavailable. Please try again later."},
		failUnknownService: {400, "InvalidAction", ""},
		failTooLarge:       {413, "RequestEntityTooLarge", "Request body too large"},
		failWrongRegion:    {403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region."},
	}
	jsonShapes = map[failure]shape{
		failMissingAuth:    {400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		failIncompleteSig:  {400, "IncompleteSignatureException", ""},
		failUnknownKey:     {400, "UnrecognizedClientException", "The security token included in the request is invalid."},
		failInvalidToken:   {400, "UnrecognizedClientException", "The security token included in the request is invalid."},
		failExpiredToken:   {400, "ExpiredTokenException", "The security token included in the request is expired"},
		failBadSignature:   {400, "InvalidSignatureException", sigMismatch},
		failSkew:           {400, "InvalidSignatureException", ""},
		failPresignExpired: {400, "InvalidSignatureException", "Request has expired"},
		failThrottled:      {400, "TooManyRequestsException", "You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later."},
		failInternal:       {500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."},
		failUnavailable:    {503, "ServiceUnavailable", "Service is unavailable. Please try again later."},
		failTooLarge:       {413, "RequestEntityTooLargeException", "Request body too large"},
		failWrongRegion:    {400, "InvalidSignatureException", "Credential should be scoped to a valid region."},
	}
	s3Shapes = map[failure]shape{
		failMissingAuth:    {403, "AccessDenied", "Access Denied"},
		failIncompleteSig:  {400, "AuthorizationHeaderMalformed", ""},
		failUnknownKey:     {403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."},
		failInvalidToken:   {400, "InvalidToken", "The provided token is malformed or otherwise invalid."},
		failExpiredToken:   {400, "ExpiredToken", "The provided token has expired."},
		failBadSignature:   {403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
		failSkew:           {403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."},
		failPresignExpired: {403, "AccessDenied", "Request has expired"},
		failThrottled:      {503, "SlowDown", "Please reduce your request rate."},
		failInternal:       {500, "InternalError", "We encountered an internal error. Please try again."},
		failUnavailable:    {503, "ServiceUnavailable", "Please reduce your request rate."},
		failTooLarge:       {400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"},
		failPayloadHash:    {400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."},
	}
)

// fail writes the refusal f as service svc answers it; message, when not
// empty, replaces the default wording.
func (s *Simulator) fail(w http.ResponseWriter, r *http.Request, svc string, f failure, message string) {
	switch svc {
	case svcOrganizations:
		sh := jsonShapes[f]
		if message != "" {
			sh.message = message
		}
		wire.WriteJSONError(w, r, sh.status, sh.code, sh.message)
	case svcS3:
		sh := s3Shapes[f]
		if message != "" {
			sh.message = message
		}
		wire.WriteS3Error(w, r, sh.status, sh.code, sh.message)
	default:
		sh := queryShapes[f]
		if message != "" {
			sh.message = message
		}
		ns := wire.IAMNamespace
		if svc == svcSTS {
			ns = wire.STSNamespace
		}
		wire.WriteQueryError(w, r, ns, sh.status, sh.code, sh.message)
	}
}

// exchange is one request on its way through the frame.
type exchange struct {
	svc    string
	op     string
	caller wire.Caller
	body   []byte // buffered for every service but S3 streaming uploads
	reset  bool   // the connection was reset without an answer
}

func (s *Simulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := wire.NewRequestID()
	r = r.WithContext(wire.WithRequestID(r.Context(), id))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	x := &exchange{}
	defer func() {
		attrs := []slog.Attr{
			slog.String("requestId", id),
			slog.String("service", x.svc),
			slog.String("op", x.op),
			slog.String("caller", x.caller.ARN),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		}
		if x.reset {
			attrs[4] = slog.String("status", "reset") // no answer was sent
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}()
	if s.network.RoundTrip > 0 {
		s.delayed(rec, r, x, s.serve)
		return
	}
	s.serve(rec, r, x)
}

func (s *Simulator) serve(w http.ResponseWriter, r *http.Request, x *exchange) {
	sig, signed, malformed := parseSig(r)
	if signed && malformed == "" {
		x.svc = sig.service
	} else {
		x.svc = s.guessService(r, x)
	}
	switch x.svc {
	case svcOrganizations, svcIAM, svcSTS, svcS3:
	default:
		x.op = "unknown"
		s.fail(w, r, svcIAM, failUnknownService, "The simulator does not serve the service "+x.svc+" named in the credential scope.")
		return
	}
	var caller wire.Caller
	var f failure
	var msg string
	switch {
	case !signed && x.svc == svcS3 && hasSigV2Query(r):
		caller, f, msg = s.authenticateV2(r)
	case !signed:
		f = failMissingAuth
	case malformed != "":
		f, msg = failIncompleteSig, malformed
	case (x.svc == svcOrganizations || x.svc == svcIAM) && sig.region != globalRegion:
		// Global services: AWS verifies the signature for us-east-1 only.
		f, msg = failWrongRegion, "Credential should be scoped to a valid region, not '"+sig.region+"'."
	default:
		caller, f, msg = s.authenticate(r, sig, x)
	}
	x.op = s.opName(r, x)
	if f != failNone {
		s.fail(w, r, x.svc, f, msg)
		return
	}
	x.caller = caller
	r = r.WithContext(wire.WithCaller(r.Context(), caller))
	if b := s.buckets[x.svc]; b != nil && !b.take(time.Now()) {
		s.mu.Lock()
		if s.faults.Throttled == nil {
			s.faults.Throttled = map[string]int{}
		}
		s.faults.Throttled[x.svc]++
		s.mu.Unlock()
		s.fail(w, r, x.svc, failThrottled, "")
		return
	}
	if reset, after := s.drawReset(); reset {
		if after {
			s.dispatch(&lostAnswer{header: http.Header{}}, r, x)
		}
		x.reset = true
		s.resetConn(w, r, x)
		return
	}
	if f, injected := s.injectFault(); injected {
		s.fail(w, r, x.svc, f, "")
		return
	}
	s.dispatch(w, r, x)
}

// dispatch hands an authenticated request to its service.
func (s *Simulator) dispatch(w http.ResponseWriter, r *http.Request, x *exchange) {
	switch x.svc {
	case svcOrganizations:
		s.serveOrganizations(w, r, x)
	case svcSTS:
		s.serveSTS(w, r, x)
	case svcIAM:
		s.iam.ServeHTTP(w, r)
	case svcS3:
		s.serveS3(w, r)
	}
}

// drawReset draws whether this request's connection is reset, and if so
// whether after the service acted on it.
func (s *Simulator) drawReset() (reset, after bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rstRate <= 0 {
		return false, false
	}
	reset, after = s.rng.Float64() < s.rstRate, s.rng.IntN(2) == 1
	after = reset && after
	if reset {
		s.faults.Resets++
	}
	if after {
		s.faults.LostAnswers++
	}
	return reset, after
}

// resetConn closes the request's connection with a TCP RST and no answer.
// A connection that cannot be taken over (not HTTP/1.x) gets an injected
// 500 instead, which clients retry the same way.
func (s *Simulator) resetConn(w http.ResponseWriter, r *http.Request, x *exchange) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Warn("cannot reset this connection; answering 500 instead", "error", err.Error())
		s.fail(w, r, x.svc, failInternal, "")
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

// lostAnswer is the response writer of a request whose answer is lost:
// the service acts, nobody hears it.
type lostAnswer struct{ header http.Header }

func (l *lostAnswer) Header() http.Header         { return l.header }
func (l *lostAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (l *lostAnswer) WriteHeader(int)             {}

// guessService names the service of a request that carries no usable
// signature, so its refusal has the right shape.
func (s *Simulator) guessService(r *http.Request, x *exchange) string {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), orgTargetPrefix) {
		return svcOrganizations
	}
	version := r.URL.Query().Get("Version")
	if version == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if s.bufferBody(r, x) == nil {
			if v, err := url.ParseQuery(string(x.body)); err == nil {
				version = v.Get("Version")
			}
		}
	}
	switch version {
	case "2010-05-08":
		return svcIAM
	case "2011-06-15":
		return svcSTS
	}
	return svcS3
}

// opName names the operation for the request log.
func (s *Simulator) opName(r *http.Request, x *exchange) string {
	switch x.svc {
	case svcOrganizations:
		return strings.TrimPrefix(r.Header.Get("X-Amz-Target"), orgTargetPrefix)
	case svcIAM, svcSTS:
		if a := r.URL.Query().Get("Action"); a != "" {
			return a
		}
		if v, err := url.ParseQuery(string(x.body)); err == nil {
			return v.Get("Action")
		}
		return ""
	default:
		return r.Method + " " + r.URL.Path
	}
}

// bufferBody reads the body once into x.body and leaves r.Body readable.
func (s *Simulator) bufferBody(r *http.Request, x *exchange) error {
	if x.body != nil || r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxBodyBytes {
		return errTooLarge
	}
	r.Body.Close()
	x.body = b
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

type frameError string

func (e frameError) Error() string { return string(e) }

const errTooLarge = frameError("request body too large")

var hexHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// authenticate verifies r's SigV4 signature. It returns the caller and
// failNone, or the failure and its message.
func (s *Simulator) authenticate(r *http.Request, sig sigInput, x *exchange) (wire.Caller, failure, string) {
	p, ok := s.creds.lookup(sig.accessKey)
	if !ok {
		return wire.Caller{}, failUnknownKey, ""
	}
	switch {
	case p.token == "" && sig.token != "":
		return wire.Caller{}, failInvalidToken, ""
	case p.token != "" && !hmac.Equal([]byte(sig.token), []byte(p.token)):
		return wire.Caller{}, failInvalidToken, ""
	}
	if sig.amzDate == "" {
		return wire.Caller{}, failIncompleteSig, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	}
	t, err := time.Parse(amzDateLayout, sig.amzDate)
	if err != nil {
		return wire.Caller{}, failIncompleteSig, "X-Amz-Date " + sig.amzDate + " is not in the yyyyMMdd'T'HHmmss'Z' format."
	}
	if !strings.HasPrefix(sig.amzDate, sig.date) {
		return wire.Caller{}, failBadSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + sig.date + "' != '" + sig.amzDate[:8] + "'"
	}
	now := time.Now().UTC()
	switch {
	case sig.presigned && now.After(t.Add(time.Duration(sig.expires)*time.Second)):
		return wire.Caller{}, failPresignExpired, ""
	case t.After(now.Add(maxClockSkew)):
		return wire.Caller{}, failSkew, "Signature not yet current: " + sig.amzDate + " is still later than " +
			now.Add(maxClockSkew).Format(amzDateLayout) + " (" + now.Format(amzDateLayout) + " + 15 min.)"
	case !sig.presigned && t.Before(now.Add(-maxClockSkew)):
		return wire.Caller{}, failSkew, "Signature expired: " + sig.amzDate + " is now earlier than " +
			now.Add(-maxClockSkew).Format(amzDateLayout) + " (" + now.Format(amzDateLayout) + " - 15 min.)"
	}
	var payloadHash string
	if x.svc == svcS3 {
		payloadHash = r.Header.Get("X-Amz-Content-Sha256")
		if payloadHash == "" && sig.presigned {
			payloadHash = unsignedPayload
		}
		if payloadHash == "" {
			return wire.Caller{}, failIncompleteSig, "Missing required header for this request: x-amz-content-sha256"
		}
		if hexHashRE.MatchString(payloadHash) {
			if err := s.bufferBody(r, x); err != nil {
				return wire.Caller{}, failTooLarge, ""
			}
			if sum := sha256.Sum256(x.body); hex.EncodeToString(sum[:]) != payloadHash {
				return wire.Caller{}, failPayloadHash, ""
			}
		}
	} else {
		if err := s.bufferBody(r, x); err != nil {
			return wire.Caller{}, failTooLarge, ""
		}
		sum := sha256.Sum256(x.body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	want, _ := sig.expectedSignature(r, p.secret, payloadHash)
	if !hmac.Equal([]byte(want), []byte(sig.signature)) {
		return wire.Caller{}, failBadSignature, ""
	}
	// Expiry is checked last, as AWS only reports it for valid signatures.
	if !p.expires.IsZero() && !s.now().Before(p.expires) {
		return wire.Caller{}, failExpiredToken, ""
	}
	return p.caller, failNone, ""
}

// injectFault draws whether this request fails with an injected 5xx.
func (s *Simulator) injectFault() (failure, bool) {
	if s.errRate <= 0 {
		return 0, false
	}
	s.mu.Lock()
	hit, kind := s.rng.Float64() < s.errRate, s.rng.IntN(2)
	if hit {
		s.faults.Errors++
	}
	s.mu.Unlock()
	if !hit {
		return 0, false
	}
	if kind == 0 {
		return failInternal, true
	}
	return failUnavailable, true
}

// tokenBucket limits one API family to rate requests per second with a
// burst of max(1, rate).
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64) *tokenBucket {
	burst := max(1, rate)
	return &tokenBucket{rate: rate, burst: burst, tokens: burst}
}

func (b *tokenBucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
