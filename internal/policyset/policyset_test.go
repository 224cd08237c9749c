package policyset

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/scpeval"
)

func described() []Policy {
	return []Policy{
		{ID: "p-FullAWSAccess", Name: "FullAWSAccess", AWSManaged: true, Content: scpeval.FullAWSAccess, Targets: []string{"ignored"}},
		{ID: "p-denys3aaaa", Name: "DenyS3", Content: `{"Statement":{"Effect":"Deny","Action":"s3:*"}}`},
		{ID: "p-unattached", Name: "Spare", Content: `{"Statement":{"Effect":"Deny","Action":"ec2:*"}}`},
	}
}

func TestNewSaveLoad(t *testing.T) {
	att := map[string][]string{"r-ab12": {"p-FullAWSAccess"}, "ou-ab12-bbbbbbbb": {"p-FullAWSAccess", "p-denys3aaaa"}, "ou-ab12-aaaaaaaa": {"p-FullAWSAccess"}}
	d, err := New("run-1", "o-abcdefghij", described(), att)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Policies[0].Targets; !reflect.DeepEqual(got, []string{"ou-ab12-aaaaaaaa", "ou-ab12-bbbbbbbb", "r-ab12"}) {
		t.Errorf("Got(FullAWSAccess targets) = %v; want sorted entity ids", got)
	}
	if p, _ := d.Policy("p-unattached"); p == nil || p.Targets == nil || len(p.Targets) != 0 {
		t.Errorf("Got(unattached targets) = %v; want an empty list", p)
	}
	store := objstore.NewDir(t.TempDir(), "orgaudit/")
	ctx := context.Background()
	if err := Save(ctx, store, d); err != nil {
		t.Fatal(err)
	}
	back, err := Load(ctx, store, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("Got(Load) = %+v; want %+v", back, d)
	}
	if got := back.Attachments(); !reflect.DeepEqual(got, att) {
		t.Errorf("Got(Attachments) = %v; want %v", got, att)
	}
	pol, err := back.Parse()
	if err != nil || pol["p-denys3aaaa"].Name != "DenyS3" {
		t.Errorf("Got(Parse) = %v, %v; want the policies named", pol, err)
	}
	b, _ := d.Marshal()
	for _, field := range []string{`"schemaVersion": 1`, `"runId": "run-1"`, `"organizationId": "o-abcdefghij"`, `"awsManaged": true`, `"content":`, `"targets":`, `"description": ""`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("Got(document without %s); want it", field)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	store := objstore.NewDir(t.TempDir(), "")
	ctx := context.Background()
	if _, err := Load(ctx, store, "none"); !errors.Is(err, ErrNoPolicies) {
		t.Errorf("Got(Load of a run without the document) = %v; want ErrNoPolicies", err)
	}
	for _, body := range []string{`{"schemaVersion":2,"runId":"r"}`, `{"schemaVersion":1,"runId":"other"}`, `not json`} {
		if err := store.Put(ctx, "runs/r/policies.json", []byte(body), "application/json"); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(ctx, store, "r"); err == nil || errors.Is(err, ErrNoPolicies) {
			t.Errorf("Got(Load of %s) = %v; want a read error", body, err)
		}
	}
}

func TestNewRefusesUndescribed(t *testing.T) {
	if _, err := New("r", "o-abcdefghij", described(), map[string][]string{"r-ab12": {"p-missing1"}}); err == nil {
		t.Error("Got(New with an undescribed attached policy) = nil; want an error")
	}
	if got := AttachedIDs(map[string][]string{"a": {"p-2", "p-1"}, "b": {"p-1"}}); !reflect.DeepEqual(got, []string{"p-1", "p-2"}) {
		t.Errorf("Got(AttachedIDs) = %v; want [p-1 p-2]", got)
	}
}

func TestParseNamesABadPolicy(t *testing.T) {
	d, _ := New("r", "o-abcdefghij", []Policy{{ID: "p-broken11", Name: "Broken", Content: `{"Statement":{"Effect":"Deny","Principal":"*","Action":"*"}}`}}, nil)
	if _, err := d.Parse(); err == nil || !strings.Contains(err.Error(), "p-broken11") || !strings.Contains(err.Error(), "Principal") {
		t.Errorf("Got(Parse) = %v; want an error naming p-broken11 and Principal", err)
	}
}
