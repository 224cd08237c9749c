package iamreports

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// Sort keys of GetOrganizationsAccessReport.
const (
	SortNamespaceAsc  = "SERVICE_NAMESPACE_ASCENDING"
	SortNamespaceDesc = "SERVICE_NAMESPACE_DESCENDING"
	SortTimeAsc       = "LAST_AUTHENTICATED_TIME_ASCENDING"
	SortTimeDesc      = "LAST_AUTHENTICATED_TIME_DESCENDING"
)

var sortKeys = []string{SortNamespaceAsc, SortNamespaceDesc, SortTimeAsc, SortTimeDesc}

const (
	defaultMaxItems = 100
	maxMaxItems     = 1000
	jobIDLen        = 36
)

// Result elements, named as the IAM API (and so the SDK deserializers)
// names them. The outer element is stripped by wire.WriteQueryResult.
type generateResult struct {
	XMLName xml.Name `xml:"GenerateOrganizationsAccessReportResult"`
	JobID   string   `xml:"JobId"`
}

type getResult struct {
	XMLName                     xml.Name       `xml:"GetOrganizationsAccessReportResult"`
	JobStatus                   string         `xml:"JobStatus"`
	JobCreationDate             string         `xml:"JobCreationDate"`
	JobCompletionDate           string         `xml:"JobCompletionDate,omitempty"`
	NumberOfServicesAccessible  *int           `xml:"NumberOfServicesAccessible,omitempty"`
	NumberOfServicesNotAccessed *int           `xml:"NumberOfServicesNotAccessed,omitempty"`
	AccessDetails               *accessDetails `xml:"AccessDetails,omitempty"`
	IsTruncated                 bool           `xml:"IsTruncated"`
	Marker                      string         `xml:"Marker,omitempty"`
	ErrorDetails                *errorDetails  `xml:"ErrorDetails,omitempty"`
}

type accessDetails struct {
	Members []accessDetail `xml:"member"`
}

type accessDetail struct {
	ServiceName                string `xml:"ServiceName"`
	ServiceNamespace           string `xml:"ServiceNamespace"`
	Region                     string `xml:"Region,omitempty"`
	EntityPath                 string `xml:"EntityPath,omitempty"`
	LastAuthenticatedTime      string `xml:"LastAuthenticatedTime,omitempty"`
	TotalAuthenticatedEntities int    `xml:"TotalAuthenticatedEntities"`
}

type errorDetails struct {
	Message string `xml:"Message"`
	Code    string `xml:"Code"`
}

func writeResult(w http.ResponseWriter, r *http.Request, action string, result any) {
	if g, ok := result.(getResult); ok {
		// Pages are the hot path: write their XML directly rather than by
		// reflection.
		result = rawResult{Inner: g.appendXML(make([]byte, 0, 256+300*g.items()))}
	}
	wire.WriteQueryResult(w, r, wire.IAMNamespace, action, result)
}

// rawResult carries already-encoded children of the Result element.
type rawResult struct {
	XMLName xml.Name `xml:"Result"`
	Inner   []byte   `xml:",innerxml"`
}

func (g *getResult) items() int {
	if g.AccessDetails == nil {
		return 0
	}
	return len(g.AccessDetails.Members)
}

