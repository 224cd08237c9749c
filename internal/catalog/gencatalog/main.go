// Command gencatalog writes the simulator's service catalog from the list of
// services IAM returned in an Organizations access report, the list of IAM
// service prefixes and botocore's service models. It is run by hand when the
// catalog is refreshed; the result is committed as
// internal/catalog/services.json.
//
//	go run ./internal/catalog/gencatalog \
//		-iam-services internal/catalog/iam-services.tsv \
//		-iam-prefixes internal/catalog/iam-prefixes.txt \
//		-data "$(python3 -c 'import botocore,os;print(os.path.dirname(botocore.__file__))')/data" \
//		> internal/catalog/services.json
//
// IAM's own list (iam-services.tsv: namespace and name, tab-separated, as
// GetOrganizationsAccessReport listed them for an OU under FullAWSAccess) is
// the reference: every service on it is written under IAM's name. A prefix
// of the IAM prefix list that IAM's list lacks is added under the name of its
// botocore model, with a note on stderr, and left out when no model names it.
//
// Access reports and SCP actions name services by IAM service prefix. A
// model's signingName is usually that prefix but not always (CloudWatch signs
// as "monitoring", its actions are cloudwatch:*), so only namespaces on the
// IAM prefix list are taken from botocore: a signing name that is a prefix
// keeps the model's full name, a known mismatch is mapped by the aliases
// table, and any other signing name is left out with a note on stderr.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// alias maps a botocore signing name to the IAM prefix its actions use.
type alias struct {
	prefix string
	// name replaces the model's full name when several models share the
	// prefix and none of their names covers it.
	name string
}

// aliases are the signing names whose operations IAM authorizes under
// another prefix that has no model of its own. Each was checked against the
// actions cfn-lint lists for the prefix: nearly every operation of the model
// is an action of the prefix.
var aliases = map[string]alias{
	"iot-jobs-data":   {prefix: "iotjobsdata"},
	"monitoring":      {prefix: "cloudwatch"},
	"mturk-requester": {prefix: "mechanicalturk"},
	"tagging":         {prefix: "tag"},
	// The four Partner Central APIs are one IAM service.
	"partnercentral-account":  {prefix: "partnercentral", name: "AWS Partner Central"},
	"partnercentral-benefits": {prefix: "partnercentral", name: "AWS Partner Central"},
	"partnercentral-channel":  {prefix: "partnercentral", name: "AWS Partner Central"},
	"partnercentral-selling":  {prefix: "partnercentral", name: "AWS Partner Central"},
}

// dropped are the signing names that are not IAM prefixes and are left out
// on purpose, with the reason.
var dropped = map[string]string{
	"application-cost-profiler": "retired service; no IAM prefix",
	"awsssoportal":              "the portal API is authorized by IAM Identity Center tokens, not IAM actions",
	"cloudcontrolapi":           "authorized as cloudformation:*, which has its own model",
	"iotdata":                   "authorized as iot:*, which has its own model",
	"ioteventsdata":             "authorized as iotevents:*, which has its own model",
	"iotsecuredtunneling":       "authorized as iot:*, which has its own model",
	"iotthingsgraph":            "retired service; no IAM prefix",
}

type serviceModel struct {
	Metadata struct {
		SigningName     string `json:"signingName"`
		EndpointPrefix  string `json:"endpointPrefix"`
		ServiceFullName string `json:"serviceFullName"`
	} `json:"metadata"`
}

