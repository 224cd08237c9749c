package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type dirStore struct {
	base string // root joined with the prefix
}

// NewDir returns a Store that keeps objects as files under root/prefix. A
// Put writes a temporary file in the target's directory and renames it, so
// a reader never sees half an object.
func NewDir(root, prefix string) Store {
	return &dirStore{base: filepath.Join(root, filepath.FromSlash(joinPrefix(prefix)))}
}

// path maps a key to its file, refusing keys that would leave the store.
func (d *dirStore) path(key string) (string, error) {
	if key == "" || !fs.ValidPath(key) {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(d.base, filepath.FromSlash(key)), nil
}

func (d *dirStore) Get(ctx context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", p, err)
	}
	return b, nil
}

func (d *dirStore) Put(ctx context.Context, key string, body []byte, _ string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", p, err)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("put %s: %w", p, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", p, err)
	}
	tmp := f.Name()
	_, werr := f.Write(body)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", p, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", p, err)
	}
	return nil
}

func (d *dirStore) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		// Temporary files of a Put in flight are not objects.
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(d.base, p)
		if err != nil {
			return err
		}
		k := filepath.ToSlash(rel)
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Location(prefix), err)
	}
	sort.Strings(keys)
	return keys, nil
}

func (d *dirStore) Location(key string) string {
	return filepath.Join(d.base, filepath.FromSlash(key))
}
