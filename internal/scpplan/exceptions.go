package scpplan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// Exception keeps one service reachable at one entity and everything under
// it: the plan neither denies it there (nor above, which would reach it) nor
// leaves it out of an allow-list there.
type Exception struct {
	// Entity is the entity as the file names it: id, entity path or name.
	Entity  string
	Service string
	Reason  string
	// Expires is the last day the exception holds (YYYY-MM-DD, UTC); empty
	// for none.
	Expires string
	// EntityID is Entity resolved by the plan.
	EntityID string

	expired bool
}

// Expired says the exception is past its expiry date: reported, not applied.
func (e Exception) Expired() bool { return e.expired }

// exceptionsFile is the exceptions file: YAML, or JSON (which YAML reads).
type exceptionsFile struct {
	Exceptions []struct {
		Entity   string `yaml:"entity"`
		Services []struct {
			Service string `yaml:"service"`
			Reason  string `yaml:"reason"`
			Expires string `yaml:"expires"`
		} `yaml:"services"`
	} `yaml:"exceptions"`
}

// ParseExceptions reads an exceptions file; name is how errors refer to
// it. An exception whose expiry date is before now's date (UTC) is marked
// expired.
func ParseExceptions(name string, data []byte, now time.Time) ([]Exception, error) {
	var f exceptionsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	today := now.UTC().Format(time.DateOnly)
	var out []Exception
	for i, e := range f.Exceptions {
		where := fmt.Sprintf("%s: exceptions[%d]", name, i)
		if strings.TrimSpace(e.Entity) == "" {
			return nil, fmt.Errorf("%s: entity is missing (an id, entity path or name)", where)
		}
		if len(e.Services) == 0 {
			return nil, fmt.Errorf("%s (%s): services is empty", where, e.Entity)
		}
		for j, s := range e.Services {
			at := fmt.Sprintf("%s (%s) services[%d]", where, e.Entity, j)
			ns := strings.TrimSpace(s.Service)
			if ns == "" {
				return nil, fmt.Errorf("%s: service is missing (an IAM service prefix such as sagemaker)", at)
			}
			if strings.TrimSpace(s.Reason) == "" {
				return nil, fmt.Errorf("%s (%s): reason is missing: say why the service is kept", at, ns)
			}
			x := Exception{Entity: strings.TrimSpace(e.Entity), Service: ns, Reason: strings.TrimSpace(s.Reason), Expires: strings.TrimSpace(s.Expires)}
			if x.Expires != "" {
				d, err := time.Parse(time.DateOnly, x.Expires)
				if err != nil {
					return nil, fmt.Errorf("%s (%s): expires %q: want a date YYYY-MM-DD", at, ns, x.Expires)
				}
				x.Expires = d.Format(time.DateOnly)
				x.expired = x.Expires < today
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// applyExceptions resolves each exception's entity and checks its service,
// and returns the services kept at each node by the exceptions in force.
func applyExceptions(t *tree, exceptions []Exception) (map[*Node]set, error) {
	listed := set{}
	for _, n := range t.nodes {
		for _, ns := range n.Listed {
			listed[ns] = true
		}
	}
	kept := map[*Node]set{}
	for i := range exceptions {
		e := &exceptions[i]
		n, err := t.find(e.Entity)
		if err != nil {
			return nil, fmt.Errorf("exception for %q: %v", e.Entity, err)
		}
		if _, ok := catalog.Lookup(e.Service); !ok && !listed[e.Service] {
			return nil, fmt.Errorf("exception for %s: no service %q (neither an IAM service prefix orgaudit knows nor one the run's reports list)", e.Entity, e.Service)
		}
		e.EntityID = n.ID
		if e.expired {
			continue
		}
		if kept[n] == nil {
			kept[n] = set{}
		}
		kept[n][e.Service] = true
	}
	return kept, nil
}
