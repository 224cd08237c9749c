package objstore_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/orgaudit/orgaudit/internal/objstore"
)

// newS3Store starts an in-memory S3 on a loopback port and returns a store
// using the real SDK client against it.
func newS3Store(t *testing.T, prefix string) objstore.Store {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("audit"); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return objstore.NewS3(client, "audit", prefix)
}

func TestStores(t *testing.T) {
	stores := map[string]func(t *testing.T) objstore.Store{
		"dir": func(t *testing.T) objstore.Store { return objstore.NewDir(t.TempDir(), "orgaudit/") },
		"s3":  func(t *testing.T) objstore.Store { return newS3Store(t, "orgaudit/") },
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := mk(t)
			if _, err := st.Get(ctx, "runs/r1/manifest.json"); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Got(Get absent) error = %v; want ErrNotFound", err)
			}
			keys, err := st.List(ctx, "runs/")
			if err != nil || len(keys) != 0 {
				t.Fatalf("Got(List empty) = %q, %v; want no keys", keys, err)
			}
			puts := map[string]string{
				"runs/r1/reports/ou-b.json": "b",
				"runs/r1/reports/ou-a.json": "a",
				"runs/r1/manifest.json":     "m1",
				"runs/r2/manifest.json":     "m2",
				"latest.json":               "l",
			}
			for k, v := range puts {
				if err := st.Put(ctx, k, []byte(v), "application/json"); err != nil {
					t.Fatalf("Put(%q): %v", k, err)
				}
			}
			// Overwrite replaces the whole object.
			if err := st.Put(ctx, "runs/r1/manifest.json", []byte("m1-v2"), "application/json"); err != nil {
				t.Fatalf("Put overwrite: %v", err)
			}
			got, err := st.Get(ctx, "runs/r1/manifest.json")
			if err != nil || string(got) != "m1-v2" {
				t.Fatalf("Got(Get) = %q, %v; want %q", got, err, "m1-v2")
			}
			tests := []struct {
				prefix string
				want   []string
			}{
				{"runs/r1/", []string{"runs/r1/manifest.json", "runs/r1/reports/ou-a.json", "runs/r1/reports/ou-b.json"}},
				{"runs/r1/reports/", []string{"runs/r1/reports/ou-a.json", "runs/r1/reports/ou-b.json"}},
				{"", []string{"latest.json", "runs/r1/manifest.json", "runs/r1/reports/ou-a.json", "runs/r1/reports/ou-b.json", "runs/r2/manifest.json"}},
				{"nothing/", nil},
			}
			for _, tt := range tests {
				got, err := st.List(ctx, tt.prefix)
				if err != nil {
					t.Fatalf("List(%q): %v", tt.prefix, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Got(List(%q)) = %q; want %q", tt.prefix, got, tt.want)
				}
			}
			if loc := st.Location("latest.json"); !strings.HasSuffix(filepath.ToSlash(loc), "orgaudit/latest.json") {
				t.Errorf("Got(Location) = %q; want it to end in orgaudit/latest.json", loc)
			}
		})
	}
}

func TestDirRejectsEscapingKeys(t *testing.T) {
	root := t.TempDir()
	st := objstore.NewDir(filepath.Join(root, "store"), "")
	for _, key := range []string{"../x", "/abs", "a/../../x", ""} {
		if err := st.Put(context.Background(), key, []byte("x"), ""); err == nil {
			t.Errorf("Got(Put(%q)) = nil; want an error", key)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "x")); err == nil {
		t.Errorf("a key escaped the store root")
	}
}

func TestDirPutLeavesNoTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	st := objstore.NewDir(root, "p")
	for i := 0; i < 3; i++ {
		if err := st.Put(context.Background(), "runs/r/a.json", []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "p", "runs", "r"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "a.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("Got(files) = %q; want [a.json]", names)
	}
}
