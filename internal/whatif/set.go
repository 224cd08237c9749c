package whatif

import (
	"math/bits"
	"sort"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// Set is a set of service namespaces: a bitmap over the service catalog
// plus the namespaces the catalog does not know. A report lists ~450
// services; as a Set that is 64 bytes, not 450 strings, which keeps the
// reports of 10,000 accounts small.
type Set struct {
	bits  []uint64
	extra []string // sorted
}

// catalogIndex maps a namespace to its position in catalog.All().
var catalogIndex = func() map[string]int {
	m := make(map[string]int, len(catalog.All()))
	for i, s := range catalog.All() {
		m[s.Namespace] = i
	}
	return m
}()

// NewSet returns the set of namespaces.
func NewSet(namespaces ...string) Set {
	s := Set{bits: make([]uint64, (len(catalog.All())+63)/64)}
	for _, ns := range namespaces {
		s.add(ns)
	}
	sort.Strings(s.extra)
	return s
}

func (s *Set) add(ns string) {
	if i, ok := catalogIndex[ns]; ok {
		s.bits[i/64] |= 1 << (i % 64)
		return
	}
	for _, x := range s.extra {
		if x == ns {
			return
		}
	}
	s.extra = append(s.extra, ns)
}

// Has reports whether ns is in s.
func (s Set) Has(ns string) bool {
	if i, ok := catalogIndex[ns]; ok {
		return i/64 < len(s.bits) && s.bits[i/64]&(1<<(i%64)) != 0
	}
	for _, x := range s.extra {
		if x == ns {
			return true
		}
	}
	return false
}

// Namespaces returns the members, sorted.
func (s Set) Namespaces() []string {
	var out []string
	s.each(func(_ int, ns string) { out = append(out, ns) })
	sort.Strings(out)
	return out
}

// Len returns the number of members.
func (s Set) Len() int {
	n := len(s.extra)
	s.each(func(int, string) { n++ })
	return n - len(s.extra)
}

// each calls fn for every member: i is its catalog index, or -1 for a
// namespace the catalog does not know.
func (s Set) each(fn func(i int, ns string)) {
	all := catalog.All()
	for w, word := range s.bits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			fn(w*64+b, all[w*64+b].Namespace)
		}
	}
	for _, ns := range s.extra {
		fn(-1, ns)
	}
}
