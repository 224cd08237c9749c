// Package config holds the settings of an audit run that come from the
// function environment (or the CLI's flags of the same meaning), and builds
// the AWS clients the pipeline uses.
package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Environment variable names (docs/deploy.md, the functions' environment).
const (
	EnvBucket            = "ORGAUDIT_BUCKET"
	EnvPrefix            = "ORGAUDIT_PREFIX"
	EnvReportRoleARN     = "ORGAUDIT_REPORT_ROLE_ARN"
	EnvReportRoleSession = "ORGAUDIT_REPORT_ROLE_SESSION"
	EnvUnusedDays        = "ORGAUDIT_UNUSED_DAYS"
	EnvMaxConcurrentJobs = "ORGAUDIT_MAX_CONCURRENT_JOBS"
	EnvIncludeAccounts   = "ORGAUDIT_INCLUDE_ACCOUNTS"
	EnvIncludePolicies   = "ORGAUDIT_INCLUDE_POLICIES"
	EnvMaxRunMinutes     = "ORGAUDIT_MAX_RUN_MINUTES"
	EnvAccountRefresh    = "ORGAUDIT_ACCOUNT_REFRESH_DAYS"
)

// Defaults and bounds.
const (
	DefaultPrefix            = "orgaudit/"
	DefaultReportRoleSession = "orgaudit"
	DefaultUnusedDays        = 90
	DefaultMaxConcurrentJobs = 1
	DefaultStepBudget        = 10 * time.Minute

	// MinUnusedDays and MaxUnusedDays bound the unused threshold. IAM keeps
	// service last accessed data for about 400 days, so a longer threshold
	// could not be told apart from "never accessed".
	MinUnusedDays = 1
	MaxUnusedDays = 400

	// MinConcurrentJobs and MaxConcurrentJobs bound the report jobs one run
	// keeps in flight. IAM allows about one job at a time per account and
	// answers more with ReportGenerationLimitExceeded; a higher window only
	// helps where AWS has raised that limit.
	MinConcurrentJobs = 1
	MaxConcurrentJobs = 10

	// DefaultMaxRunMinutes is the time budget of a run: a nightly run ends
	// within six hours, whatever the organization's size. MaxRunMinutes
	// (23 hours) keeps a run well inside the state machine's 24-hour
	// timeout, which would end it without a summary. A budget is any
	// positive number of minutes up to that (fractions allowed).
	DefaultMaxRunMinutes = 360.0
	MaxRunMinutes        = 1380.0

	// DefaultAccountRefreshDays is the age at which a carried account
	// report is refreshed before any fresher one; up to MaxUnusedDays.
	DefaultAccountRefreshDays = 7
	MinAccountRefreshDays     = 1
	MaxAccountRefreshDays     = 400
)

// Config is the configuration of the pipeline.
type Config struct {
	Bucket string // S3 bucket of the reports (unused by a local directory store)
	Prefix string // key prefix inside the bucket, e.g. "orgaudit/"
	// ReportRoleARN is the role every IAM and Organizations call assumes;
	// empty means the caller's own credentials. One principal matters: a
	// report job is readable only by the principal that created it.
	ReportRoleARN     string
	ReportRoleSession string

	// Run defaults; the run input may override them.
	UnusedDays        int
	MaxConcurrentJobs int
	IncludeAccounts   bool
	IncludePolicies   bool
	// MaxRunMinutes is the run's time budget; AccountRefreshDays the age at
	// which a carried account report is refreshed first. Zero means the
	// default.
	MaxRunMinutes      float64
	AccountRefreshDays int

	// StepBudget bounds one step when its context has no deadline (the
	// CLI). A Lambda step uses its deadline minus a safety margin instead.
	StepBudget time.Duration
}

// Default returns the configuration with every documented default and no
// bucket.
func Default() Config {
	return Config{
		Prefix:            DefaultPrefix,
		ReportRoleSession: DefaultReportRoleSession,
		UnusedDays:        DefaultUnusedDays,
		MaxConcurrentJobs: DefaultMaxConcurrentJobs,
		StepBudget:        DefaultStepBudget,

		MaxRunMinutes:      DefaultMaxRunMinutes,
		AccountRefreshDays: DefaultAccountRefreshDays,
	}
}

// FromEnv reads the configuration from the environment through getenv
// (os.Getenv in the functions). ORGAUDIT_BUCKET is required; everything else
// has its documented default. A malformed value is an error naming the
// variable.
func FromEnv(getenv func(string) string) (Config, error) {
	c, err := FromEnvOptionalBucket(getenv)
	if err == nil && c.Bucket == "" {
		return Config{}, fmt.Errorf("%s: required", EnvBucket)
	}
	return c, err
}

// FromEnvOptionalBucket is FromEnv for the CLI, where the environment only
// supplies defaults and writing to a local directory needs no bucket.
func FromEnvOptionalBucket(getenv func(string) string) (Config, error) {
	c := Default()
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c.Bucket = get(EnvBucket)
	if v, ok := lookup(getenv, EnvPrefix); ok {
		c.Prefix = v // an explicitly empty prefix means the bucket root
	}
	c.ReportRoleARN = get(EnvReportRoleARN)
	if v := get(EnvReportRoleSession); v != "" {
		c.ReportRoleSession = v
	}
	var err error
	if c.UnusedDays, err = intVar(get, EnvUnusedDays, c.UnusedDays, MinUnusedDays, MaxUnusedDays); err != nil {
		return Config{}, err
	}
	if c.MaxConcurrentJobs, err = intVar(get, EnvMaxConcurrentJobs, c.MaxConcurrentJobs, MinConcurrentJobs, MaxConcurrentJobs); err != nil {
		return Config{}, err
	}
	if c.AccountRefreshDays, err = intVar(get, EnvAccountRefresh, c.AccountRefreshDays, MinAccountRefreshDays, MaxAccountRefreshDays); err != nil {
		return Config{}, err
	}
	if v := get(EnvMaxRunMinutes); v != "" {
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Config{}, fmt.Errorf("%s: %q is not a number of minutes", EnvMaxRunMinutes, v)
		}
		if !ValidRunMinutes(f) {
			return Config{}, fmt.Errorf("%s: %v is out of range: more than 0, at most %v minutes", EnvMaxRunMinutes, f, MaxRunMinutes)
		}
		c.MaxRunMinutes = f
	}
	if c.IncludeAccounts, err = boolVar(get, EnvIncludeAccounts); err != nil {
		return Config{}, err
	}
	if c.IncludePolicies, err = boolVar(get, EnvIncludePolicies); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks the fields FromEnv checks, for configurations built from
// flags.
func (c Config) Validate() error {
	switch {
	case c.UnusedDays < MinUnusedDays || c.UnusedDays > MaxUnusedDays:
		return fmt.Errorf("%s: %d is out of range %d..%d", EnvUnusedDays, c.UnusedDays, MinUnusedDays, MaxUnusedDays)
	case c.MaxConcurrentJobs < MinConcurrentJobs || c.MaxConcurrentJobs > MaxConcurrentJobs:
		return fmt.Errorf("%s: %d is out of range %d..%d", EnvMaxConcurrentJobs, c.MaxConcurrentJobs, MinConcurrentJobs, MaxConcurrentJobs)
	case c.MaxRunMinutes != 0 && !ValidRunMinutes(c.MaxRunMinutes):
		return fmt.Errorf("%s: %v is out of range: more than 0, at most %v minutes", EnvMaxRunMinutes, c.MaxRunMinutes, MaxRunMinutes)
	case c.AccountRefreshDays != 0 && (c.AccountRefreshDays < MinAccountRefreshDays || c.AccountRefreshDays > MaxAccountRefreshDays):
		return fmt.Errorf("%s: %d is out of range %d..%d", EnvAccountRefresh, c.AccountRefreshDays, MinAccountRefreshDays, MaxAccountRefreshDays)
	case c.ReportRoleARN != "" && !strings.HasPrefix(c.ReportRoleARN, "arn:"):
		return fmt.Errorf("%s: %q is not an ARN", EnvReportRoleARN, c.ReportRoleARN)
	case c.ReportRoleSession == "":
		return fmt.Errorf("%s: must not be empty", EnvReportRoleSession)
	}
	return nil
}

// ValidRunMinutes reports whether m is a usable run budget in minutes.
func ValidRunMinutes(m float64) bool { return m > 0 && m <= MaxRunMinutes }

// lookup tells an unset variable from one set to the empty string; getenv
// cannot, so only a non-empty value counts as set, except for the prefix
// where the literal "/" also means the bucket root.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return "", false
	}
	if v == "/" {
		return "", true
	}
	return v, true
}

func intVar(get func(string) string, name string, def, lo, hi int) (int, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s: %d is out of range %d..%d", name, n, lo, hi)
	}
	return n, nil
}

func boolVar(get func(string) string, name string) (bool, error) {
	v := get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean (true or false)", name, v)
	}
	return b, nil
}

// LambdaMemoryLimit returns a soft memory limit for the Go runtime of a
// function: 80% of its memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), so
// the garbage collector works harder before the function runs out, rather
// than letting the heap double. ok is false outside Lambda or when
// GOMEMLIMIT is set.
func LambdaMemoryLimit(getenv func(string) string) (limit int64, ok bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	mb, err := strconv.Atoi(strings.TrimSpace(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")))
	if err != nil || mb <= 0 {
		return 0, false
	}
	return int64(mb) << 20 * 8 / 10, true
}
