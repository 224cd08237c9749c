package main

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeModel writes a minimal botocore service model under dir.
func writeModel(t *testing.T, dir, service, signingName, endpointPrefix, fullName string) {
	t.Helper()
	p := filepath.Join(dir, service, "2020-01-01", "service-2.json.gz")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	md := map[string]string{"signingName": signingName, "endpointPrefix": endpointPrefix, "serviceFullName": fullName}
	if err := json.NewEncoder(gz).Encode(map[string]any{"metadata": md}); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	for _, m := range [][4]string{
		{"s3", "s3", "s3", "Amazon Simple Storage Service"},
		{"s3control", "s3", "s3-control", "AWS S3 Control"},
		{"cloudwatch", "monitoring", "monitoring", "Amazon CloudWatch"},
		{"resourcegroupstaggingapi", "tagging", "tagging", "AWS Resource Groups Tagging API"},
		{"partnercentral-selling", "partnercentral-selling", "partnercentral-selling", "Partner Central Selling API"},
		{"partnercentral-account", "partnercentral-account", "partnercentral-account", "Partner Central Account API"},
		{"iot", "iot", "iot", "AWS IoT"},
		{"iot-data", "iotdata", "data-ats.iot", "AWS IoT Data Plane"},
		{"es", "", "es", "Amazon Elasticsearch Service"},
		{"newthing", "newthing", "newthing", "AWS New Thing"},
	} {
		writeModel(t, dir, m[0], m[1], m[2], m[3])
	}
	prefixes := map[string]bool{"s3": true, "cloudwatch": true, "tag": true, "partnercentral": true, "iot": true, "es": true,
		"iotjobsdata": true, "mechanicalturk": true}
	got, left, err := collect(dir, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{"cloudwatch", "Amazon CloudWatch"},
		{"es", "Amazon Elasticsearch Service"},
		{"iot", "AWS IoT"},
		{"partnercentral", "AWS Partner Central"},
		{"s3", "Amazon Simple Storage Service"},
		{"tag", "AWS Resource Groups Tagging API"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Got(collect) = %v; want %v", got, want)
	}
	if wantLeft := []string{"newthing (model newthing)"}; !reflect.DeepEqual(left, wantLeft) {
		t.Errorf("Got(left out) = %q; want %q", left, wantLeft)
	}
}

// TestCollectRejectsAliasToUnknownPrefix makes a refresh fail loudly when the
// prefix list no longer has an alias target.
func TestCollectRejectsAliasToUnknownPrefix(t *testing.T) {
	if _, _, err := collect(t.TempDir(), map[string]bool{"s3": true}); err == nil {
		t.Error("Got(collect with no alias targets) = nil error; want an error naming the alias")
	}
}

func TestAliasesAndDropsAreDisjoint(t *testing.T) {
	for from, a := range aliases {
		if _, ok := dropped[from]; ok {
			t.Errorf("Got(%q) in both aliases and dropped; want one", from)
		}
		if a.prefix == from {
			t.Errorf("Got(alias %q -> %q); want a different prefix", from, a.prefix)
		}
	}
}

func TestMerge(t *testing.T) {
	iam := []entry{{"access-analyzer", "AWS IAM Access Analyzer"}, {"newer", "AWS Newer"}}
	models := []entry{{"access-analyzer", "Access Analyzer"}, {"s3", "Amazon Simple Storage Service"}}
	prefixes := map[string]bool{"access-analyzer": true, "s3": true, "ghost": true}
	got, notes := merge(iam, models, prefixes)
	want := []entry{{"access-analyzer", "AWS IAM Access Analyzer"}, {"newer", "AWS Newer"}, {"s3", "Amazon Simple Storage Service"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Got(merge) = %v; want %v", got, want)
	}
	if len(notes) != 2 {
		t.Errorf("Got(notes) = %q; want one for s3 added and one for ghost left out", notes)
	}
}

func TestReadServices(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"namespace\tname\ns3\tAmazon S3\n", true},
		{"ns\tname\ns3\tAmazon S3\n", false},
		{"namespace\tname\ns3\n", false},
		{"namespace\tname\ns3\tAmazon S3\ns3\tAgain\n", false},
		{"namespace\tname\n", false},
	} {
		p := filepath.Join(dir, "s.tsv")
		if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readServices(p); (err == nil) != c.ok {
			t.Errorf("Got(readServices(%q)) err = %v; want ok=%v", c.text, err, c.ok)
		}
	}
}