type entry struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func main() {
	servicesFile := flag.String("iam-services", "", "services IAM lists in a full access report, namespace<TAB>name with a header line (required)")
	prefixFile := flag.String("iam-prefixes", "", "IAM service prefixes, one a line, # for comments (required)")
	data := flag.String("data", "", "botocore data directory (required)")
	flag.Parse()
	if *servicesFile == "" || *data == "" || *prefixFile == "" {
		fmt.Fprintln(os.Stderr, "gencatalog: -iam-services, -iam-prefixes and -data are required")
		os.Exit(2)
	}
	iam, err := readServices(*servicesFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
	prefixes, err := readPrefixes(*prefixFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
	models, left, err := collect(*data, prefixes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
	for _, l := range left {
		fmt.Fprintf(os.Stderr, "gencatalog: left out %s: signing name is not an IAM prefix and has no alias\n", l)
	}
	entries, notes := merge(iam, models, prefixes)
	for _, n := range notes {
		fmt.Fprintln(os.Stderr, "gencatalog:", n)
	}
	out, _ := json.MarshalIndent(entries, "", " ")
	os.Stdout.Write(append(out, '\n'))
}

// readServices reads IAM's list: a header line, then namespace<TAB>name.
func readServices(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			if sc.Text() != "namespace\tname" {
				return nil, fmt.Errorf("%s:1: header %q: want \"namespace<TAB>name\"", path, sc.Text())
			}
			continue
		}
		if sc.Text() == "" {
			continue
		}
		ns, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok || ns == "" || name == "" || strings.Contains(name, "\t") {
			return nil, fmt.Errorf("%s:%d: %q: want namespace<TAB>name", path, line, sc.Text())
		}
		if seen[ns] {
			return nil, fmt.Errorf("%s:%d: namespace %s listed twice", path, line, ns)
		}
		seen[ns] = true
		out = append(out, entry{Namespace: ns, Name: name})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read %s: no services", path)
	}
	return out, nil
}

// merge returns IAM's list under IAM's names, plus every IAM prefix IAM's
// list lacks that a botocore model names, sorted by namespace. notes say
// what was added from botocore or left out.
func merge(iam, models []entry, prefixes map[string]bool) ([]entry, []string) {
	byNamespace := map[string]string{}
	for _, e := range iam {
		byNamespace[e.Namespace] = e.Name
	}
	modelName := map[string]string{}
	for _, e := range models {
		modelName[e.Namespace] = e.Name
	}
	var notes []string
	for p := range prefixes {
		if _, ok := byNamespace[p]; ok {
			continue
		}
		if name, ok := modelName[p]; ok {
			byNamespace[p] = name
			notes = append(notes, fmt.Sprintf("added %s (%q from botocore): an IAM prefix IAM's list does not name", p, name))
		} else {
			notes = append(notes, fmt.Sprintf("left out %s: an IAM prefix neither IAM's list nor a botocore model names", p))
		}
	}
	sort.Strings(notes)
	entries := make([]entry, 0, len(byNamespace))
	for ns, name := range byNamespace {
		entries = append(entries, entry{Namespace: ns, Name: name})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Namespace < entries[j].Namespace })
	return entries, notes
}

// readPrefixes reads one IAM prefix a line, skipping blank and # lines.
func readPrefixes(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefixes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			prefixes[l] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("read %s: no prefixes", path)
	}
	return prefixes, nil
}

// collect returns the catalog entries, sorted by namespace, and the models
// left out because their signing name is neither a prefix nor known here.
func collect(dir string, prefixes map[string]bool) ([]entry, []string, error) {
	for from, a := range aliases {
		if !prefixes[a.prefix] {
			return nil, nil, fmt.Errorf("alias %s -> %s: not an IAM prefix", from, a.prefix)
		}
	}
	services, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	byNamespace := map[string]string{}
	exact := map[string]bool{}
	var left []string
	for _, s := range services {
		if !s.IsDir() {
			continue
		}
		versions, _ := filepath.Glob(filepath.Join(dir, s.Name(), "*", "service-2.json*"))
		if len(versions) == 0 {
			continue
		}
		sort.Strings(versions)
		m, err := readModel(versions[len(versions)-1])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		ns := m.Metadata.SigningName
		if ns == "" {
			ns = m.Metadata.EndpointPrefix
		}
		ns = strings.ToLower(ns)
		name := m.Metadata.ServiceFullName
		if ns == "" || name == "" {
			continue
		}
		if a, ok := aliases[ns]; ok {
			ns = a.prefix
			if a.name != "" {
				name = a.name
			}
		}
		if !prefixes[ns] {
			if _, ok := dropped[ns]; !ok {
				left = append(left, fmt.Sprintf("%s (model %s)", ns, s.Name()))
			}
			continue
		}
		// Several models share a signing name (s3 and s3control, the API
		// Gateway variants). The model named after the namespace wins; among
		// the others the shortest full name is usually the umbrella service.
		isExact := s.Name() == ns
		old, seen := byNamespace[ns]
		switch {
		case !seen, isExact && !exact[ns], !exact[ns] && len(name) < len(old):
			byNamespace[ns] = name
			exact[ns] = exact[ns] || isExact
		}
	}
	entries := make([]entry, 0, len(byNamespace))
	for ns, name := range byNamespace {
		entries = append(entries, entry{Namespace: ns, Name: name})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Namespace < entries[j].Namespace })
	return entries, left, nil
}

func readModel(path string) (*serviceModel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = gz
	}
	var m serviceModel
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}