// appendXML encodes g as encoding/xml would with the struct tags above.
func (g *getResult) appendXML(b []byte) []byte {
	b = appendElem(b, "JobStatus", g.JobStatus)
	b = appendElem(b, "JobCreationDate", g.JobCreationDate)
	if g.JobCompletionDate != "" {
		b = appendElem(b, "JobCompletionDate", g.JobCompletionDate)
	}
	if g.NumberOfServicesAccessible != nil {
		b = appendInt(b, "NumberOfServicesAccessible", *g.NumberOfServicesAccessible)
	}
	if g.NumberOfServicesNotAccessed != nil {
		b = appendInt(b, "NumberOfServicesNotAccessed", *g.NumberOfServicesNotAccessed)
	}
	if g.AccessDetails != nil {
		b = append(b, "<AccessDetails>"...)
		for _, d := range g.AccessDetails.Members {
			b = append(b, "<member>"...)
			b = appendElem(b, "ServiceName", d.ServiceName)
			b = appendElem(b, "ServiceNamespace", d.ServiceNamespace)
			if d.Region != "" {
				b = appendElem(b, "Region", d.Region)
			}
			if d.EntityPath != "" {
				b = appendElem(b, "EntityPath", d.EntityPath)
			}
			if d.LastAuthenticatedTime != "" {
				b = appendElem(b, "LastAuthenticatedTime", d.LastAuthenticatedTime)
			}
			b = appendInt(b, "TotalAuthenticatedEntities", d.TotalAuthenticatedEntities)
			b = append(b, "</member>"...)
		}
		b = append(b, "</AccessDetails>"...)
	}
	b = append(b, "<IsTruncated>"...)
	b = strconv.AppendBool(b, g.IsTruncated)
	b = append(b, "</IsTruncated>"...)
	if g.Marker != "" {
		b = appendElem(b, "Marker", g.Marker)
	}
	if g.ErrorDetails != nil {
		b = append(b, "<ErrorDetails>"...)
		b = appendElem(b, "Message", g.ErrorDetails.Message)
		b = appendElem(b, "Code", g.ErrorDetails.Code)
		b = append(b, "</ErrorDetails>"...)
	}
	return b
}

func appendElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendInt(b []byte, name string, v int) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped escapes text as xml.EscapeText does.
func appendEscaped(b []byte, text string) []byte {
	if !strings.ContainsAny(text, "<>&'\"\r\n\t") {
		return append(b, text...)
	}
	var buf bytes.Buffer
	xml.EscapeText(&buf, []byte(text))
	return append(b, buf.Bytes()...)
}

// IAM's date-time form.
const (
	jobDateLayout  = "2006-01-02T15:04:05.000Z"
	lastAuthLayout = "2006-01-02T15:04:05Z"
)

