// Package runinput parses and validates the input of an audit run (the
// Step Functions execution input, or the CLI's flags of the same meaning).
//
// The input is strict JSON: unknown fields, wrong types and trailing data are
// errors, every field is optional and null counts as absent, and a null or
// empty input means {} (the nightly schedule's input).
//
//	{ "runId": "…",                // default: the execution name (CLI: UTC timestamp)
//	  "entityPaths": ["o-…/r-…/ou-…"],
//	  "includeAccounts": false, "includePolicies": false,
//	  "unusedDays": 90, "maxConcurrentJobs": 1,
//	  "maxRunMinutes": 360, "accountRefreshDays": 7 }
//
// Rules beyond the JSON types:
//   - runId: 1..80 characters of [A-Za-z0-9._-], not "." or "..": it becomes
//     an S3 key segment and must not leave the run's folder.
//   - entityPaths: 1..MaxEntityPaths (1,000) paths when present, no
//     duplicates, each matching IAM's entity path pattern and length
//     (19..427). An organization holds at most 1,000 OUs, and an OU with
//     includeAccounts covers its accounts, so a longer list is a mistake
//     (and would crowd the 256 KiB execution input). Whether a path
//     belongs to this organization and names an entity is checked after the
//     organization is walked (CheckPaths), with the same error type.
//   - unusedDays: config.MinUnusedDays..config.MaxUnusedDays (1..400).
//   - maxConcurrentJobs: config.MinConcurrentJobs..config.MaxConcurrentJobs
//     (1..10).
//   - maxRunMinutes: a number of minutes, more than 0 and at most
//     config.MaxRunMinutes (1380); fractions are allowed.
//   - accountRefreshDays: config.MinAccountRefreshDays..
//     config.MaxAccountRefreshDays (1..400).
package runinput

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orgaudit/orgaudit/internal/config"
)

// InvalidInput is the error of a bad run input. The Lambda runtime reports
// the type name as errorType, which the state machine matches, so Start
// returns it unwrapped.
type InvalidInput struct {
	Field   string // JSON name of the offending field ("input" for the whole document)
	Message string
}

func (e *InvalidInput) Error() string { return "invalid input: " + e.Field + ": " + e.Message }

// Input is a validated run input with the defaults applied.
type Input struct {
	RunID             string
	EntityPaths       []string // empty: the whole organization
	IncludeAccounts   bool
	IncludePolicies   bool
	UnusedDays        int
	MaxConcurrentJobs int
	// MaxRunMinutes is the run's time budget in minutes.
	MaxRunMinutes float64
	// AccountRefreshDays is the age in days at which a carried account
	// report is refreshed before any fresher one.
	AccountRefreshDays int
}

// Bounds of the fields.
const (
	MaxRunIDLen      = 80
	MinEntityPathLen = 19
	MaxEntityPathLen = 427
	MaxEntityPaths   = 1000
	// MaxFieldNameLen bounds the unknown field name an error repeats.
	MaxFieldNameLen = 64
)

