// Package objstore stores orgaudit's documents under a prefix: in S3 for the
// Lambda functions, in a local directory for the CLI. Keys are the relative
// keys of package reportdoc ("runs/<runId>/manifest.json", …); the store adds
// its prefix.
package objstore

import (
	"context"
	"errors"
)

// ErrNotFound is returned (wrapped) by Get when the key does not exist.
var ErrNotFound = errors.New("object not found")

// Store is storage under a prefix.
type Store interface {
	// Get returns the object's bytes; errors.Is(err, ErrNotFound) when absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes the object whole, replacing any previous version.
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// List returns the keys (without the store prefix) that start with
	// prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Location names the object for messages: "s3://bucket/prefix/key" or a
	// file path.
	Location(key string) string
}

// joinPrefix returns prefix with exactly one trailing slash, or "" when
// prefix is empty, so that "orgaudit" and "orgaudit/" mean the same.
func joinPrefix(prefix string) string {
	for len(prefix) > 0 && prefix[0] == '/' {
		prefix = prefix[1:]
	}
	if prefix == "" {
		return ""
	}
	if prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	return prefix
}
