package objstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/orgaudit/orgaudit/internal/objstore"
)

func TestConditionalPut(t *testing.T) {
	stores := map[string]func(t *testing.T) objstore.Store{
		"dir": func(t *testing.T) objstore.Store { return objstore.NewDir(t.TempDir(), "orgaudit/") },
		"s3":  func(t *testing.T) objstore.Store { return newS3Store(t, "orgaudit/") },
	}
	const key = "runs/r1/manifest.json"
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, ok := mk(t).(objstore.Conditional)
			if !ok {
				t.Fatalf("Got(%s store) not Conditional; want conditional writes", name)
			}
			v1, err := st.PutIf(ctx, key, []byte("m1"), "application/json", "")
			if err != nil || v1 == "" {
				t.Fatalf("Got(PutIf create) = %q, %v; want a version", v1, err)
			}
			if _, err := st.PutIf(ctx, key, []byte("other"), "application/json", ""); !errors.Is(err, objstore.ErrConflict) {
				t.Errorf("Got(PutIf create of an existing key) error = %v; want ErrConflict", err)
			}
			b, v, err := st.GetVersion(ctx, key)
			if err != nil || string(b) != "m1" || v != v1 {
				t.Fatalf("Got(GetVersion) = %q, %q, %v; want m1, %q", b, v, err, v1)
			}
			v2, err := st.PutIf(ctx, key, []byte("m2"), "application/json", v1)
			if err != nil || v2 == v1 {
				t.Fatalf("Got(PutIf on the version read) = %q, %v; want a new version", v2, err)
			}
			// A writer that read v1 lost the race to the one that wrote v2.
			if _, err := st.PutIf(ctx, key, []byte("stale"), "application/json", v1); !errors.Is(err, objstore.ErrConflict) {
				t.Errorf("Got(PutIf on a stale version) error = %v; want ErrConflict", err)
			}
			if b, _ := st.Get(ctx, key); string(b) != "m2" {
				t.Errorf("Got(body after the lost race) = %q; want m2 kept", b)
			}
			if _, err := st.PutIf(ctx, "runs/r2/manifest.json", []byte("x"), "", v2); !errors.Is(err, objstore.ErrConflict) {
				t.Errorf("Got(PutIf on a missing key with a version) error = %v; want ErrConflict", err)
			}
			keys, err := st.List(ctx, "runs/")
			if err != nil || len(keys) != 1 || keys[0] != key {
				t.Errorf("Got(List) = %q, %v; want only %s (no lock or temporary files)", keys, err, key)
			}

			// Many writers of the version they all read: exactly one wins.
			_, base, _ := st.GetVersion(ctx, key)
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, lost := 0, 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := st.PutIf(ctx, key, []byte{byte('a' + i)}, "", base)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, objstore.ErrConflict):
						lost++
					default:
						t.Errorf("PutIf: %v", err)
					}
				}()
			}
			wg.Wait()
			if won != 1 || lost != 7 {
				t.Errorf("Got(8 racing writers) %d won, %d lost; want 1 and 7", won, lost)
			}
		})
	}
}
