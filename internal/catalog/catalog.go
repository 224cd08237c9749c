// Package catalog is the list of AWS services (IAM namespace and full name)
// that access reports talk about. It is generated from botocore's service
// models by ./gencatalog and committed as services.json.
package catalog

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

// Service is one AWS service as access reports name it.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

//go:embed services.json
var servicesJSON []byte

var all = mustLoad(servicesJSON)

func mustLoad(b []byte) []Service {
	var s []Service
	if err := json.Unmarshal(b, &s); err != nil {
		panic(fmt.Sprintf("catalog: services.json: %v", err))
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Namespace < s[j].Namespace })
	return s
}

// All returns every service, sorted by namespace. The slice is shared: do
// not modify it.
func All() []Service { return all }

// Lookup returns the service with the given namespace.
func Lookup(namespace string) (Service, bool) {
	i := sort.Search(len(all), func(i int) bool { return all[i].Namespace >= namespace })
	if i < len(all) && all[i].Namespace == namespace {
		return all[i], true
	}
	return Service{}, false
}
