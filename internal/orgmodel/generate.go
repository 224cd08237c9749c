package orgmodel

import (
	"errors"
	"time"
)

// GenerateOptions shape a generated organization.
type GenerateOptions struct {
	OUs      int   // 0..1000
	Accounts int   // >= 1, the management account included
	Depth    int   // deepest OU level under the root, 1..5
	Seed     int64 // same seed, same organization
	Policies int   // extra allow-list SCPs besides FullAWSAccess; 0 means 6
	// AsOf is the instant the activity describes; zero means
	// DefaultAsOf, never the wall clock, so output is deterministic.
	AsOf time.Time
}

// DefaultAsOf is the AsOf of generated organizations when none is given.
var DefaultAsOf = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Generate builds a random but realistic organization, deterministic for
// opts.
func Generate(opts GenerateOptions) (*Org, error) {
	return nil, errors.New("generate: not implemented yet")
}
