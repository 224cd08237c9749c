package deploytest

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/athena"
)

// TestAccessTableIsTheAthenaRows checks the Glue table against what
// internal/athena writes: the columns (names, types, order), the partition
// key, the SerDe and where the parts are stored.
func TestAccessTableIsTheAthenaRows(t *testing.T) {
	db := resource(t, "AccessDatabase")
	if db["Type"] != "AWS::Glue::Database" {
		t.Errorf("Got(AccessDatabase.Type) = %v; want AWS::Glue::Database", db["Type"])
	}
	if got, _ := lookup(db, "Properties", "DatabaseInput", "Name"); canon(got) != canon(ref("AthenaDatabaseName")) {
		t.Errorf("Got(database name) = %s; want the AthenaDatabaseName parameter", canon(got))
	}
	tbl := resource(t, "AccessTable")
	if tbl["Type"] != "AWS::Glue::Table" {
		t.Fatalf("Got(AccessTable.Type) = %v; want AWS::Glue::Table", tbl["Type"])
	}
	if got, _ := lookup(tbl, "Properties", "DatabaseName"); canon(got) != canon(ref("AccessDatabase")) {
		t.Errorf("Got(table database) = %s; want AccessDatabase", canon(got))
	}
	in := asMap(t, get(t, tbl, "Properties", "TableInput"), "TableInput")
	sd := asMap(t, get(t, in, "StorageDescriptor"), "StorageDescriptor")

	columns := func(v any) []athena.Column {
		var out []athena.Column
		for _, c := range asSlice(v) {
			m := asMap(t, c, "column")
			out = append(out, athena.Column{Name: fmt.Sprint(m["Name"]), Type: fmt.Sprint(m["Type"])})
		}
		return out
	}
	if got := columns(sd["Columns"]); !slices.Equal(got, athena.Columns) {
		t.Errorf("Got(columns) = %v; want athena.Columns %v", got, athena.Columns)
	}
	if got := columns(in["PartitionKeys"]); !slices.Equal(got, athena.PartitionKeys) {
		t.Errorf("Got(partition keys) = %v; want athena.PartitionKeys %v", got, athena.PartitionKeys)
	}

	checks := []struct {
		path []string
		want any
	}{
		{[]string{"Name"}, "access"},
		{[]string{"TableType"}, "EXTERNAL_TABLE"},
		{[]string{"StorageDescriptor", "SerdeInfo", "SerializationLibrary"}, "org.openx.data.jsonserde.JsonSerDe"},
		{[]string{"StorageDescriptor", "InputFormat"}, "org.apache.hadoop.mapred.TextInputFormat"},
		{[]string{"StorageDescriptor", "Location"}, s3URL("access/")},
		{[]string{"Parameters", "projection.enabled"}, "true"},
		{[]string{"Parameters", "projection.dt.type"}, "date"},
		{[]string{"Parameters", "projection.dt.format"}, "yyyy-MM-dd"},
		{[]string{"Parameters", "projection.dt.range"}, "2024-01-01,NOW"},
		{[]string{"Parameters", "projection.dt.interval"}, "1"},
		{[]string{"Parameters", "projection.dt.interval.unit"}, "DAYS"},
		{[]string{"Parameters", "storage.location.template"}, s3URL("access/dt=${!dt}/")},
	}
	for _, c := range checks {
		got, _ := lookup(in, c.path...)
		if canon(got) != canon(c.want) {
			t.Errorf("Got(TableInput.%s) = %s; want %s", strings.Join(c.path, "."), canon(got), canon(c.want))
		}
	}

	// Where the writer puts a run's parts must lie under the location the
	// projection computes for the run's day (Athena reads a partition's
	// location with its sub-folders, here run=<runId>/).
	day := time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC)
	template, _ := lookup(in, "Parameters", "storage.location.template")
	partition := renderS3URL(t, template, "my-bucket", "orgaudit/", day.Format("2006-01-02"))
	parts := "s3://my-bucket/orgaudit/" + athena.PartPrefix(day, "run-1")
	if !strings.HasPrefix(parts, partition) || partition == parts {
		t.Errorf("Got(partition location %q) not a parent of the parts folder %q; want it to be", partition, parts)
	}
	location := renderS3URL(t, sd["Location"], "my-bucket", "orgaudit/", "")
	if !strings.HasPrefix(partition, location) {
		t.Errorf("Got(partition location %q) outside the table location %q; want inside", partition, location)
	}
}

// s3URL is how the template writes an s3:// URL under the prefix.
func s3URL(suffix string) map[string]any {
	return map[string]any{"Fn::Sub": []any{
		"s3://${Bucket}/${Prefix}" + suffix,
		map[string]any{"Bucket": ifValue("CreateBucket", ref("AuditBucket"), ref("BucketName"))},
	}}
}

