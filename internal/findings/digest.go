package findings

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// Digest is the compact form of one entity report that the pipeline keeps in
// its run manifest, enough to compute findings and changes without reading
// the report back. It stays small because most listed services were never
// accessed: the listed namespaces are a bitmap over the embedded service
// catalog, and only accessed services carry a time. A report digests to
// ~110 bytes plus ~20 per accessed service and ~12 per listed namespace the
// catalog does not know (JSON-encoded).
type Digest struct {
	// AsOf is the report's as-of instant (job completion), Unix seconds.
	AsOf int64 `json:"t"`
	// Catalog tags the catalog version the Listed bitmap refers to.
	Catalog string `json:"c"`
	// Listed is a bitmap (bit i = catalog.All()[i]) of the listed
	// namespaces, base64url without padding, trailing zero bytes dropped.
	Listed string `json:"l,omitempty"`
	// Extra holds the listed namespaces the catalog does not know, sorted,
	// comma-separated.
	Extra string `json:"x,omitempty"`
	// Accessed holds "namespace:seconds" for every service ever accessed,
	// sorted by namespace, comma-separated; seconds is AsOf minus the last
	// access. Accessed services are also in Listed or Extra.
	Accessed string `json:"a,omitempty"`
	// Unused counts the services unused for the threshold DigestOf was
	// given (never accessed, or last accessed more than that many days
	// before AsOf), as reportdoc.EntityReport.UnusedServices counts them.
	Unused int `json:"u"`
}

// ErrStaleDigest means a digest's service bitmap refers to a different
// service catalog than this build embeds (a deploy in the middle of a run).
// Recompute the digest from the stored report with DigestOf.
var ErrStaleDigest = errors.New("findings: digest made with another service catalog")

const secondsPerDay = 24 * 60 * 60

// catalogTag identifies the embedded catalog's namespace order.
var catalogTag = func() string {
	h := sha256.New()
	for _, s := range catalog.All() {
		h.Write([]byte(s.Namespace))
		h.Write([]byte{','})
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}()

// catalogIndex maps a namespace to its position in catalog.All().
var catalogIndex = func() map[string]int {
	m := make(map[string]int, len(catalog.All()))
	for i, s := range catalog.All() {
		m[s.Namespace] = i
	}
	return m
}()

// DigestOf digests r. unusedDays is the run's threshold, used for the Unused
// count only: the digest keeps exact access ages, so findings and changes can
// apply any threshold later.
func DigestOf(r *reportdoc.EntityReport, unusedDays int) Digest {
	asOf := r.AsOf().Truncate(0).Unix()
	d := Digest{AsOf: asOf, Catalog: catalogTag}
	bits := make([]byte, (len(catalog.All())+7)/8)
	var extra []string
	type acc struct {
		ns  string
		ago int64
	}
	var accessed []acc
	limit := int64(unusedDays) * secondsPerDay
	for _, s := range r.Services {
		if i, ok := catalogIndex[s.Namespace]; ok {
			bits[i/8] |= 1 << (i % 8)
		} else {
			extra = append(extra, s.Namespace)
		}
		if s.LastAuthenticated == nil {
			d.Unused++
			continue
		}
		ago := max(asOf-s.LastAuthenticated.Unix(), 0)
		accessed = append(accessed, acc{s.Namespace, ago})
		if ago > limit {
			d.Unused++
		}
	}
	n := len(bits)
	for n > 0 && bits[n-1] == 0 {
		n--
	}
	d.Listed = base64.RawURLEncoding.EncodeToString(bits[:n])
	sort.Strings(extra)
	d.Extra = strings.Join(extra, ",")
	sort.Slice(accessed, func(i, j int) bool { return accessed[i].ns < accessed[j].ns })
	var b strings.Builder
	for i, a := range accessed {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.ns)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(a.ago, 10))
	}
	d.Accessed = b.String()
	return d
}

// ServiceAge is one listed service of a digest: Ago is the number of seconds
// between its last access and the report's as-of instant, or -1 when it was
// never accessed in the tracking period.
type ServiceAge struct {
	Namespace string
	Ago       int64
}

// Never reports whether the service was never accessed.
func (s ServiceAge) Never() bool { return s.Ago < 0 }

// Days is the number of whole days since the last access, or -1 for never.
func (s ServiceAge) Days() int {
	if s.Ago < 0 {
		return -1
	}
	return int(s.Ago / secondsPerDay)
}

// UnusedFor reports whether the service was not accessed within the last
// days days: never, or last accessed more than days*24h before the as-of
// instant (the rule of reportdoc.EntityReport.UnusedServices).
func (s ServiceAge) UnusedFor(days int) bool {
	return s.Ago < 0 || s.Ago > int64(days)*secondsPerDay
}

// Services decodes every listed service of d, sorted by namespace, appending
// to buf (which may be nil) to spare allocations in loops over many digests.
func (d *Digest) Services(buf []ServiceAge) ([]ServiceAge, error) {
	accessed, err := d.accessed()
	if err != nil {
		return nil, err
	}
	out := buf[:0]
	if d.Listed != "" {
		if d.Catalog != catalogTag {
			return nil, fmt.Errorf("%w: digest %s, build %s", ErrStaleDigest, d.Catalog, catalogTag)
		}
		bits, err := base64.RawURLEncoding.DecodeString(d.Listed)
		if err != nil {
			return nil, fmt.Errorf("findings: digest bitmap: %w", err)
		}
		all := catalog.All()
		if len(bits) > (len(all)+7)/8 {
			return nil, fmt.Errorf("findings: digest bitmap longer than the catalog")
		}
		for i := range len(bits) * 8 {
			if bits[i/8]&(1<<(i%8)) != 0 {
				if i >= len(all) {
					return nil, fmt.Errorf("findings: digest bitmap bit %d beyond the catalog", i)
				}
				out = append(out, ServiceAge{Namespace: all[i].Namespace, Ago: -1})
			}
		}
	}
	if d.Extra != "" {
		for _, ns := range strings.Split(d.Extra, ",") {
			out = append(out, ServiceAge{Namespace: ns, Ago: -1})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	}
	// Both lists are sorted by namespace: merge the ages in.
	j := 0
	for i := range out {
		for j < len(accessed) && accessed[j].Namespace < out[i].Namespace {
			j++
		}
		if j < len(accessed) && accessed[j].Namespace == out[i].Namespace {
			out[i].Ago = accessed[j].Ago
		}
	}
	return out, nil
}

// AccessedServices decodes only the accessed services of d, sorted by
// namespace. It needs no catalog, so it also reads digests of older builds.
func (d *Digest) AccessedServices() ([]ServiceAge, error) { return d.accessed() }

func (d *Digest) accessed() ([]ServiceAge, error) {
	if d.Accessed == "" {
		return nil, nil
	}
	parts := strings.Split(d.Accessed, ",")
	out := make([]ServiceAge, 0, len(parts))
	for _, p := range parts {
		ns, secs, ok := strings.Cut(p, ":")
		ago, err := strconv.ParseInt(secs, 10, 64)
		if !ok || ns == "" || err != nil || ago < 0 {
			return nil, fmt.Errorf("findings: digest access entry %q", p)
		}
		out = append(out, ServiceAge{Namespace: ns, Ago: ago})
	}
	return out, nil
}
