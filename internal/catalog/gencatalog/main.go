// Command gencatalog writes the simulator's service catalog from botocore's
// service models. It is run by hand when the catalog is refreshed; the result
// is committed as internal/catalog/services.json.
//
//	go run ./internal/catalog/gencatalog -data "$(python3 -c 'import botocore,os;print(os.path.dirname(botocore.__file__))')/data" > internal/catalog/services.json
package main

import (
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
	data := flag.String("data", "", "botocore data directory (required)")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "gencatalog: -data is required")
		os.Exit(2)
	}
	entries, err := collect(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(entries, "", " ")
	os.Stdout.Write(append(out, '\n'))
}

func collect(dir string) ([]entry, error) {
	services, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byNamespace := map[string]string{}
	exact := map[string]bool{}
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
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		ns := m.Metadata.SigningName
		if ns == "" {
			ns = m.Metadata.EndpointPrefix
		}
		ns = strings.ToLower(ns)
		if ns == "" || m.Metadata.ServiceFullName == "" {
			continue
		}
		// Several models share a signing name (s3 and s3control, the API
		// Gateway variants). The model named after the namespace wins; among
		// the others the shortest full name is usually the umbrella service.
		isExact := s.Name() == ns
		old, seen := byNamespace[ns]
		switch {
		case !seen, isExact && !exact[ns], !exact[ns] && len(m.Metadata.ServiceFullName) < len(old):
			byNamespace[ns] = m.Metadata.ServiceFullName
			exact[ns] = exact[ns] || isExact
		}
	}
	entries := make([]entry, 0, len(byNamespace))
	for ns, name := range byNamespace {
		entries = append(entries, entry{Namespace: ns, Name: name})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Namespace < entries[j].Namespace })
	return entries, nil
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
