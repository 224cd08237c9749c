// Package wire holds what every service of the simulator shares on the wire:
// the authenticated caller and request id carried in the request context,
// and the AWS envelopes for Query/XML and JSON 1.1 responses and errors.
package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Caller is the principal a request was signed by.
type Caller struct {
	AccessKeyID string
	Account     string // 12-digit account id
	ARN         string // arn:aws:iam::<acct>:user/x or arn:aws:sts::<acct>:assumed-role/<role>/<session>
	UserID      string // AIDA… for users, AROA…:<session> for role sessions
	// NoOrganizationsAccess marks a principal without the Organizations
	// Describe*/List* permissions.
	NoOrganizationsAccess bool
}

type ctxKey int

const (
	callerKey ctxKey = iota
	requestIDKey
)

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey, c)
}

// CallerFrom returns the caller carried by ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey).(Caller)
	return c, ok
}

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or a new one.
func RequestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey).(string); ok {
		return id
	}
	return NewRequestID()
}

// NewRequestID returns a random id shaped like AWS request ids.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Query protocol XML namespaces.
const (
	IAMNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

type queryError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// WriteQueryError writes an AWS Query protocol ErrorResponse. The error
// type is Receiver for 5xx statuses and Sender otherwise.
func WriteQueryError(w http.ResponseWriter, r *http.Request, xmlns string, status int, code, message string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	id := RequestID(r.Context())
	writeXML(w, id, status, queryError{Xmlns: xmlns, Type: typ, Code: code, Message: message, RequestID: id})
}

// WriteQueryResult writes <{action}Response><{action}Result>result</…>
// <ResponseMetadata><RequestId>…</…></…>. result must marshal to the
// children of the Result element (use an anonymous struct or ",innerxml").
func WriteQueryResult(w http.ResponseWriter, r *http.Request, xmlns, action string, result any) {
	id := RequestID(r.Context())
	inner, err := xml.Marshal(result)
	if err != nil {
		WriteQueryError(w, r, xmlns, http.StatusInternalServerError, "ServiceFailure", err.Error())
		return
	}
	// Strip the wrapper element xml.Marshal put around the fields.
	if i, j := bytes.IndexByte(inner, '>'), bytes.LastIndexByte(inner, '<'); i >= 0 && j > i {
		inner = inner[i+1 : j]
	}
	body := []byte("<" + action + "Response xmlns=\"" + xmlns + "\"><" + action + "Result>")
	body = append(body, inner...)
	body = append(body, "</"+action+"Result><ResponseMetadata><RequestId>"+id+"</RequestId></ResponseMetadata></"+action+"Response>"...)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func writeXML(w http.ResponseWriter, id string, status int, v any) {
	b, _ := xml.Marshal(v)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// WriteJSONError writes an AWS JSON 1.1 error: {"__type": code, "Message": …}.
func WriteJSONError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	WriteJSON(w, r, status, map[string]string{"__type": code, "Message": message})
}

// WriteJSON writes an AWS JSON 1.1 response body.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"ServiceException","Message":"encoding failed"}`)
	}
	id := RequestID(r.Context())
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", id)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// WriteS3Error writes an S3 REST error: <Error><Code>…</Code><Message>…
// </Message><Resource>…</Resource><RequestId>…</RequestId></Error>, with
// the request id also in the x-amz-request-id header as S3 sends it.
func WriteS3Error(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := RequestID(r.Context())
	w.Header().Set("x-amz-request-id", id)
	b, _ := xml.Marshal(s3Error{Code: code, Message: message, Resource: r.URL.Path, RequestID: id})
	b = append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
