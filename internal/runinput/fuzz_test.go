package runinput

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and are run by plain
// go test; `make fuzz` explores from them.

// fieldRE matches what InvalidInput.Field may name: a field of the input,
// one element of entityPaths, or the whole document.
var fieldRE = regexp.MustCompile(`^(runId|entityPaths|entityPaths\[(0|[1-9][0-9]*)\]|includeAccounts|includePolicies|unusedDays|maxConcurrentJobs|input)$`)

// FuzzParse checks Parse's contract on any document and execution name:
// an *InvalidInput naming a field of the document with a message, or an
// Input that validates again and survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{}`), "exec-1")
	f.Add([]byte(`{"runId":"r1","entityPaths":["o-abcdefghij/r-ab12/ou-ab12-11111111"],"includeAccounts":true,"includePolicies":true,"unusedDays":30,"maxConcurrentJobs":2}`), "exec-1")
	cfg := config.Default()
	f.Fuzz(func(t *testing.T, doc []byte, execName string) {
		in, err := Parse(doc, execName, cfg)
		if err != nil {
			if problem := invalidProblem(doc, err); problem != "" {
				t.Fatalf("Got(Parse(%q, %q)): %s", doc, execName, problem)
			}
			return
		}
		trimmed := bytes.Trim(doc, jsonSpace)
		if len(trimmed) > 0 && !json.Valid(trimmed) {
			t.Fatalf("Got(Parse(%q)) accepted; want an error for invalid JSON", doc)
		}
		checkAccepted(t, doc, in)
		// What Parse returns, written back as a document, parses to
		// itself: nothing was accepted that the rules would refuse.
		again, err := Parse(encode(in), "unused", cfg)
		if err != nil {
			t.Fatalf("Got(Parse(encode(%+v))) error %v; want it accepted", in, err)
		}
		if !reflect.DeepEqual(again, in) {
			t.Fatalf("Got(round trip of %q) = %+v; want %+v", doc, again, in)
		}
	})
}