// renderS3URL resolves an s3URL for a bucket, a prefix and a dt value, as
// CloudFormation and then Athena's projection would.
func renderS3URL(t *testing.T, v any, bucket, prefix, dt string) string {
	t.Helper()
	args, ok := lookup(v, "Fn::Sub")
	list, isList := args.([]any)
	if !ok || !isList || len(list) != 2 {
		t.Fatalf("Got(%s) not an Fn::Sub with variables", canon(v))
	}
	s := strings.NewReplacer("${Bucket}", bucket, "${Prefix}", prefix, "${!dt}", "${dt}").Replace(fmt.Sprint(list[0]))
	return strings.ReplaceAll(s, "${dt}", dt)
}

// namedQueries returns the template's Athena named queries by logical id.
func namedQueries(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for name, r := range resources(t) {
		if asMap(t, r, name)["Type"] == "AWS::Athena::NamedQuery" {
			out[name] = asMap(t, get(t, r, "Properties"), name+".Properties")
		}
	}
	return out
}

func TestNamedQueries(t *testing.T) {
	queries := namedQueries(t)
	if got, want := slices.Sorted(maps.Keys(queries)), []string{"FirstUseQuery", "ServiceUsersQuery", "UnusedServicesQuery"}; !slices.Equal(got, want) {
		t.Fatalf("Got(named queries) = %v; want %v", got, want)
	}
	declared := map[string]bool{}
	for _, c := range append(slices.Clone(athena.Columns), athena.PartitionKeys...) {
		declared[c.Name] = true
	}
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(queries)) {
		t.Run(name, func(t *testing.T) {
			q := queries[name]
			if canon(q["Database"]) != canon(ref("AccessDatabase")) {
				t.Errorf("Got(%s Database) = %s; want AccessDatabase", name, canon(q["Database"]))
			}
			sql, ok := q["QueryString"].(string)
			if !ok {
				t.Fatalf("Got(%s QueryString) = %T; want literal SQL", name, q["QueryString"])
			}
			cols, problems := sqlColumns(sql, "access", declared)
			for _, p := range problems {
				t.Errorf("Got(%s) %s; want only the table's columns", name, p)
			}
			for _, c := range cols {
				used[c] = true
			}
			// Without a dt predicate Athena would project and read every day
			// since 2024.
			if !regexp.MustCompile(`\bdt\s*>=`).MatchString(sql) {
				t.Errorf("Got(%s filters on dt) = false; want a dt >= predicate", name)
			}
			// Timestamps are RFC 3339 strings; comparing them with an
			// interval needs a conversion.
			if strings.Contains(sql, "INTERVAL '90' DAY") && !strings.Contains(sql, "from_iso8601_timestamp(") {
				t.Errorf("Got(%s) interval arithmetic without from_iso8601_timestamp; want timestamps converted", name)
			}
		})
	}
	for _, c := range []string{"dt", "run_id", "job_completed_at", "last_authenticated", "service_namespace", "entity_path", "last_entity_path"} {
		if !used[c] {
			t.Errorf("Got(queries use %s) = false; want true (the checker saw %v)", c, slices.Sorted(maps.Keys(used)))
		}
	}
}

// TestSQLColumnsCatchesMistakes proves the checker above finds what it is
// meant to find.
func TestSQLColumnsCatchesMistakes(t *testing.T) {
	declared := map[string]bool{"a": true, "b": true, "dt": true}
	tests := []struct {
		name, sql string
		want      []string // problems
	}{
		{"clean", "WITH x AS (SELECT a, max(b) AS m FROM t WHERE dt >= '1') SELECT y.a, y.m FROM x y -- c\nWHERE a = 'no_such' ORDER BY m", nil},
		{"unknown column", "SELECT a, c FROM t", []string{`unknown column "c"`}},
		{"unknown qualified column", "SELECT y.z FROM t y", []string{`unknown column "y.z"`}},
		{"unknown alias", "SELECT q.a FROM t y", []string{`unknown relation "q" in "q.a"`}},
		{"unknown table", "SELECT a FROM u", []string{`reads "u"; want t or a WITH query`, `unknown column "u"`}},
		{"comment and string ignored", "SELECT a FROM t -- c d e\nWHERE b = 'x y'", nil},
		{"function names are not columns", "SELECT coalesce(a, b), row_number() OVER (ORDER BY a) AS n FROM t", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := sqlColumns(tt.sql, "t", declared)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Got(sqlColumns(%q)) = %q; want %q", tt.sql, got, tt.want)
			}
		})
	}
	// And on the real queries: a misspelt column or table is caught.
	for _, q := range namedQueries(t) {
		sql := q["QueryString"].(string)
		allDeclared := map[string]bool{}
		for _, c := range append(slices.Clone(athena.Columns), athena.PartitionKeys...) {
			allDeclared[c.Name] = true
		}
		for _, m := range []struct{ from, to string }{{"service_namespace", "service_nmespace"}, {"FROM access", "FROM acess"}} {
			bad := strings.Replace(sql, m.from, m.to, 1)
			if bad == sql {
				t.Fatalf("query has no %q to break", m.from)
			}
			if _, problems := sqlColumns(bad, "access", allDeclared); len(problems) == 0 {
				t.Errorf("Got(problems with %q replaced by %q) = none; want one", m.from, m.to)
			}
		}
	}
}

