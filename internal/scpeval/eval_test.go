package scpeval

import (
	"testing"
)

var full = MustParse(FullAWSAccess)

// onOU classifies ns for an account under one OU: FullAWSAccess at the root
// and on the account, the given policies on the OU.
func onOU(ns string, ouPolicies ...*Policy) Denial {
	return Classify([][]*Policy{{full}, ouPolicies, {full}}, ns)
}

// The cases follow the examples of AWS's SCP documentation ("SCP evaluation",
// "Examples of service control policies") and the IAM behaviour captured for
// access reports.
func TestClassifyStatements(t *testing.T) {
	for _, c := range []struct {
		name  string
		docs  []string // attached to the OU beside FullAWSAccess unless allowList
		allow bool     // the documents replace FullAWSAccess on the OU
		ns    string
		want  Denial
	}{
		{"FullAWSAccess alone denies nothing", nil, false, "s3", NotDenied},
		{"deny a whole service", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}`}, false, "s3", Whole},
		{"deny a whole service, other service untouched", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}`}, false, "ec2", NotDenied},
		{"deny without Resource is every resource", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`}, false, "s3", Whole},
		{"deny everything", []string{`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`}, false, "lambda", Whole},
		{"deny one action (prevent leaving the organization)", []string{`{"Statement":{"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}}`}, false, "organizations", Partial},
		{"deny a prefix of actions", []string{`{"Statement":{"Effect":"Deny","Action":"s3:Get*","Resource":"*"}}`}, false, "s3", Partial},
		{"deny actions matching inside (s3:*Object*)", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*Object*","Resource":"*"}}`}, false, "s3", Partial},
		{"deny every Describe of every service", []string{`{"Statement":{"Effect":"Deny","Action":"*:Describe*","Resource":"*"}}`}, false, "ec2", Partial},
		{"? matches one character", []string{`{"Statement":{"Effect":"Deny","Action":"s3:GetObjec?","Resource":"*"}}`}, false, "s3", Partial},
		{"? in the service part", []string{`{"Statement":{"Effect":"Deny","Action":"s?:*","Resource":"*"}}`}, false, "s3", Whole},
		{"case does not matter", []string{`{"Statement":{"Effect":"Deny","Action":"S3:*","Resource":"*"}}`}, false, "s3", Whole},
		{"every action listed one by one is whole", []string{wholeS3ByName(t)}, false, "s3", Whole},
		{"deny with a condition (require MFA)", []string{`{"Statement":{"Effect":"Deny","Action":"ec2:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}}`}, false, "ec2", Partial},
		{"region deny is partial", []string{regionDeny}, false, "ec2", Partial},
		{"region deny exempts its NotAction services", []string{regionDeny}, false, "iam", NotDenied},
		{"deny on one resource (protect a role)", []string{`{"Statement":{"Effect":"Deny","Action":["iam:AttachRolePolicy","iam:DeleteRole"],"Resource":"arn:aws:iam::*:role/role-to-protect"}}`}, false, "iam", Partial},
		{"deny a whole service on one resource", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::secret/*"}}`}, false, "s3", Partial},
		{"deny with NotResource", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::allowed/*"}}`}, false, "s3", Partial},
		{"deny with NotResource * denies nothing", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*","NotResource":"*"}}`}, false, "s3", NotDenied},
		{"deny all services except (NotAction)", []string{`{"Statement":{"Effect":"Deny","NotAction":["ec2:*","s3:*"],"Resource":"*"}}`}, false, "lambda", Whole},
		{"deny all services except: the exception", []string{`{"Statement":{"Effect":"Deny","NotAction":["ec2:*","s3:*"],"Resource":"*"}}`}, false, "s3", NotDenied},
		{"NotAction of part of a service", []string{`{"Statement":{"Effect":"Deny","NotAction":"s3:Get*","Resource":"*"}}`}, false, "s3", Partial},
		{"allow list without the service", []string{`{"Statement":{"Effect":"Allow","Action":["ec2:*","cloudwatch:*"],"Resource":"*"}}`}, true, "s3", Whole},
		{"allow list with the service", []string{`{"Statement":{"Effect":"Allow","Action":["ec2:*","cloudwatch:*"],"Resource":"*"}}`}, true, "ec2", NotDenied},
		{"allow list of part of a service", []string{`{"Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}`}, true, "s3", Partial},
		{"allow list with a condition keeps the service", []string{`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}}`}, true, "s3", Partial},
		{"allow on one bucket ARN lists nothing (captured)", []string{`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}}`}, true, "s3", Whole},
		{"allow with NotResource keeps the service", []string{`{"Statement":{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}}`}, true, "s3", Partial},
		{"allow NotAction", []string{`{"Statement":{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}}`}, true, "s3", Whole},
		{"allow NotAction, other service", []string{`{"Statement":{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}}`}, true, "ec2", NotDenied},
		{"allow and deny the same service on one level", []string{`{"Statement":[{"Effect":"Allow","Action":"s3:*"},{"Effect":"Deny","Action":"s3:*"}]}`}, true, "s3", Whole},
		{"allow beside a conditional deny keeps the service", []string{`{"Statement":[{"Effect":"Allow","Action":"s3:*"},{"Effect":"Deny","Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`}, true, "s3", Partial},
		{"a deny of a pattern naming no action", []string{`{"Statement":{"Effect":"Deny","Action":"s3:NoSuchAction","Resource":"*"}}`}, false, "s3", NotDenied},
		{"a deny-only level allows nothing", []string{`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`}, true, "ec2", Whole},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ps []*Policy
			if !c.allow {
				ps = append(ps, full)
			}
			for _, d := range c.docs {
				ps = append(ps, MustParse(d))
			}
			if got := onOU(c.ns, ps...); got != c.want {
				t.Errorf("Got(Classify(%s)) = %q; want %q", c.ns, got, c.want)
			}
		})
	}
}

const regionDeny = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOutsideEU","Effect":"Deny",
 "NotAction":["a4b:*","acm:*","aws-marketplace-management:*","aws-marketplace:*","aws-portal:*","budgets:*","ce:*",
  "chime:*","cloudfront:*","config:*","cur:*","directconnect:*","ec2:DescribeRegions","ec2:DescribeTransitGateways",
  "ec2:DescribeVpnGateways","fms:*","globalaccelerator:*","health:*","iam:*","importexport:*","kms:*","mobileanalytics:*",
  "networkmanager:*","organizations:*","pricing:*","route53:*","route53domains:*","route53-recovery-cluster:*",
  "route53-recovery-control-config:*","route53-recovery-readiness:*","s3:GetAccountPublic*","s3:ListAllMyBuckets",
  "s3:ListMultiRegionAccessPoints","s3:PutAccountPublic*","shield:*","sts:*","support:*","trustedadvisor:*","waf-regional:*",
  "waf:*","wafv2:*","wellarchitected:*"],
 "Resource":"*",
 "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]},
  "ArnNotLike":{"aws:PrincipalARN":["arn:aws:iam::*:role/Role1AllowedToBypassThisSCP","arn:aws:iam::*:role/Role2AllowedToBypassThisSCP"]}}}]}`

// wholeS3ByName is a Deny that names every S3 action one by one.
func wholeS3ByName(t *testing.T) string {
	t.Helper()
	e := Default()
	lo, hi, _ := e.span("s3")
	doc := `{"Statement":{"Effect":"Deny","Action":[`
	for i := lo; i < hi; i++ {
		if i > lo {
			doc += ","
		}
		doc += `"s3:` + e.actions[i].name + `"`
	}
	return doc + `]}}`
}

func TestClassifyLevels(t *testing.T) {
	ec2Only := MustParse(`{"Statement":{"Effect":"Allow","Action":"ec2:*"}}`)
	denyS3 := MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	for _, c := range []struct {
		name   string
		levels [][]*Policy
		ns     string
		want   Denial
	}{
		{"no levels: the management account", nil, "s3", NotDenied},
		{"a level with nothing attached allows nothing", [][]*Policy{{full}, {}}, "s3", Whole},
		{"an allow list at the root limits every account", [][]*Policy{{ec2Only}, {full}, {full}}, "s3", Whole},
		{"an allow list at an OU limits its accounts", [][]*Policy{{full}, {ec2Only}, {full}}, "s3", Whole},
		{"an allow list on the account", [][]*Policy{{full}, {full}, {ec2Only}}, "s3", Whole},
		{"allowed at every level", [][]*Policy{{ec2Only}, {full}, {ec2Only, full}}, "ec2", NotDenied},
		{"a deny at the root wins over allows below", [][]*Policy{{full, denyS3}, {full}, {full}}, "s3", Whole},
		{"a deny on the account wins", [][]*Policy{{full}, {full}, {full, denyS3}}, "s3", Whole},
		{"the union at a level: some SCP allows it", [][]*Policy{{full}, {ec2Only, denyS3}}, "ec2", NotDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Classify(c.levels, c.ns); got != c.want {
				t.Errorf("Got(Classify(%s)) = %q; want %q", c.ns, got, c.want)
			}
		})
	}
}

// A Condition, a subset of actions or a subset of resources never makes a
// whole denial, whatever else the statement says.
func TestNeverWholeUnderConditionOrSubset(t *testing.T) {
	for _, ns := range []string{"s3", "ec2", "iam", "lambda", "sts"} {
		for _, d := range []string{
			`{"Statement":{"Effect":"Deny","Action":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}}`,
			`{"Statement":{"Effect":"Deny","Action":"` + ns + `:*","Condition":{"Null":{"aws:ResourceTag/team":"true"}}}}`,
			`{"Statement":{"Effect":"Deny","Action":"` + ns + `:*","Resource":"arn:aws:` + ns + `:*:*:x"}}`,
			`{"Statement":{"Effect":"Deny","Action":["` + ns + `:Get*","` + ns + `:List*","` + ns + `:Describe*","` + ns + `:Create*"]}}`,
			`{"Statement":{"Effect":"Deny","NotAction":"` + ns + `:Get*"}}`,
		} {
			if got := onOU(ns, full, MustParse(d)); got == Whole {
				t.Errorf("Got(Classify(%s) with %s) = whole; want partial or not denied", ns, d)
			}
		}
	}
}

func TestUnknownNamespace(t *testing.T) {
	e := New("newsvc")
	for _, c := range []struct {
		doc  string
		want Denial
	}{
		{`{"Statement":{"Effect":"Deny","Action":"newsvc:*"}}`, Whole},
		{`{"Statement":{"Effect":"Deny","Action":"*"}}`, Whole},
		{`{"Statement":{"Effect":"Deny","Action":"newsvc:Get*"}}`, Partial},
		{`{"Statement":{"Effect":"Deny","Action":"*:Describe*"}}`, Partial},
		{`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`, NotDenied},
		{`{"Statement":{"Effect":"Deny","NotAction":"newsvc:*"}}`, NotDenied},
		{`{"Statement":{"Effect":"Deny","NotAction":"newsvc:Get*"}}`, Partial},
	} {
		got := e.Classify([][]*Policy{{full, MustParse(c.doc)}}, "newsvc")
		if got != c.want {
			t.Errorf("Got(Classify(newsvc) with %s) = %q; want %q", c.doc, got, c.want)
		}
		// The default evaluator extends its universe on demand.
		if got := Classify([][]*Policy{{full, MustParse(c.doc)}}, "newsvc"); got != c.want {
			t.Errorf("Got(default Classify(newsvc) with %s) = %q; want %q", c.doc, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	denyS3 := MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:*"}}`)
	denyS3Get := MustParse(`{"Statement":{"Effect":"Deny","Action":"s3:Get*"}}`)
	ec2Only := MustParse(`{"Statement":{"Effect":"Allow","Action":"ec2:*"}}`)
	ec2IfEU := MustParse(`{"Statement":{"Effect":"Allow","Action":"ec2:*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}}`)
	region := MustParse(regionDeny)
	for _, c := range []struct {
		name          string
		before, after []*Policy // on the OU; the root has FullAWSAccess
		ns            string
		want          Denial
	}{
		{"attach a whole-service deny", []*Policy{full}, []*Policy{full, denyS3}, "s3", Whole},
		{"attach a whole-service deny, another service", []*Policy{full}, []*Policy{full, denyS3}, "ec2", NotDenied},
		{"a service denied before is not newly denied", []*Policy{full, denyS3}, []*Policy{full, denyS3, region}, "s3", NotDenied},
		{"partial before, whole after", []*Policy{full, denyS3Get}, []*Policy{full, denyS3Get, denyS3}, "s3", Whole},
		{"a second partial deny is a new restriction", []*Policy{full, denyS3Get}, []*Policy{full, denyS3Get, region}, "s3", Partial},
		{"the same restriction again is nothing new", []*Policy{full, denyS3Get}, []*Policy{full, denyS3Get}, "s3", NotDenied},
		{"region deny", []*Policy{full}, []*Policy{full, region}, "ec2", Partial},
		{"replace FullAWSAccess by an allow list: left out", []*Policy{full}, []*Policy{ec2Only}, "s3", Whole},
		{"replace FullAWSAccess by an allow list: kept", []*Policy{full}, []*Policy{ec2Only}, "ec2", NotDenied},
		{"replace FullAWSAccess by a conditional allow", []*Policy{full}, []*Policy{ec2IfEU}, "ec2", Partial},
		{"detach a deny loosens, denies nothing", []*Policy{full, denyS3}, []*Policy{full}, "s3", NotDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Compare([][]*Policy{{full}, c.before}, [][]*Policy{{full}, c.after}, c.ns)
			if got != c.want {
				t.Errorf("Got(Compare(%s)) = %q; want %q", c.ns, got, c.want)
			}
		})
	}
}

func TestUnmatchedPatterns(t *testing.T) {
	p := MustParse(`{"Statement":[{"Effect":"Deny","Action":["s3:GetObject","s3:GetObjekt","nosuch:*"]},{"Effect":"Deny","NotAction":"*:Describe*"}]}`)
	got := Default().UnmatchedPatterns(p)
	if len(got) != 2 || got[0] != "s3:GetObjekt" || got[1] != "nosuch:*" {
		t.Errorf("Got(UnmatchedPatterns) = %q; want [s3:GetObjekt nosuch:*]", got)
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"get*", "getobject", true}, {"get*", "putobject", false},
		{"*object*", "getobjectacl", true}, {"*object*", "listbuckets", false}, {"getobjec?", "getobject", true},
		{"getobjec?", "getobjects", false}, {"?", "", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false},
		{"**", "x", true}, {"", "", true}, {"", "x", false},
	} {
		if got := wildcardMatch(c.p, c.s); got != c.want {
			t.Errorf("Got(wildcardMatch(%q, %q)) = %v; want %v", c.p, c.s, got, c.want)
		}
	}
}