func (s *Service) get(caller wire.Caller, form url.Values) (any, error) {
	s.mu.Lock()
	s.stats.GetCalls++
	s.mu.Unlock()
	id := form.Get("JobId")
	switch {
	case !form.Has("JobId"):
		return nil, validationError("Value null at 'jobId' failed to satisfy constraint: Member must not be null")
	case len(id) < jobIDLen:
		return nil, validationError(fmt.Sprintf("Value '%s' at 'jobId' failed to satisfy constraint: Member must have length greater than or equal to %d", id, jobIDLen))
	case len(id) > jobIDLen:
		return nil, validationError(fmt.Sprintf("Value '%s' at 'jobId' failed to satisfy constraint: Member must have length less than or equal to %d", id, jobIDLen))
	}
	maxItems := defaultMaxItems
	if form.Has("MaxItems") {
		v := form.Get("MaxItems")
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return nil, validationError(fmt.Sprintf("Value '%s' at 'maxItems' failed to satisfy constraint: Member must be an integer", v))
		case n < 1:
			return nil, validationError(fmt.Sprintf("Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", n))
		case n > maxMaxItems:
			return nil, validationError(fmt.Sprintf("Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxMaxItems))
		}
		maxItems = n
	}
	sortKey := SortNamespaceAsc
	if form.Has("SortKey") {
		sortKey = form.Get("SortKey")
		if !slices.Contains(sortKeys, sortKey) {
			return nil, validationError(fmt.Sprintf("Value '%s' at 'sortKey' failed to satisfy constraint: Member must satisfy enum value set: [%s]", sortKey, strings.Join(sortKeys, ", ")))
		}
	}

	s.mu.Lock()
	j, ok := s.jobs[id]
	s.mu.Unlock()
	// A job of another owner (principal, or session under OwnerSession) is
	// reported as missing, not forbidden, as IAM does.
	if !ok || j.owner != s.owner(caller) {
		return nil, &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The job with ID %s was not found.", id)}
	}
	res := getResult{JobCreationDate: j.created.UTC().Format(jobDateLayout)}
	res.JobStatus = j.status(time.Now())
	if res.JobStatus == StatusInProgress {
		return res, nil
	}
	res.JobCompletionDate = j.created.Add(j.duration).UTC().Format(jobDateLayout)
	if res.JobStatus == StatusFailed {
		res.ErrorDetails = j.failure
		return res, nil
	}
	services := j.sortedBy(sortKey)
	offset := 0
	if form.Has("Marker") {
		var err error
		if offset, err = s.parseMarker(form.Get("Marker"), id, sortKey, len(services)); err != nil {
			return nil, err
		}
	}
	n := min(maxItems, len(services)-offset)
	if s.opts.ShortPageRate > 0 && n >= 2 && unit("short", id, sortKey, strconv.Itoa(offset), strconv.Itoa(maxItems)) < s.opts.ShortPageRate {
		n = 1 + int(unit("shortlen", id, strconv.Itoa(offset))*float64(n-1)) // 1..n-1
	}
	page := services[offset : offset+n]
	res.NumberOfServicesAccessible = &j.report.Accessible
	res.NumberOfServicesNotAccessed = &j.report.NotAccessed
	res.AccessDetails = &accessDetails{Members: make([]accessDetail, len(page))}
	for i, sa := range page {
		d := accessDetail{ServiceName: sa.Name, ServiceNamespace: sa.Namespace, Region: sa.Region,
			EntityPath: sa.EntityPath, TotalAuthenticatedEntities: sa.TotalAuthenticatedEntities}
		if !sa.LastAuthenticated.IsZero() {
			d.LastAuthenticatedTime = sa.LastAuthenticated.UTC().Format(lastAuthLayout)
		}
		res.AccessDetails.Members[i] = d
	}
	if next := offset + n; next < len(services) {
		res.IsTruncated = true
		res.Marker = s.marker(id, sortKey, next)
	}
	return res, nil
}

// sortedBy returns the report's services in the order of key. Services
// never accessed count as the oldest: first when ascending by time, last
// when descending; ties keep namespace order.
func (j *job) sortedBy(key string) []orgmodel.ServiceAccess {
	if key == SortNamespaceAsc {
		return j.report.Services
	}
	j.sortMu.Lock()
	defer j.sortMu.Unlock()
	if s, ok := j.sorted[key]; ok {
		return s
	}
	s := slices.Clone(j.report.Services)
	switch key {
	case SortNamespaceDesc:
		slices.Reverse(s)
	case SortTimeAsc:
		slices.SortStableFunc(s, func(a, b orgmodel.ServiceAccess) int { return a.LastAuthenticated.Compare(b.LastAuthenticated) })
	case SortTimeDesc:
		slices.SortStableFunc(s, func(a, b orgmodel.ServiceAccess) int { return b.LastAuthenticated.Compare(a.LastAuthenticated) })
	}
	if j.sorted == nil {
		j.sorted = map[string][]orgmodel.ServiceAccess{}
	}
	j.sorted[key] = s
	return s
}

// Markers are opaque to clients: the job, sort key and offset, signed so
// that an altered or foreign marker is refused.
func (s *Service) marker(id, sortKey string, offset int) string {
	payload := id + "|" + sortKey + "|" + strconv.Itoa(offset)
	return base64.RawURLEncoding.EncodeToString([]byte(payload + "|" + s.mac(payload)))
}

func (s *Service) mac(payload string) string {
	m := hmac.New(sha256.New, s.markerKey)
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// A marker IAM cannot decode is a ValidationError; one it decodes that
// belongs to another job or sort key is InvalidInput. The page size may
// change from page to page.
func (s *Service) parseMarker(marker, id, sortKey string, total int) (int, error) {
	bad := &apiError{http.StatusBadRequest, "ValidationError", "Invalid Marker."}
	raw, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil {
		return 0, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 {
		return 0, bad
	}
	payload := strings.Join(parts[:3], "|")
	if !hmac.Equal([]byte(parts[3]), []byte(s.mac(payload))) {
		return 0, bad
	}
	if parts[0] != id || parts[1] != sortKey {
		return 0, &apiError{http.StatusBadRequest, "InvalidInput", "The marker passed in the request was invalid."}
	}
	offset, err := strconv.Atoi(parts[2])
	if err != nil || offset < 0 || offset >= total {
		return 0, bad
	}
	return offset, nil
}
