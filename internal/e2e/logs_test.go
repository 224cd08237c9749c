package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// writeCredentials writes the simulator's --credentials file: key, as a
// user of account.
func writeCredentials(t *testing.T, key accessKey, account string) string {
	t.Helper()
	b, err := json.Marshal([]map[string]string{{
		"accessKeyId": key.id, "secretAccessKey": key.secret,
		"arn": "arn:aws:iam::" + account + ":user/orgaudit-functions",
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newAccessKey returns a key shaped like AWS's (AKIA and 16 characters; a
// 40-character secret of the base64 alphabet), random so that no log line
// holds it by chance.
func newAccessKey() accessKey {
	secret := make([]byte, 30)
	rand.Read(secret)
	return accessKey{id: "AKIA" + rand.Text()[:16], secret: base64.StdEncoding.EncodeToString(secret)}
}

// sessionCredentials are what STS AssumeRole hands out.
type sessionCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
}

// credentialTap passes requests on to target (the simulator) and keeps
// every credential that crosses it: the access key ids requests are signed
// with, the session tokens they carry, and the session credentials STS
// AssumeRole answers with. The simulator makes those up at random and
// tells nobody, so this is how a test learns them.
type credentialTap struct {
	target *url.URL

	mu     sync.Mutex
	signed map[string]int // access key id -> requests signed with it
	tokens map[string]bool
	issued []sessionCredentials
}

// credentialRE finds the access key id in a SigV4 Authorization header.
var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/`)

func (c *credentialTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		if c.signed == nil {
			c.signed = map[string]int{}
		}
		c.signed[m[1]]++
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != "" {
		if c.tokens == nil {
			c.tokens = map[string]bool{}
		}
		c.tokens[tok] = true
	}
	c.mu.Unlock()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(c.target)
			// The client signed the Host it sent.
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: c.readAssumeRole,
	}
	proxy.ServeHTTP(w, r)
}

// readAssumeRole keeps the credentials of an AssumeRole answer and passes
// the answer on unchanged.
func (c *credentialTap) readAssumeRole(resp *http.Response) error {
	if !strings.Contains(resp.Header.Get("Content-Type"), "xml") || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if !bytes.Contains(body, []byte("<AssumeRoleResponse")) {
		return nil
	}
	var doc struct {
		Credentials sessionCredentials `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("read AssumeRole answer: %w", err)
	}
	c.mu.Lock()
	c.issued = append(c.issued, doc.Credentials)
	c.mu.Unlock()
	return nil
}

// seen returns what the tap saw: access key ids with their request counts,
// session tokens, issued session credentials.
func (c *credentialTap) seen() (map[string]int, []string, []sessionCredentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.signed), slices.Sorted(maps.Keys(c.tokens)), slices.Clone(c.issued)
}

// secret is a credential to look for in the logs; name says which one
// without repeating it.
type secret struct {
	name, value string
}