var (
	runIDRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,80}$`)
	entityPathRE = regexp.MustCompile(`^o-[0-9a-z]{10,32}/r-[0-9a-z]{4,32}[0-9a-z-/]*$`)
)

// raw mirrors the JSON document; pointers tell absent (or null) from zero.
type raw struct {
	RunID             *string   `json:"runId"`
	EntityPaths       *[]string `json:"entityPaths"`
	IncludeAccounts   *bool     `json:"includeAccounts"`
	IncludePolicies   *bool     `json:"includePolicies"`
	UnusedDays        *int      `json:"unusedDays"`
	MaxConcurrentJobs *int      `json:"maxConcurrentJobs"`
	MaxRunMinutes     *float64  `json:"maxRunMinutes"`
	AccountRefresh    *int      `json:"accountRefreshDays"`
}

// jsonSpace is the white space JSON allows around a value.
const jsonSpace = " \t\r\n"

// Parse validates doc and applies the defaults: runId from defaultRunID
// (the execution name, or the CLI's timestamp), the rest from cfg. Errors
// are *InvalidInput.
func Parse(doc []byte, defaultRunID string, cfg config.Config) (Input, error) {
	var r raw
	// Only JSON's own white space: a vertical tab or a no-break space
	// before the document makes it something other than JSON.
	trimmed := bytes.Trim(doc, jsonSpace)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := decodeStrict(trimmed, &r); err != nil {
			return Input{}, err
		}
	}
	in := Input{
		RunID:             defaultRunID,
		IncludeAccounts:   cfg.IncludeAccounts,
		IncludePolicies:   cfg.IncludePolicies,
		UnusedDays:        cfg.UnusedDays,
		MaxConcurrentJobs: cfg.MaxConcurrentJobs,

		MaxRunMinutes:      cfg.MaxRunMinutes,
		AccountRefreshDays: cfg.AccountRefreshDays,
	}
	if in.MaxRunMinutes == 0 {
		in.MaxRunMinutes = config.DefaultMaxRunMinutes
	}
	if in.AccountRefreshDays == 0 {
		in.AccountRefreshDays = config.DefaultAccountRefreshDays
	}
	if r.RunID != nil {
		in.RunID = *r.RunID
		if err := ValidRunID(in.RunID); err != nil {
			return Input{}, &InvalidInput{Field: "runId", Message: err.Error()}
		}
	} else if err := ValidRunID(in.RunID); err != nil {
		return Input{}, &InvalidInput{Field: "runId", Message: fmt.Sprintf("the default run id (execution name) %s is not usable: %v; set runId", quoteCut(in.RunID, MaxRunIDLen), err)}
	}
	if r.EntityPaths != nil {
		if len(*r.EntityPaths) == 0 {
			return Input{}, &InvalidInput{Field: "entityPaths", Message: "must list at least one entity path (omit it to audit the whole organization)"}
		}
		if n := len(*r.EntityPaths); n > MaxEntityPaths {
			return Input{}, &InvalidInput{Field: "entityPaths", Message: fmt.Sprintf("%d paths; at most %d (list an OU with includeAccounts to cover its accounts)", n, MaxEntityPaths)}
		}
		seen := map[string]bool{}
		for i, p := range *r.EntityPaths {
			if err := ValidEntityPath(p); err != nil {
				return Input{}, &InvalidInput{Field: fmt.Sprintf("entityPaths[%d]", i), Message: err.Error()}
			}
			if seen[p] {
				return Input{}, &InvalidInput{Field: fmt.Sprintf("entityPaths[%d]", i), Message: fmt.Sprintf("duplicate path %q", p)}
			}
			seen[p] = true
		}
		in.EntityPaths = *r.EntityPaths
	}
	if r.IncludeAccounts != nil {
		in.IncludeAccounts = *r.IncludeAccounts
	}
	if r.IncludePolicies != nil {
		in.IncludePolicies = *r.IncludePolicies
	}
	if r.UnusedDays != nil {
		in.UnusedDays = *r.UnusedDays
	}
	if in.UnusedDays < config.MinUnusedDays || in.UnusedDays > config.MaxUnusedDays {
		return Input{}, &InvalidInput{Field: "unusedDays", Message: fmt.Sprintf("%d is out of range %d..%d", in.UnusedDays, config.MinUnusedDays, config.MaxUnusedDays)}
	}
	if r.MaxConcurrentJobs != nil {
		in.MaxConcurrentJobs = *r.MaxConcurrentJobs
	}
	if in.MaxConcurrentJobs < config.MinConcurrentJobs || in.MaxConcurrentJobs > config.MaxConcurrentJobs {
		return Input{}, &InvalidInput{Field: "maxConcurrentJobs", Message: fmt.Sprintf("%d is out of range %d..%d", in.MaxConcurrentJobs, config.MinConcurrentJobs, config.MaxConcurrentJobs)}
	}
	if r.MaxRunMinutes != nil {
		in.MaxRunMinutes = *r.MaxRunMinutes
	}
	if !config.ValidRunMinutes(in.MaxRunMinutes) {
		return Input{}, &InvalidInput{Field: "maxRunMinutes", Message: fmt.Sprintf("%v is out of range: more than 0, at most %v minutes", in.MaxRunMinutes, config.MaxRunMinutes)}
	}
	if r.AccountRefresh != nil {
		in.AccountRefreshDays = *r.AccountRefresh
	}
	if in.AccountRefreshDays < config.MinAccountRefreshDays || in.AccountRefreshDays > config.MaxAccountRefreshDays {
		return Input{}, &InvalidInput{Field: "accountRefreshDays", Message: fmt.Sprintf("%d is out of range %d..%d", in.AccountRefreshDays, config.MinAccountRefreshDays, config.MaxAccountRefreshDays)}
	}
	return in, nil
}

// ValidRunID returns why id cannot be a run id, or nil.
func ValidRunID(id string) error {
	switch {
	case id == "":
		return errors.New("must not be empty")
	case len(id) > MaxRunIDLen:
		return fmt.Errorf("%d characters; at most %d", len(id), MaxRunIDLen)
	case !runIDRE.MatchString(id):
		return fmt.Errorf("%q: only letters, digits, '.', '_' and '-' are allowed", id)
	case id == "." || id == "..":
		return fmt.Errorf("%q is not a usable folder name", id)
	}
	return nil
}

// ValidEntityPath returns why p is not a well-formed entity path, or nil.
func ValidEntityPath(p string) error {
	if len(p) < MinEntityPathLen || len(p) > MaxEntityPathLen {
		return fmt.Errorf("%s (%d characters): an entity path is %d to %d characters long", quoteCut(p, MaxEntityPathLen), len(p), MinEntityPathLen, MaxEntityPathLen)
	}
	if !entityPathRE.MatchString(p) {
		return fmt.Errorf("%q does not match %s", p, entityPathRE)
	}
	if strings.HasSuffix(p, "/") {
		// IAM accepts it, and its report job then fails with
		// INVALID_ORGANIZATIONS_ENTITY_PATH.
		return fmt.Errorf("%q ends with a slash: an entity path ends with the entity's id", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return fmt.Errorf("%q has an empty segment", p)
		}
	}
	return nil
}

// fields maps each JSON name, case-sensitively (encoding/json alone would
// accept "RUNID"), to the raw field it fills.
func (r *raw) fields() map[string]any {
	return map[string]any{
		"runId": &r.RunID, "entityPaths": &r.EntityPaths,
		"includeAccounts": &r.IncludeAccounts, "includePolicies": &r.IncludePolicies,
		"unusedDays": &r.UnusedDays, "maxConcurrentJobs": &r.MaxConcurrentJobs,
		"maxRunMinutes": &r.MaxRunMinutes, "accountRefreshDays": &r.AccountRefresh,
	}
}

const knownFields = "runId, entityPaths, includeAccounts, includePolicies, unusedDays, maxConcurrentJobs, maxRunMinutes, accountRefreshDays"

// decodeStrict reads one JSON object into r: exact field names, each at
// most once, values of the right type, nothing after the object.
func decodeStrict(doc []byte, r *raw) *InvalidInput {
	dec := json.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &InvalidInput{Field: "input", Message: "must be a JSON object"}
	}
	fields := r.fields()
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		name, _ := tok.(string)
		target, ok := fields[name]
		if !ok {
			return unknownField(name)
		}
		if seen[name] {
			return &InvalidInput{Field: name, Message: "given more than once"}
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return syntaxError(err)
		}
		if err := json.Unmarshal(value, target); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return &InvalidInput{Field: name, Message: fmt.Sprintf("must be %s, not %s", typeName(name), cutText(typeErr.Value, maxQuoted))}
			}
			return &InvalidInput{Field: name, Message: cutText(err.Error(), maxQuoted)}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &InvalidInput{Field: "input", Message: "unexpected data after the JSON object"}
	}
	return nil
}

// unknownField names an unknown field as written when that reads well in
// an error; an empty, long or unprintable name is quoted (and cut) in the
// message of the document's error instead.
func unknownField(name string) *InvalidInput {
	const msg = "unknown field (known: " + knownFields + ")"
	if name != "" && len(name) <= MaxFieldNameLen && strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return &InvalidInput{Field: name, Message: msg}
	}
	return &InvalidInput{Field: "input", Message: fmt.Sprintf("%s: %s", quoteCut(name, MaxFieldNameLen), msg)}
}

// quoteCut quotes s for an error message, cut to its first n bytes (at a
// character boundary) and marked "…" when longer, so that whatever an
// input holds its message stays short.
func quoteCut(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…", s[:cutAt(s, n)])
}

// maxQuoted bounds the part of a JSON decoder's error (which may quote a
// whole number literal of the input) kept in a message.
const maxQuoted = 200

// cutText is s cut to its first n bytes at a character boundary, marked
// "…" when longer.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:cutAt(s, n)] + "…"
}

// cutAt is the largest character boundary of s at most n.
func cutAt(s string, n int) int {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

func syntaxError(err error) *InvalidInput {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &InvalidInput{Field: "input", Message: "truncated JSON"}
	}
	return &InvalidInput{Field: "input", Message: "not valid JSON: " + cutText(err.Error(), maxQuoted)}
}

func typeName(field string) string {
	switch field {
	case "runId":
		return "a string"
	case "entityPaths":
		return "an array of strings"
	case "includeAccounts", "includePolicies":
		return "a boolean"
	case "maxRunMinutes":
		return "a number"
	}
	return "an integer"
}