// invalidProblem returns how a refusal breaks the contract, or "": the
// error type the state machine matches, a field the document has (or
// "input"), a message, a bounded size.
func invalidProblem(doc []byte, err error) string {
	inv, ok := err.(*InvalidInput)
	if !ok {
		return fmt.Sprintf("error %T %v; want *InvalidInput unwrapped", err, err)
	}
	if inv.Message == "" {
		return fmt.Sprintf("empty message for field %q; want a reason", inv.Field)
	}
	if !fieldRE.MatchString(inv.Field) {
		// An unknown field is named as written: it must be a key of the
		// document, short and printable enough to read in an error.
		printable := inv.Field != "" && strings.IndexFunc(inv.Field, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
		if !printable || len(inv.Field) > MaxFieldNameLen || !slices.Contains(topLevelKeys(doc), inv.Field) {
			return fmt.Sprintf("field %q; want an input field, entityPaths[i], input, or a printable key of the document of 1..%d bytes", inv.Field, MaxFieldNameLen)
		}
	}
	if inv.Error() != "invalid input: "+inv.Field+": "+inv.Message {
		return fmt.Sprintf("Error() = %q; want field and message", inv.Error())
	}
	// The message goes into the execution's error output; it must stay
	// readable whatever the document holds.
	if !utf8.ValidString(inv.Message) || len(inv.Message) > maxMessageLen {
		return fmt.Sprintf("message of %d bytes, valid UTF-8 %v; want at most %d valid bytes", len(inv.Message), utf8.ValidString(inv.Message), maxMessageLen)
	}
	return ""
}

// maxMessageLen bounds an error message: the longest quotes one entity
// path (427 bytes, up to 6 bytes an escaped byte) plus the pattern.
const maxMessageLen = 6*MaxEntityPathLen + 200

// topLevelKeys returns the keys of the document's object, as far as it
// parses.
func topLevelKeys(doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

// checkAccepted checks that every value of an accepted input is within the
// documented rules, independently of Parse.
func checkAccepted(t *testing.T, doc []byte, in Input) {
	t.Helper()
	if err := ValidRunID(in.RunID); err != nil {
		t.Fatalf("Got(Parse(%q)) runId %q (%v); want a valid run id", doc, in.RunID, err)
	}
	if in.EntityPaths != nil && (len(in.EntityPaths) == 0 || len(in.EntityPaths) > MaxEntityPaths) {
		t.Fatalf("Got(Parse(%q)) %d entity paths; want 1..%d", doc, len(in.EntityPaths), MaxEntityPaths)
	}
	seen := map[string]bool{}
	for _, p := range in.EntityPaths {
		if err := ValidEntityPath(p); err != nil {
			t.Fatalf("Got(Parse(%q)) path %q (%v); want a valid path", doc, p, err)
		}
		if !orgmodel.ValidEntityPath(p) {
			t.Fatalf("Got(Parse(%q)) path %q that IAM's pattern refuses", doc, p)
		}
		if seen[p] {
			t.Fatalf("Got(Parse(%q)) duplicate path %q; want each once", doc, p)
		}
		seen[p] = true
	}
	if in.UnusedDays < config.MinUnusedDays || in.UnusedDays > config.MaxUnusedDays {
		t.Fatalf("Got(Parse(%q)) unusedDays %d; want %d..%d", doc, in.UnusedDays, config.MinUnusedDays, config.MaxUnusedDays)
	}
	if in.MaxConcurrentJobs < config.MinConcurrentJobs || in.MaxConcurrentJobs > config.MaxConcurrentJobs {
		t.Fatalf("Got(Parse(%q)) maxConcurrentJobs %d; want %d..%d", doc, in.MaxConcurrentJobs, config.MinConcurrentJobs, config.MaxConcurrentJobs)
	}
}

// encode writes in as a run input document with every field set.
func encode(in Input) []byte {
	doc := map[string]any{
		"runId": in.RunID, "includeAccounts": in.IncludeAccounts, "includePolicies": in.IncludePolicies,
		"unusedDays": in.UnusedDays, "maxConcurrentJobs": in.MaxConcurrentJobs,
	}
	if in.EntityPaths != nil {
		doc["entityPaths"] = in.EntityPaths
	}
	b, _ := json.Marshal(doc)
	return b
}

// FuzzValidRunID checks ValidRunID against its documented rule, written
// out by hand: 1..80 of [A-Za-z0-9._-], not "." or "..".
func FuzzValidRunID(f *testing.F) {
	f.Add("manual_2026-11-25.a")
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidRunID(id)
		want := len(id) >= 1 && len(id) <= MaxRunIDLen && id != "." && id != ".." &&
			strings.IndexFunc(id, func(r rune) bool { return !isRunIDRune(r) }) < 0
		if (err == nil) != want {
			t.Fatalf("Got(ValidRunID(%q)) = %v; want valid %v", id, err, want)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("Got(ValidRunID(%q)) empty error; want a reason", id)
		}
		// A valid id is one S3 key segment that stays in its folder.
		if err == nil && (strings.ContainsAny(id, "/\\") || id == "." || id == "..") {
			t.Fatalf("Got(ValidRunID(%q)) = nil; want it refused as a key segment", id)
		}
	})
}

func isRunIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// FuzzValidEntityPath checks ValidEntityPath against IAM's documented
// pattern and length, written out by hand, plus the rule of no empty
// segment; and that whatever it accepts the simulator's model (IAM's
// pattern as the simulator applies it) accepts too.
func FuzzValidEntityPath(f *testing.F) {
	f.Add("o-abcdefghij/r-ab12/ou-ab12-11111111/123456789012")
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidEntityPath(p)
		want := iamEntityPath(p) && !slices.Contains(strings.Split(p, "/"), "")
		if (err == nil) != want {
			t.Fatalf("Got(ValidEntityPath(%q)) = %v; want valid %v", p, err, want)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("Got(ValidEntityPath(%q)) empty error; want a reason", p)
		}
		if err == nil && !orgmodel.ValidEntityPath(p) {
			t.Fatalf("Got(ValidEntityPath(%q)) = nil but orgmodel.ValidEntityPath = false; want agreement", p)
		}
		if iamEntityPath(p) != orgmodel.ValidEntityPath(p) {
			t.Fatalf("Got(orgmodel.ValidEntityPath(%q)) = %v; want %v (pattern and 19..427 characters)", p, orgmodel.ValidEntityPath(p), iamEntityPath(p))
		}
	})
}

// iamEntityPath is ^o-[0-9a-z]{10,32}/r-[0-9a-z]{4,32}[0-9a-z-/]*$ with
// 19..427 characters, without regexps.
func iamEntityPath(p string) bool {
	if len(p) < 19 || len(p) > 427 {
		return false
	}
	lower := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	// run returns how many bytes from i satisfy ok.
	run := func(i int, ok func(byte) bool) int {
		n := 0
		for i+n < len(p) && ok(p[i+n]) {
			n++
		}
		return n
	}
	if !strings.HasPrefix(p, "o-") {
		return false
	}
	n := run(2, lower)
	if n < 10 || n > 32 || !strings.HasPrefix(p[2+n:], "/r-") {
		return false
	}
	i := 2 + n + 3
	n = run(i, lower)
	if n < 4 {
		return false
	}
	// The root id takes 4..32 of the run; the tail's class includes the
	// same characters, so only the minimum matters.
	rest := p[i+4:]
	return strings.IndexFunc(rest, func(r rune) bool { return !(r < utf8.RuneSelf && (lower(byte(r)) || r == '-' || r == '/')) }) < 0
}

// FuzzValidPolicyID checks the policy id validation (orgmodel.ValidPolicyID,
// which the simulator applies to IAM's OrganizationsPolicyId) against
// ^p-[0-9a-zA-Z_]{8,128}$ written out by hand.
func FuzzValidPolicyID(f *testing.F) {
	f.Add("p-FullAWSAccess")
	f.Fuzz(func(t *testing.T, id string) {
		body, ok := strings.CutPrefix(id, "p-")
		want := ok && len(body) >= 8 && len(body) <= 128 &&
			strings.IndexFunc(body, func(r rune) bool { return !(isRunIDRune(r) && r != '.' && r != '-' || r == '_') }) < 0
		if got := orgmodel.ValidPolicyID(id); got != want {
			t.Fatalf("Got(ValidPolicyID(%q)) = %v; want %v", id, got, want)
		}
	})
}

// TestInvalidProblemCatchesBadErrors shows the fuzz property is not
// vacuous: errors that break the contract fail it, a good one passes.
func TestInvalidProblemCatchesBadErrors(t *testing.T) {
	doc := []byte(`{"other":1}`)
	tests := []struct {
		err  error
		want bool
	}{
		{&InvalidInput{Field: "other", Message: "unknown field"}, true},
		{&InvalidInput{Field: "entityPaths[3]", Message: "bad"}, true},
		{errors.New("plain"), false},
		{fmt.Errorf("wrapped: %w", &InvalidInput{Field: "runId", Message: "x"}), false},
		{&InvalidInput{Field: "runId"}, false},
		{&InvalidInput{Field: "", Message: "x"}, false},
		{&InvalidInput{Field: "a\x00b", Message: "x"}, false},
		{&InvalidInput{Field: "notInTheDocument", Message: "x"}, false},
		{&InvalidInput{Field: "input", Message: string([]byte{0xff})}, false},
	}
	for _, tt := range tests {
		if got := invalidProblem(doc, tt.err); (got == "") != tt.want {
			t.Errorf("Got(invalidProblem(%v)) = %q; want ok %v", tt.err, got, tt.want)
		}
	}
}
