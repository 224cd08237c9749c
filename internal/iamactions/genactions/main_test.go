package main

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	in := `{"s3":{"Actions":{"GetObject":{},"putobject":{}},"Resources":{}},
	        "ec2":{"Actions":{"describeinstances":{}}},
	        "empty":{"Actions":{}}}`
	var b strings.Builder
	if err := write(&b, []byte(in), "test"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{"ec2 describeinstances", "s3 getobject putobject"}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "#") || lines[1] != want[0] || lines[2] != want[1] {
		t.Errorf("Got(%q); want a comment line then %q", lines, want)
	}
}

func TestWriteRefusesOddNames(t *testing.T) {
	for _, in := range []string{
		`{"s 3":{"Actions":{"getobject":{}}}}`,
		`{"s3":{"Actions":{"get*object":{}}}}`,
		`{}`,
		`not json`,
	} {
		var b strings.Builder
		if err := write(&b, []byte(in), "test"); err == nil {
			t.Errorf("Got(write(%s) error) = nil; want an error", in)
		}
	}
}