// forms returns the ways a value may be written into a log line: as it is,
// URL-encoded (a query string or form body), JSON-escaped, and, for long
// values, the first 20 characters (a truncated dump).
func (s secret) forms() []string {
	out := []string{s.value, url.QueryEscape(s.value)}
	if b, err := json.Marshal(s.value); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	if len(s.value) >= 40 {
		out = append(out, s.value[:20])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// credentialWords are names that only a dump of credentials, a signed
// request or a credentials file would put in a log line.
var credentialWords = []string{
	"aws_secret_access_key", "aws_session_token", "secretaccesskey", "secret_access_key",
	"sessiontoken", "session_token", "x-amz-security-token", "aws4-hmac-sha256", "x-amz-signature",
}

// TestLogsCarryNoCredentials runs the functions with a key of their own,
// the report role assumed through the simulator's STS, a failing report job
// and, in a second execution, S3 failing under Check, so that the error
// paths log too (the failure's cause carries the SDK's error text). Then
// it looks through every line the functions and their runtime emulators
// printed for the functions' key, every session credential STS issued or a
// request carried, and the names of credential fields and request
// signatures.
func TestLogsCarryNoCredentials(t *testing.T) {
	key := newAccessKey()
	const failing = "ou-ab12-sandbox1"
	st := deploy(t, stackOptions{orgFile: orgFile, functionKey: &key, tapAWS: true, s3Faults: true,
		simArgs: []string{"--fail-entity", failing}})
	if role := st.functions["CheckFunction"].Env["ORGAUDIT_REPORT_ROLE_ARN"]; role == "" {
		t.Fatal("Got(ORGAUDIT_REPORT_ROLE_ARN) empty; want the report role, so that STS issues session credentials")
	}

	const runID = "logs-partial"
	ex := st.execute(t, runID, `{"includeAccounts":true}`)
	if !ex.succeeded {
		t.Fatalf("Got(execution) failed: %s; want success\n%s", ex.errorText, ex.output)
	}
	st.verifyRun(t, want{runID: runID, input: runInput{IncludeAccounts: true}, status: reportdoc.RunPartial,
		failed: map[string]bool{failing: true}, unusedDays: unusedDefault(t, st)})

	st.refuseCheckManifestWrites()
	failed := st.execute(t, "logs-failed", `{}`)
	if failed.succeeded || st.faults.failed.Load() == 0 {
		t.Fatalf("Got(execution with manifest writes refused) succeeded=%v, %d writes refused; want AuditFailed after refused writes",
			failed.succeeded, st.faults.failed.Load())
	}

	signed, tokens, issued := st.tap.seen()
	if len(issued) == 0 {
		t.Fatal("Got(no AssumeRole answer through the tap); want the report role assumed")
	}
	if signed[key.id] == 0 {
		t.Fatalf("Got(requests signed with the functions' key) = 0 of %v; want the functions to use it", signed)
	}
	secrets := []secret{{"the functions' access key id", key.id}, {"the functions' secret key", key.secret}}
	for i, c := range issued {
		if signed[c.AccessKeyID] == 0 {
			t.Errorf("Got(requests signed with issued key %d) = 0; want the report role's calls signed with it", i)
		}
		secrets = append(secrets,
			secret{fmt.Sprintf("issued access key id %d", i), c.AccessKeyID},
			secret{fmt.Sprintf("issued secret key %d", i), c.SecretAccessKey},
			secret{fmt.Sprintf("issued session token %d", i), c.SessionToken})
	}
	for i, tok := range tokens {
		secrets = append(secrets, secret{fmt.Sprintf("session token %d sent in a request", i), tok})
	}
	for _, s := range secrets {
		if len(s.value) < 16 {
			t.Fatalf("Got(%s) = %d characters; want a real credential", s.name, len(s.value))
		}
	}

	// Everything the functions printed, through their runtime emulators,
	// and what local-sfn printed of the executions.
	type source struct{ name, text string }
	var sources []source
	for _, id := range []string{"StartFunction", "CheckFunction", "StoreFunction"} {
		sources = append(sources, source{id, st.emulators[id].out.String()})
	}
	sources = append(sources, source{"local-sfn " + runID, ex.output}, source{"local-sfn logs-failed", failed.output})

	var scan logScan
	for _, src := range sources {
		scan.add(src.name, src.text, secrets)
	}
	for _, l := range scan.leaks {
		t.Errorf("%s:%d: Got(%s in a log line) = %s; want no credential", l.source, l.line, l.what, clip(l.text))
	}
	t.Logf("scanned %d lines (%d JSON log records) for %d credentials; records of run %s: %v", scan.lines, scan.records, len(secrets), runID, scan.runs[runID])
	// The scan must have had something to look at: every function logged
	// the run it worked on.
	if scan.records < 30 {
		t.Errorf("Got(JSON log records) = %d; want at least 30 from two executions", scan.records)
	}
	for _, id := range []string{"StartFunction", "CheckFunction", "StoreFunction"} {
		if scan.runs[runID][id] == 0 {
			t.Errorf("Got(%s log records with run_id %s) = 0; want some", id, runID)
		}
	}
}

// logScan is what scanning captured output found.
type logScan struct {
	lines, records int                       // lines; JSON log records among them
	runs           map[string]map[string]int // run_id -> source -> records
	leaks          []leak
}

// leak is a credential, or the name of one, found in a line of output.
type leak struct {
	source string
	line   int
	what   string
	text   string
}

// add scans the output text of source for secrets and credentialWords.
func (sc *logScan) add(source, text string, secrets []secret) {
	if sc.runs == nil {
		sc.runs = map[string]map[string]int{}
	}
	for n, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		sc.lines++
		var rec struct {
			Msg   string `json:"msg"`
			RunID string `json:"run_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg != "" {
			sc.records++
			if sc.runs[rec.RunID] == nil {
				sc.runs[rec.RunID] = map[string]int{}
			}
			sc.runs[rec.RunID][source]++
		}
		// The emulator's own lines may name AWS_SESSION_TOKEN (it says
		// it starts the runtime without one); the functions' may not.
		lower := strings.ToLower(line)
		for _, w := range credentialWords {
			if !emulatorLine(line) && strings.Contains(lower, w) {
				sc.leaks = append(sc.leaks, leak{source, n + 1, fmt.Sprintf("%q", w), line})
			}
		}
		for _, s := range secrets {
			for _, f := range s.forms() {
				if strings.Contains(line, f) {
					sc.leaks = append(sc.leaks, leak{source, n + 1, s.name, line})
					break
				}
			}
		}
	}
}

// TestLogScanFindsCredentials checks the scan itself on planted lines: a
// scan that finds nothing must mean the logs hold nothing.
func TestLogScanFindsCredentials(t *testing.T) {
	key := newAccessKey()
	token := "FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString([]byte("a session token of the report role, long enough"))
	secrets := []secret{{"key id", key.id}, {"secret", key.secret}, {"token", token}}
	tests := []struct {
		name, line string
		leaks      int
	}{
		{"clean record", `{"time":"t","level":"INFO","msg":"report stored","run_id":"r1","entity":"r-ab12"}`, 0},
		{"emulator naming the variable", `01 Dec 2026 19:22:34,225 [INFO] (rapid) Starting runtime without AWS_SESSION_TOKEN , Expected?: false`, 0},
		{"secret in an error", `{"level":"ERROR","msg":"m","error":"bad key ` + key.secret + `"}`, 1},
		{"key id", `{"msg":"m","key":"` + key.id + `"}`, 1},
		{"URL-encoded token", `{"msg":"m","body":"X-Amz-Security-Token=` + url.QueryEscape(token) + `"}`, 2},
		{"truncated secret", `{"msg":"m","secret":"` + key.secret[:20] + `…"}`, 1},
		{"field name", `{"msg":"m","creds":{"SecretAccessKey":"redacted"}}`, 1},
		{"signed request dump", `Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/iam/aws4_request`, 1},
		{"token from the emulator", `01 Dec 2026 19:22:34,225 [INFO] (rapid) token ` + token, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc logScan
			sc.add("planted", tt.line+"\n", secrets)
			if len(sc.leaks) != tt.leaks {
				t.Errorf("Got(leaks in %q) = %+v; want %d", tt.line, sc.leaks, tt.leaks)
			}
			if sc.lines != 1 {
				t.Errorf("Got(lines) = %d; want 1", sc.lines)
			}
		})
	}
}

// emulatorLine reports whether the runtime emulator printed line about the
// runtime (its "(rapid)" log and the START, END and REPORT lines), rather
// than the function.
func emulatorLine(line string) bool {
	for _, p := range []string{"START RequestId: ", "END RequestId: ", "REPORT RequestId: "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return strings.Contains(line, "] (rapid) ")
}

// clip shortens a log line for a failure message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