// sqlKeywords are the words of the queries' SQL that name no column.
var sqlKeywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`select from where and or not is null as with join left right inner outer
		full cross on in group by order desc asc limit interval day hour minute second month year
		case when then else end distinct over partition true false cast varchar integer bigint
		double boolean having union all exists between like date timestamp current_date rows
		range preceding following unbounded current row nulls first last`) {
		sqlKeywords[w] = true
	}
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	sqlString  = regexp.MustCompile(`'(?:[^']|'')*'`)
	// sqlWord is an identifier, optionally qualified (alias.column), and
	// what follows it, to tell function calls apart.
	sqlWord     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(\s*\()?`)
	sqlWithName = regexp.MustCompile(`(?i)(?:\bWITH|,)\s+([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(`)
	sqlAlias    = regexp.MustCompile(`(?i)\bAS\s+([A-Za-z_][A-Za-z0-9_]*)`)
	sqlFrom     = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+([A-Za-z_][A-Za-z0-9_]*))?`)
)

// sqlColumns lists the columns of table a query refers to and the problems
// found: a relation that is neither table nor a WITH query, an identifier
// that is no declared column, alias or keyword. It is a lexical check of the
// queries this template holds, not a SQL parser.
func sqlColumns(sql, table string, declared map[string]bool) (columns, problems []string) {
	sql = sqlComment.ReplaceAllString(sql, " ")
	sql = sqlString.ReplaceAllString(sql, "''")
	relations := map[string]bool{table: true} // what FROM and JOIN may read
	for _, m := range sqlWithName.FindAllStringSubmatch(sql, -1) {
		relations[m[1]] = true
	}
	names := map[string]bool{} // column aliases of the query's own SELECTs
	for _, m := range sqlAlias.FindAllStringSubmatch(sql, -1) {
		names[strings.ToLower(m[1])] = true
	}
	aliases := map[string]bool{} // table aliases
	for _, m := range sqlFrom.FindAllStringSubmatch(sql, -1) {
		if !relations[m[1]] {
			problems = append(problems, fmt.Sprintf("reads %q; want %s or a WITH query", m[1], table))
		}
		if m[2] != "" && !sqlKeywords[strings.ToLower(m[2])] {
			aliases[m[2]] = true
		}
	}
	seen := map[string]bool{}
	for _, m := range sqlWord.FindAllStringSubmatch(sql, -1) {
		first, second, call := m[1], m[2], m[3] != ""
		if call && second == "" {
			continue // a function
		}
		col := first
		if second != "" {
			if !aliases[first] && !relations[first] {
				problems = append(problems, fmt.Sprintf("unknown relation %q in %q", first, first+"."+second))
				continue
			}
			col = second
		}
		lower := strings.ToLower(col)
		switch {
		case declared[col]:
			if !seen[col] {
				seen[col] = true
				columns = append(columns, col)
			}
		case second == "" && (sqlKeywords[lower] || relations[col] || aliases[col] || names[lower]):
		case second != "" && names[lower]:
		default:
			what := col
			if second != "" {
				what = first + "." + second
			}
			problems = append(problems, fmt.Sprintf("unknown column %q", what))
		}
	}
	slices.Sort(columns)
	return columns, problems
}

// TestAthenaDocShowsTheSavedQueries keeps docs/athena.md's copies of the
// saved queries identical to the template's.
func TestAthenaDocShowsTheSavedQueries(t *testing.T) {
	doc, err := os.ReadFile("../../docs/athena.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, props := range namedQueries(t) {
		sql, _ := props["QueryString"].(string)
		if sql == "" || !strings.Contains(string(doc), "```sql\n"+strings.TrimRight(sql, "\n")+"\n```") {
			t.Errorf("docs/athena.md does not show the saved query %s as the template defines it", name)
		}
	}
}
