package orgmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// Load reads an organization from its JSON file format, validates it and
// indexes it. The format is the exported fields of Org with their json
// names (see docs/org-file.md and testdata/org-small.json):
//
//	{
//	  "id": "o-a1b2c3d4e5",                 // o- and 10..32 lowercase letters or digits
//	  "managementAccountId": "111111111111", // one of "accounts"
//	  "asOf": "2026-11-01T00:00:00Z",        // the instant the activity describes
//	  "root": {"id": "r-ab12", "name": "Root"},
//	  "ous": [{"id": "ou-ab12-abcdefgh", "name": "Workloads", "parentId": "r-ab12"}],
//	  "accounts": [{"id": "111111111111", "name": "management", "email": "…",
//	                "parentId": "r-ab12", "joined": "2020-01-01T00:00:00Z"}],
//	  "policies": [{"id": "p-FullAWSAccess", "name": "FullAWSAccess", "awsManaged": true, "allow": ["*"]},
//	               {"id": "p-abcd1234", "name": "AllowCore", "allow": ["s3", "sts"]},
//	               {"id": "p-denygame", "name": "DenyGames", "content": {"Version": "2012-10-17",
//	                 "Statement": [{"Effect": "Deny", "Action": "gamelift:*", "Resource": "*"}]}}],
//	  "attachments": {"r-ab12": ["p-FullAWSAccess"], "ou-ab12-abcdefgh": ["p-abcd1234"]},
//	  "activity": {"111111111111": {"s3": {"time": "2026-10-30T08:00:00Z", "region": "eu-west-1"}}}
//	}
//
// Unknown fields are an error, as are ids of the wrong form, a parent that
// is not the root or an OU, OUs deeper than five levels, more than five SCPs
// on a target, namespaces that are not in the service catalog, and SCP
// documents Organizations would refuse (see Document and docs/org-file.md).
// Every error names what is wrong.
func Load(r io.Reader) (*Org, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var o Org
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decode organization: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode organization: data after the top-level object")
	}
	if err := o.validateFile(); err != nil {
		return nil, err
	}
	if err := o.Index(); err != nil {
		return nil, err
	}
	return &o, nil
}

// LoadFile reads the organization file at path (see Load).
func LoadFile(path string) (*Org, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read organization: %w", err)
	}
	o, err := Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// Identifier forms of AWS Organizations.
var (
	orgIDRE     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	rootIDRE    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	ouIDRE      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	accountIDRE = regexp.MustCompile(`^\d{12}$`)
)

// validateFile checks what Index does not: the forms of ids and the
// namespaces and values a file may contain.
func (o *Org) validateFile() error {
	if !orgIDRE.MatchString(o.ID) {
		return fmt.Errorf("id %q: want o- and 10 to 32 lowercase letters or digits", o.ID)
	}
	if !rootIDRE.MatchString(o.Root.ID) {
		return fmt.Errorf("root.id %q: want r- and 4 to 32 lowercase letters or digits", o.Root.ID)
	}
	if o.AsOf.IsZero() {
		return errors.New("asOf is missing")
	}
	for i, ou := range o.OUs {
		if !ouIDRE.MatchString(ou.ID) {
			return fmt.Errorf("ous[%d].id %q: want ou-<4..32>-<8..32> lowercase letters or digits", i, ou.ID)
		}
		if ou.Name == "" {
			return fmt.Errorf("ous[%d] (%s): name is missing", i, ou.ID)
		}
	}
	for i, a := range o.Accounts {
		if !accountIDRE.MatchString(a.ID) {
			return fmt.Errorf("accounts[%d].id %q: want 12 digits", i, a.ID)
		}
		if a.Name == "" || a.Email == "" {
			return fmt.Errorf("accounts[%d] (%s): name and email are required", i, a.ID)
		}
		if a.Status != "" && a.Status != "ACTIVE" && a.Status != "SUSPENDED" {
			return fmt.Errorf("accounts[%d] (%s): status %q: want ACTIVE or SUSPENDED", i, a.ID, a.Status)
		}
	}
	for i, p := range o.Policies {
		if !ValidPolicyID(p.ID) {
			return fmt.Errorf("policies[%d].id %q: want p- and 8 to 128 letters, digits or underscores", i, p.ID)
		}
		switch {
		case p.Content != "" && len(p.Allow) > 0:
			return fmt.Errorf("policies[%d] (%s): give content or allow, not both", i, p.ID)
		case p.Content == "" && p.Allow != nil && len(p.Allow) == 0:
			return fmt.Errorf("policies[%d] (%s): allow is empty", i, p.ID)
		case p.Content == "" && len(p.Allow) == 0:
			return fmt.Errorf("policies[%d] (%s): content (the SCP document) or allow (a list of namespaces) is required", i, p.ID)
		}
		for _, ns := range p.Allow {
			if _, ok := catalog.Lookup(ns); !ok && ns != AllServices {
				return fmt.Errorf("policies[%d] (%s): allow: %q is not a service namespace of the catalog", i, p.ID, ns)
			}
		}
	}
	for acct, svcs := range o.Activity {
		for ns, a := range svcs {
			if _, ok := catalog.Lookup(ns); !ok {
				return fmt.Errorf("activity[%s]: %q is not a service namespace of the catalog", acct, ns)
			}
			if a.Time.IsZero() || a.Region == "" {
				return fmt.Errorf("activity[%s][%s]: time and region are required", acct, ns)
			}
			if a.Time.After(o.AsOf) {
				return fmt.Errorf("activity[%s][%s]: time %s is after asOf %s", acct, ns, a.Time.Format("2006-01-02T15:04:05Z07:00"), o.AsOf.Format("2006-01-02T15:04:05Z07:00"))
			}
		}
	}
	return nil
}
