package athena

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

func str(s string) *string { return &s }

func sampleReport() *reportdoc.EntityReport {
	done := time.Date(2026, 11, 25, 3, 4, 5, 0, time.UTC)
	return &reportdoc.EntityReport{
		SchemaVersion: 1, RunID: "r1", OrganizationID: "o-abcdefghij",
		Entity:   reportdoc.Entity{ID: "ou-ab12-11111111", Type: reportdoc.TypeOU, Name: "Prod <&>", Path: "o-abcdefghij/r-ab12/ou-ab12-11111111"},
		PolicyID: str("p-12345678"),
		Job:      reportdoc.Job{ID: "job", Status: reportdoc.StatusCompleted, CreatedAt: reportdoc.NewTime(done.Add(-time.Second)), CompletedAt: reportdoc.NewTime(done)},
		Services: []reportdoc.Service{
			{Namespace: "ec2", Name: "Amazon EC2", LastAuthenticated: reportdoc.NewTime(done.Add(-36 * time.Hour)), Region: str("eu-west-1"), EntityPath: str("o-abcdefghij/r-ab12/ou-ab12-11111111/111111111111"), TotalAuthenticatedEntities: 3},
			{Namespace: "s3", Name: "Amazon S3"},
		},
	}
}

func TestRows(t *testing.T) {
	rows := Rows(sampleReport())
	if len(rows) != 2 {
		t.Fatalf("Got(rows) = %d; want 2", len(rows))
	}
	b, _ := json.Marshal(rows[0])
	want := `{"run_id":"r1","organization_id":"o-abcdefghij","entity_id":"ou-ab12-11111111","entity_type":"ORGANIZATIONAL_UNIT","entity_name":"Prod \u003c\u0026\u003e","entity_path":"o-abcdefghij/r-ab12/ou-ab12-11111111","policy_id":"p-12345678","job_completed_at":"2026-11-25T03:04:05Z","service_namespace":"ec2","service_name":"Amazon EC2","last_authenticated":"2026-11-23T15:04:05Z","region":"eu-west-1","last_entity_path":"o-abcdefghij/r-ab12/ou-ab12-11111111/111111111111","total_authenticated_entities":3,"days_since_last_access":1}`
	if string(b) != want {
		t.Errorf("Got(row) = %s; want %s", b, want)
	}
	b, _ = json.Marshal(rows[1])
	for _, null := range []string{`"last_authenticated":null`, `"region":null`, `"last_entity_path":null`, `"days_since_last_access":null`} {
		if !strings.Contains(string(b), null) {
			t.Errorf("Got(never-accessed row) = %s; want %s", b, null)
		}
	}
}

// TestColumnsMatchRow keeps the exported schema and the row encoding in
// step: same keys, same order, types that fit.
func TestColumnsMatchRow(t *testing.T) {
	typ := reflect.TypeOf(Row{})
	if typ.NumField() != len(Columns) {
		t.Fatalf("Got(Row fields) = %d; want %d columns", typ.NumField(), len(Columns))
	}
	for i, c := range Columns {
		f := typ.Field(i)
		if tag := strings.Split(f.Tag.Get("json"), ",")[0]; tag != c.Name {
			t.Errorf("Got(field %d key) = %q; want %q", i, tag, c.Name)
		}
		kind := f.Type.Kind()
		if kind == reflect.Pointer {
			kind = f.Type.Elem().Kind()
		}
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Int: "int"}[kind]
		if c.Type != want {
			t.Errorf("Got(column %s type) = %q; want %q for Go %s", c.Name, c.Type, want, f.Type)
		}
	}
}

func TestPartDeterministic(t *testing.T) {
	build := func() []byte {
		p := NewPart()
		if err := p.Add(Rows(sampleReport())); err != nil {
			t.Fatal(err)
		}
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := build(), build()
	if !bytes.Equal(a, b) {
		t.Errorf("Got(two parts of the same rows) differ; want equal bytes")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("Got(gzip header) time %v name %q; want neither", zr.ModTime, zr.Name)
	}
	plain, _ := io.ReadAll(zr)
	if lines := strings.Count(string(plain), "\n"); lines != 2 {
		t.Errorf("Got(lines) = %d; want 2", lines)
	}
	if got := PartPrefix(time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC), "r1"); got != "access/dt=2026-01-02/run=r1/" {
		t.Errorf("Got(PartPrefix) = %q", got)
	}
	if key := reportdoc.AccessPartKey(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "r1", 3); !strings.HasPrefix(key, PartPrefix(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "r1")) {
		t.Errorf("Got(AccessPartKey) = %q; want it under PartPrefix", key)
	}
}
