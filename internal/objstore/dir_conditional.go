package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The directory store's version of an object is the SHA-256 of its bytes.
// A conditional Put holds a lock file beside the object while it compares
// and renames, so that two processes writing one directory see S3's
// semantics: one wins, the other gets ErrConflict.

// lockWait bounds how long a conditional Put waits for another's lock; a
// lock older than lockStale is left by a process that died and is broken.
const (
	lockWait  = 10 * time.Second
	lockStale = 30 * time.Second
)

func version(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (d *dirStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	b, err := d.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	return b, version(b), nil
}

func (d *dirStore) PutIf(ctx context.Context, key string, body []byte, contentType, want string) (string, error) {
	p, err := d.path(key)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("put %s: %w", p, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-lock"))
	if err != nil {
		return "", fmt.Errorf("put %s: %w", p, err)
	}
	defer unlock()
	cur, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if want != "" {
			return "", fmt.Errorf("put %s: %w (it no longer exists)", p, ErrConflict)
		}
	case err != nil:
		return "", fmt.Errorf("put %s: %w", p, err)
	case want == "":
		return "", fmt.Errorf("put %s: %w (it exists)", p, ErrConflict)
	case version(cur) != want:
		return "", fmt.Errorf("put %s: %w", p, ErrConflict)
	}
	if err := d.Put(ctx, key, body, contentType); err != nil {
		return "", err
	}
	return version(body), nil
}

// lockFile creates path exclusively, waiting for another holder to remove
// it, and returns the function that removes it.
func lockFile(ctx context.Context, path string) (func(), error) {
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is held by another writer for more than %v", path, lockWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
