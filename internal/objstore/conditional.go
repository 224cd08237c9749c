package objstore

import (
	"context"
	"errors"
)

// ErrConflict is returned (wrapped) by a conditional Put when the object is
// not what the writer read: another writer changed it (or created it) in
// between.
var ErrConflict = errors.New("object changed since it was read")

// Conditional is a Store that can write an object only if it is unchanged
// since it was read, as S3's conditional writes do (If-Match on the ETag,
// If-None-Match: * to create). A writer that loses a race learns it
// instead of overwriting the other's update.
type Conditional interface {
	Store
	// GetVersion returns the object and its version (S3's ETag);
	// errors.Is(err, ErrNotFound) when absent.
	GetVersion(ctx context.Context, key string) (body []byte, version string, err error)
	// PutIf writes the object only if its current version is version, or,
	// with version "", only if it does not exist; errors.Is(err,
	// ErrConflict) otherwise. It returns the new version.
	PutIf(ctx context.Context, key string, body []byte, contentType, version string) (string, error)
}

var (
	_ Conditional = (*s3Store)(nil)
	_ Conditional = (*dirStore)(nil)
)
