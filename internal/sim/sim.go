// Package sim is a loopback stand-in for the AWS endpoints orgaudit talks
// to: Organizations (JSON 1.1), IAM access reports (Query/XML, served by
// package iamreports), STS (AssumeRole, GetCallerIdentity) and S3. One
// http.Handler routes every request by the service named in its SigV4
// credential scope, verifies the signature against the credentials it
// knows, throttles and injects faults the way AWS answers them, and hands
// the request to the service.
//
// Point any AWS client at it with AWS_ENDPOINT_URL (S3 needs path-style
// addressing); see docs/simulator.md.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// DefaultAccessKeyID and DefaultSecretAccessKey are the long-term
// credentials every simulator knows: the management account's
// administrator, named DefaultUserName.
const (
	DefaultAccessKeyID     = "test"
	DefaultSecretAccessKey = "test"
	DefaultUserName        = "admin"
)

// Options configures a Simulator.
type Options struct {
	Org *orgmodel.Org
	// IAM is passed through to the IAM access-report service.
	IAM iamreports.Options
	// IAMTPS and OrgTPS are the token-bucket rates (requests per second)
	// of the IAM and Organizations APIs; 0 means unlimited. The burst is
	// max(1, rate).
	IAMTPS, OrgTPS float64
	// ErrorRate is the fraction of authenticated requests answered with an
	// injected 500 or 503, shaped as each protocol shapes it.
	ErrorRate float64
	// ResetRate is the fraction of authenticated requests whose connection
	// is reset (TCP RST) without an answer: half of them before the
	// service sees the request, half after it has acted on it (the answer
	// lost on the way back, the harder case for a client's retry).
	ResetRate float64
	// Credentials are long-term credentials known besides test/test.
	Credentials []Credential
	// Buckets are S3 buckets created at start.
	Buckets []string
	// Logger receives one record per request; nil discards.
	Logger *slog.Logger
	// Seed makes fault injection deterministic.
	Seed int64
	// Network delays every request of every service as a network between
	// the client and AWS would; the zero value is loopback.
	Network Network
}

// Credential is a long-term access key and the principal it belongs to.
// ARN is arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:root.
type Credential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	ARN             string `json:"arn"`
	// NoOrganizationsAccess leaves the principal without Organizations
	// permissions: its Organizations calls are AccessDeniedException and,
	// as IAM checks them while a report job runs, its report jobs end
	// FAILED with ORGANIZATIONS_REPORT_ACCESS_DENIED.
	NoOrganizationsAccess bool `json:"noOrganizationsAccess,omitempty"`
}

// Simulator serves the simulated AWS endpoints of one organization.
type Simulator struct {
	org      *orgmodel.Org
	accounts map[string]int // account id -> index in org.Accounts
	orgOps   map[string]orgOp
	iam      *iamreports.Service
	s3       http.Handler
	s3mem    *s3mem.Backend
	log      *slog.Logger
	creds    *credStore
	buckets  map[string]*tokenBucket // service -> bucket; absent: unlimited
	errRate  float64
	rstRate  float64
	network  Network

	mu     sync.Mutex // guards rng and faults
	rng    *rand.Rand
	faults FaultStats

	tokenKey []byte // signs Organizations NextTokens

	// now is the clock for session expiry; signatures are always checked
	// against the wall clock because clients sign with it.
	now func() time.Time
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// New returns a Simulator for opts.Org.
func New(opts Options) (*Simulator, error) {
	if opts.Org == nil {
		return nil, errors.New("new simulator: no organization")
	}
	if opts.ErrorRate < 0 || opts.ErrorRate > 1 {
		return nil, fmt.Errorf("new simulator: error rate %v: want 0..1", opts.ErrorRate)
	}
	if opts.ResetRate < 0 || opts.ResetRate > 1 {
		return nil, fmt.Errorf("new simulator: reset rate %v: want 0..1", opts.ResetRate)
	}
	if opts.IAMTPS < 0 || opts.OrgTPS < 0 {
		return nil, errors.New("new simulator: negative request rate")
	}
	if err := opts.Network.validate(); err != nil {
		return nil, fmt.Errorf("new simulator: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	creds, err := newCredStore(opts.Org, opts.Credentials)
	if err != nil {
		return nil, fmt.Errorf("new simulator: %w", err)
	}
	s := &Simulator{
		org:      opts.Org,
		iam:      iamreports.New(opts.Org, opts.IAM),
		log:      log,
		creds:    creds,
		buckets:  map[string]*tokenBucket{},
		errRate:  opts.ErrorRate,
		rstRate:  opts.ResetRate,
		network:  opts.Network,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x6f72676175646974)),
		tokenKey: randomBytes(32),
		now:      time.Now,
		accounts: map[string]int{},
	}
	for i, a := range opts.Org.Accounts {
		s.accounts[a.ID] = i
	}
	s.orgOps = s.organizationsOps()
	if opts.IAMTPS > 0 {
		s.buckets[svcIAM] = newTokenBucket(opts.IAMTPS)
	}
	if opts.OrgTPS > 0 {
		s.buckets[svcOrganizations] = newTokenBucket(opts.OrgTPS)
	}
	s.s3mem = s3mem.New()
	for _, b := range opts.Buckets {
		if !bucketNameRE.MatchString(b) {
			return nil, fmt.Errorf("new simulator: bucket name %q is not a valid S3 bucket name", b)
		}
		if err := s.s3mem.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("new simulator: create bucket %s: %w", b, err)
		}
	}
	s.s3 = gofakes3.New(s.s3mem, gofakes3.WithAutoBucket(false), gofakes3.WithTimeSkewLimit(0)).Server()
	return s, nil
}

// Handler returns the one handler that serves every simulated service.
func (s *Simulator) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// IAM returns the IAM access-report service, for its statistics.
func (s *Simulator) IAM() *iamreports.Service { return s.iam }

// FaultStats counts the faults a Simulator injected, so that a test can
// show its fault really happened.
type FaultStats struct {
	// Throttled counts throttling answers by service signing name
	// ("iam", "organizations").
	Throttled map[string]int
	Errors    int // injected 500 and 503 answers
	Resets    int // connections reset without an answer
	// LostAnswers counts the resets after the service had acted (a job
	// started, an object written): a retry repeats a done request.
	LostAnswers int
}

// Faults returns the faults injected so far.
func (s *Simulator) Faults() FaultStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.Throttled = maps.Clone(f.Throttled)
	if f.Throttled == nil {
		f.Throttled = map[string]int{}
	}
	return f
}

// Org returns the simulated organization.
func (s *Simulator) Org() *orgmodel.Org { return s.org }

// Serve listens on addr (host:port; port 0 picks a free one) and serves s
// until stop is called or ctx is done. endpoint is the URL clients use,
// e.g. http://127.0.0.1:4566.
func Serve(ctx context.Context, addr string, s *Simulator) (endpoint string, stop func() error, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("serve simulator: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stopped := make(chan struct{})
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			close(stopped)
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopErr = srv.Shutdown(sctx)
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && stopErr == nil {
				stopErr = err
			}
		})
		return stopErr
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-stopped:
		}
	}()
	return "http://" + ln.Addr().String(), stop, nil
}
