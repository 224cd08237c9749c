package orgmodel

import (
	"testing"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// TestGeneratorNamesCatalogServices guards the hand-written service lists:
// knownSorted and the activity tiers pass over a namespace the catalog does
// not know, so a misspelt or renamed one would vanish without an error.
func TestGeneratorNamesCatalogServices(t *testing.T) {
	lists := map[string][]string{"coreServices": coreServices, "tier1": tier1}
	for _, th := range policyThemes {
		lists[th.name] = th.services
	}
	for ns := range tier2 {
		lists["tier2"] = append(lists["tier2"], ns)
	}
	for ns := range globalServices {
		lists["globalServices"] = append(lists["globalServices"], ns)
	}
	for name, list := range lists {
		for _, ns := range list {
			if _, ok := catalog.Lookup(ns); !ok {
				t.Errorf("Got(%s has %q); want a catalog namespace", name, ns)
			}
		}
	}
}
