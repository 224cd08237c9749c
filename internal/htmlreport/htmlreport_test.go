package htmlreport

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

func TestCell(t *testing.T) {
	tests := []struct {
		days   int
		unused bool
		want   byte
	}{
		{-1, true, CellNever},
		{0, false, 'a'},
		{30, false, 'a'},
		{31, false, 'b'},
		{90, false, 'b'},
		{90, true, 'B'},
		{91, true, 'C'},
		{365, true, 'C'},
		{366, false, 'd'},
		{400, true, 'D'},
	}
	for _, tc := range tests {
		if got := Cell(tc.days, tc.unused); got != tc.want {
			t.Errorf("Got(Cell(%d, %v)) = %q; want %q", tc.days, tc.unused, got, tc.want)
		}
	}
}

func hostileReport() *Report {
	evil := `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	return &Report{
		RunID: "run-" + evil, OrganizationID: "o-" + evil, Status: `PARTIAL" onclick="alert(3)`,
		CompletedAt: "2026-11-25T03:05:00Z", UnusedDays: 90,
		Entities: reportdoc.SummaryEntities{Total: 2, Succeeded: 1, Failed: 1},
		Caveats:  []string{"caveat " + evil},
		Services: []Service{{"s3", "Amazon S3 " + evil}, {"ec2", "EC2"}},
		Rows: []Row{
			{ID: "ou-1", Type: "ORGANIZATIONAL_UNIT", Name: evil + "\u2028", Path: "o-x/r-x/ou-1", Status: "COMPLETED", Cells: "aN", Days: []int{3}, Unused: 1, Never: 1},
			{ID: "ou-2", Type: "ORGANIZATIONAL_UNIT", Name: "two", Path: "o-x/r-x/ou-2", Status: "FAILED", Error: "FAILED: " + evil, Cells: ".."},
		},
		NeverDeny: []string{"iam"}, SCPHead: `{"a":[`, SCPTail: `]}`, MaxPolicySize: 5120,
	}
}

func TestRenderEscapesUntrustedText(t *testing.T) {
	b, err := Render(hostileReport())
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, bad := range []string{"<script>alert", "<img", `" onclick="`, "\u2028"} {
		if strings.Contains(html, bad) {
			t.Errorf("Got(page containing %q); want it escaped", bad)
		}
	}
	if got := strings.Count(html, "</script>"); got != 2 {
		t.Errorf("Got(</script> count) = %d; want 2 (the data and the code)", got)
	}
	// The data block parses back to what went in.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="data">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no data block")
	}
	var d struct {
		S [][2]string        `json:"s"`
		R [][]any            `json:"r"`
		K []string           `json:"k"`
		U int                `json:"u"`
		C *reportdoc.Changes `json:"c"`
	}
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatalf("data block: %v", err)
	}
	if len(d.R) != 2 || d.R[0][2] != hostileReport().Rows[0].Name || d.S[0][1] != hostileReport().Services[0].Name || d.U != 90 {
		t.Errorf("Got(data) = %+v; want the report's rows and services verbatim", d)
	}
}

func TestRenderIsSelfContained(t *testing.T) {
	r := &Report{RunID: "r1", OrganizationID: "o-abcdefghij", Status: "SUCCEEDED", UnusedDays: 90,
		Services: []Service{{"s3", "Amazon S3"}}, Rows: []Row{{ID: "r-ab12", Name: "Root", Cells: "a", Days: []int{1}}}}
	b, err := Render(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<link", " src=", "@import", "url(", "http://", "https://", "//cdn"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("Got(page containing %q); want no external resource", bad)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 11001: "11,001", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Got(Thousands(%d)) = %q; want %q", n, got, want)
		}
	}
}

// TestRenderFillsEveryField: the page's header fields are filled in and
// escaped, none is left as written in the page's text.
func TestRenderFillsEveryField(t *testing.T) {
	r := &Report{RunID: "<b>run</b>", OrganizationID: "o-abcdefghij", Status: `FAILED" onmouseover="x`, UnusedDays: 45,
		Entities: reportdoc.SummaryEntities{Total: 11001, Succeeded: 10999, Failed: 2},
		Caveats:  []string{"a <script>caveat</script> & more", "second"}}
	b, err := Render(r)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"<title>orgaudit · &lt;b&gt;run&lt;/b&gt;</title>",
		`class="status FAILED&#34; onmouseover=&#34;x"`,
		"<b>11,001</b> (10,999 succeeded, 2 failed)",
		"<li>a &lt;script&gt;caveat&lt;/script&gt; &amp; more</li><li>second</li>",
		"Completed <b>—</b>",
		"<b>45 days</b>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("Got(page) without %q", want)
		}
	}
	if strings.Contains(page, "{{") {
		t.Errorf("Got(page) with a field left unfilled: %q", page[strings.Index(page, "{{"):][:40])
	}
	r.CompletedAt = "2026-12-02T03:00:00Z"
	if b, _ := Render(r); !strings.Contains(string(b), "Completed <b>2026-12-02T03:00:00Z</b>") {
		t.Error("Got(page) without the completion time")
	}
}

func TestParsePageRefusesUnknownFields(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Got(no panic) for a page naming {{nosuch}}; want one")
		}
	}()
	mustParsePage("<p>{{nosuch}}</p>")
}
