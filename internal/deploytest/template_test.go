package deploytest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/orgaudit/orgaudit/internal/notify"
)

// functionNames are the three step functions. The Makefile's build-%Function
// rule builds ./functions/<lowercased name>, so the logical ids must end in
// "Function".
var functionNames = []string{"StartFunction", "CheckFunction", "StoreFunction"}

// designEnvironment is the configuration contract docs/deploy.md states: every
// function gets exactly these variables, each from the parameter of the same
// meaning.
var designEnvironment = map[string]any{
	"ORGAUDIT_BUCKET":               ifValue("CreateBucket", ref("AuditBucket"), ref("BucketName")),
	"ORGAUDIT_PREFIX":               ref("Prefix"),
	"ORGAUDIT_REPORT_ROLE_ARN":      ifValue("CreateReportRole", getAtt("ReportRole", "Arn"), ref("ReportRoleArn")),
	"ORGAUDIT_REPORT_ROLE_SESSION":  ref("ReportRoleSession"),
	"ORGAUDIT_UNUSED_DAYS":          ref("UnusedDays"),
	"ORGAUDIT_MAX_CONCURRENT_JOBS":  ref("MaxConcurrentJobs"),
	"ORGAUDIT_INCLUDE_ACCOUNTS":     ref("IncludeAccounts"),
	"ORGAUDIT_INCLUDE_POLICIES":     ref("IncludePolicies"),
	"ORGAUDIT_MAX_RUN_MINUTES":      ref("MaxRunMinutes"),
	"ORGAUDIT_ACCOUNT_REFRESH_DAYS": ref("AccountRefreshDays"),
}

// functionEnvironment is what each function's environment must be: the
// design contract, and for Store also the first-use topic, set only when the
// notification is on (unset reads as empty: off).
func functionEnvironment(name string) map[string]any {
	env := maps.Clone(designEnvironment)
	if name == "StoreFunction" {
		env[notify.EnvTopicARN] = ifValue("NotifyFirstUse", ref("FirstUseTopic"), ref("AWS::NoValue"))
	}
	return env
}

// effectiveFunction merges Globals.Function into a function's Properties the
// way SAM does: the function's own value wins, and environment variables
// merge key by key.
func effectiveFunction(t *testing.T, name string) map[string]any {
	t.Helper()
	props := map[string]any{}
	if g, ok := lookup(loadTemplate(t), "Globals", "Function"); ok {
		maps.Copy(props, asMap(t, g, "Globals.Function"))
	}
	own := asMap(t, get(t, resource(t, name), "Properties"), name+".Properties")
	for k, v := range own {
		if k == "Environment" {
			continue
		}
		props[k] = v
	}
	env := map[string]any{}
	if vars, ok := lookup(props, "Environment", "Variables"); ok {
		maps.Copy(env, asMap(t, vars, "Globals environment"))
	}
	if vars, ok := lookup(own, "Environment", "Variables"); ok {
		maps.Copy(env, asMap(t, vars, name+" environment"))
	}
	props["Environment"] = map[string]any{"Variables": env}
	return props
}

func TestFunctionsShape(t *testing.T) {
	tests := []struct {
		name    string
		timeout int
		memory  int
	}{
		{"StartFunction", 300, 256},
		{"CheckFunction", 900, 128},
		{"StoreFunction", 900, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := resource(t, tt.name)
			if got := res["Type"]; got != "AWS::Serverless::Function" {
				t.Errorf("Got(%q) Type = %v; want AWS::Serverless::Function", tt.name, got)
			}
			if got, _ := lookup(res, "Metadata", "BuildMethod"); got != "makefile" {
				t.Errorf("Got(%q) Metadata.BuildMethod = %v; want makefile", tt.name, got)
			}
			p := effectiveFunction(t, tt.name)
			want := map[string]any{
				"Runtime":       "provided.al2023",
				"Handler":       "bootstrap",
				"Architectures": []any{"arm64"},
				// The Makefile is at the repository root; SAM runs it there.
				"CodeUri":    "./",
				"Timeout":    tt.timeout,
				"MemorySize": tt.memory,
				"Role":       getAtt(tt.name+"Role", "Arn"),
			}
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if canon(p[k]) != canon(want[k]) {
					t.Errorf("Got(%q) %s = %s; want %s", tt.name, k, canon(p[k]), canon(want[k]))
				}
			}
			if _, ok := p["Policies"]; ok {
				t.Errorf("Got(%q) Policies set; want the permissions on the explicit role only", tt.name)
			}
		})
	}
}

// TestMakefileBuildsEveryFunction pins the naming the two files share: SAM
// runs `make build-<LogicalId>`, and the rule maps StartFunction to
// ./functions/start.
func TestMakefileBuildsEveryFunction(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^build-%Function:`,
		`-o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/\$\(shell echo \$\* \| tr A-Z a-z\)`,
		`(?m)^GOARCH\s*\?=\s*arm64$`,
		`CGO_ENABLED=0`,
	} {
		if !regexp.MustCompile(want).Match(mk) {
			t.Errorf("Got(Makefile matches %q) = false; want true", want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(resources(t))) {
		if resource(t, name)["Type"] == "AWS::Serverless::Function" && !slices.Contains(functionNames, name) {
			t.Errorf("Got(function %q) = unexpected; want only %v", name, functionNames)
		}
	}
}

func TestFunctionEnvironmentIsDesignContract(t *testing.T) {
	for _, name := range functionNames {
		t.Run(name, func(t *testing.T) {
			env := asMap(t, get(t, effectiveFunction(t, name), "Environment", "Variables"), "environment")
			wantEnv := functionEnvironment(name)
			got := slices.Sorted(maps.Keys(env))
			want := slices.Sorted(maps.Keys(wantEnv))
			if !slices.Equal(got, want) {
				t.Fatalf("Got(%q) environment names = %v; want %v", name, got, want)
			}
			for _, k := range want {
				if canon(env[k]) != canon(wantEnv[k]) {
					t.Errorf("Got(%q) %s = %s; want %s", name, k, canon(env[k]), canon(wantEnv[k]))
				}
			}
		})
	}
}

func TestEveryParameterAndConditionIsUsed(t *testing.T) {
	tpl := loadTemplate(t)
	names, conditions := map[string]bool{}, map[string]bool{}
	// Metadata only groups parameters for the console; it is no use.
	for _, section := range []string{"Globals", "Resources", "Outputs", "Conditions"} {
		if v, ok := tpl[section]; ok {
			references(v, names, conditions)
		}
	}
	params := asMap(t, get(t, tpl, "Parameters"), "Parameters")
	for _, p := range slices.Sorted(maps.Keys(params)) {
		if !names[p] {
			t.Errorf("Got(%q) references = 0; want the parameter used", p)
		}
	}
	conds := asMap(t, get(t, tpl, "Conditions"), "Conditions")
	for _, c := range slices.Sorted(maps.Keys(conds)) {
		if !conditions[c] {
			t.Errorf("Got(%q) uses = 0; want the condition used", c)
		}
	}
	wantParams := []string{
		"AccountRefreshDays", "AlarmEmail", "AthenaDatabaseName", "BucketName", "FirstUseNotification",
		"IncludeAccounts", "IncludePolicies", "KmsKeyArn",
		"ManifestRetentionDays", "MaxConcurrentJobs", "MaxRunMinutes", "Prefix", "ReportRoleArn",
		"ReportRoleSession", "ScheduleEnabled", "ScheduleExpression", "UnusedDays",
	}
	if got := slices.Sorted(maps.Keys(params)); !slices.Equal(got, wantParams) {
		t.Errorf("Got(parameters) = %v; want %v", got, wantParams)
	}
}

func TestEveryReferenceResolves(t *testing.T) {
	tpl := loadTemplate(t)
	names, conditions := map[string]bool{}, map[string]bool{}
	for _, section := range []string{"Globals", "Resources", "Outputs"} {
		references(tpl[section], names, conditions)
	}
	known := map[string]bool{}
	for _, section := range []string{"Parameters", "Resources"} {
		for k := range asMap(t, tpl[section], section) {
			known[k] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if strings.HasPrefix(n, "AWS::") {
			continue
		}
		if !known[n] {
			t.Errorf("Got(%q) = undefined; want a parameter or resource", n)
		}
	}
	conds := asMap(t, tpl["Conditions"], "Conditions")
	for _, c := range slices.Sorted(maps.Keys(conditions)) {
		if _, ok := conds[c]; !ok {
			t.Errorf("Got(condition %q) = undefined; want it in Conditions", c)
		}
	}
}

func TestDefinitionSubstitutionsCoverPlaceholders(t *testing.T) {
	sm := asMap(t, get(t, resource(t, "AuditorStateMachine"), "Properties"), "state machine")
	subs := asMap(t, get(t, sm, "DefinitionSubstitutions"), "DefinitionSubstitutions")
	got := slices.Sorted(maps.Keys(subs))
	want := Placeholders(readDefinition(t))
	if !slices.Equal(got, want) {
		t.Fatalf("Got(DefinitionSubstitutions) = %v; want exactly the placeholders %v", got, want)
	}
	for _, name := range functionNames {
		key := name + "Arn"
		if canon(subs[key]) != canon(getAtt(name, "Arn")) {
			t.Errorf("Got(%q) = %s; want %s", key, canon(subs[key]), canon(getAtt(name, "Arn")))
		}
	}
}

func TestStateMachineResource(t *testing.T) {
	res := resource(t, "AuditorStateMachine")
	if got := res["Type"]; got != "AWS::Serverless::StateMachine" {
		t.Fatalf("Got(Type) = %v; want AWS::Serverless::StateMachine", got)
	}
	p := asMap(t, res["Properties"], "state machine properties")
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"Type"}, "STANDARD"},
		{[]string{"DefinitionUri"}, "statemachine/auditor.asl.json"},
		{[]string{"Logging", "Level"}, "ERROR"},
		{[]string{"Events", "Nightly", "Type"}, "Schedule"},
		{[]string{"Events", "Nightly", "Properties", "Schedule"}, ref("ScheduleExpression")},
		{[]string{"Events", "Nightly", "Properties", "Input"}, "{}"},
		{[]string{"Events", "Nightly", "Properties", "State"}, ifValue("ScheduleOn", "ENABLED", "DISABLED")},
	}
	for _, c := range checks {
		got, _ := lookup(p, c.path...)
		if canon(got) != canon(c.want) {
			t.Errorf("Got(%s) = %s; want %s", strings.Join(c.path, "."), canon(got), canon(c.want))
		}
	}
	dest := asSlice(get(t, p, "Logging", "Destinations"))
	if len(dest) != 1 || canon(dest[0]) != canon(map[string]any{
		"CloudWatchLogsLogGroup": map[string]any{"LogGroupArn": getAtt("StateMachineLogGroup", "Arn")},
	}) {
		t.Errorf("Got(Logging.Destinations) = %s; want the StateMachineLogGroup", canon(dest))
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "statemachine", "auditor.asl.json")); err != nil {
		t.Errorf("Got(DefinitionUri file) = %v; want it to exist", err)
	}
}

// statement is one IAM policy statement, with the condition name when it was
// wrapped in Fn::If.
type statement struct {
	when string
	body map[string]any
}

// statementsOf expands a policy document's statements; an Fn::If yields its
// non-NoValue branches tagged with the condition.
func statementsOf(t *testing.T, doc any) []statement {
	t.Helper()
	var out []statement
	for _, s := range asSlice(get(t, doc, "Statement")) {
		m := asMap(t, s, "statement")
		if branches, ok := m["Fn::If"].([]any); ok && len(branches) == 3 {
			cond, _ := branches[0].(string)
			for _, b := range branches[1:] {
				if canon(b) == canon(ref("AWS::NoValue")) {
					continue
				}
				out = append(out, statement{when: cond, body: asMap(t, b, "statement branch")})
			}
			continue
		}
		out = append(out, statement{body: m})
	}
	return out
}

// roleStatements returns every statement that grants a role permissions: its
// inline policies and every AWS::IAM::Policy attached to it. Managed policies
// are refused, since their actions cannot be checked here.
func roleStatements(t *testing.T, role string) []statement {
	t.Helper()
	props := asMap(t, get(t, resource(t, role), "Properties"), role+".Properties")
	if _, ok := props["ManagedPolicyArns"]; ok {
		t.Errorf("Got(%q) ManagedPolicyArns set; want inline policies only", role)
	}
	var out []statement
	for _, p := range asSlice(props["Policies"]) {
		if p == nil {
			continue
		}
		out = append(out, statementsOf(t, get(t, p, "PolicyDocument"))...)
	}
	for name, r := range resources(t) {
		rm := asMap(t, r, name)
		switch rm["Type"] {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
		default:
			continue
		}
		p := asMap(t, rm["Properties"], name+".Properties")
		attached := slices.ContainsFunc(asSlice(p["Roles"]), func(v any) bool { return canon(v) == canon(ref(role)) }) ||
			canon(p["RoleName"]) == canon(ref(role))
		if attached {
			out = append(out, statementsOf(t, get(t, p, "PolicyDocument"))...)
		}
	}
	return out
}

func actionsOf(s statement) []string {
	var out []string
	for _, a := range asSlice(s.body["Action"]) {
		if str, ok := a.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// bucketARN is how the template names the audit bucket in an ARN.
func bucketARN(suffix string) map[string]any {
	return map[string]any{"Fn::Sub": []any{
		"arn:${AWS::Partition}:s3:::${Bucket}" + suffix,
		map[string]any{"Bucket": ifValue("CreateBucket", ref("AuditBucket"), ref("BucketName"))},
	}}
}

func TestFunctionRolesLeastPrivilege(t *testing.T) {
	reportRole := ifValue("CreateReportRole", getAtt("ReportRole", "Arn"), ref("ReportRoleArn"))
	tests := []struct {
		function string
		// objects are the only object ARNs s3:GetObject/PutObject may name;
		// listPrefix is the only s3:prefix ListBucket may be granted for.
		objects    []any
		listPrefix any
		// notifies: sns:Publish on the first-use topic, only when it exists.
		notifies bool
		// listsExecutions: states:ListExecutions on its own state machine
		// (Start, for one run at a time).
		listsExecutions bool
	}{
		{"StartFunction", []any{bucketARN("/${Prefix}runs/*")}, map[string]any{"Fn::Sub": "${Prefix}runs/*"}, false, true},
		{"CheckFunction", []any{bucketARN("/${Prefix}runs/*"), bucketARN("/${Prefix}access/*")}, map[string]any{"Fn::Sub": "${Prefix}runs/*"}, false, false},
		{"StoreFunction", []any{
			bucketARN("/${Prefix}runs/*"), bucketARN("/${Prefix}access/*"), bucketARN("/${Prefix}latest.json"),
		}, map[string]any{"Fn::Sub": "${Prefix}*"}, true, false},
	}
	allowed := []string{
		"kms:Decrypt", "kms:GenerateDataKey",
		"logs:CreateLogStream", "logs:PutLogEvents",
		"s3:GetObject", "s3:ListBucket", "s3:PutObject",
		"sts:AssumeRole",
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			allowed := allowed
			if tt.notifies {
				allowed = append(slices.Clone(allowed), "sns:Publish")
			}
			if tt.listsExecutions {
				allowed = append(slices.Clone(allowed), "states:ListExecutions")
			}
			role := tt.function + "Role"
			stmts := roleStatements(t, role)
			granted := map[string]bool{}
			for _, s := range stmts {
				if s.body["Effect"] != "Allow" {
					continue
				}
				if _, ok := s.body["NotAction"]; ok {
					t.Errorf("Got(%q) NotAction statement; want explicit actions", role)
				}
				if _, ok := s.body["NotResource"]; ok {
					t.Errorf("Got(%q) NotResource statement; want explicit resources", role)
				}
				res := asSlice(s.body["Resource"])
				for _, a := range actionsOf(s) {
					granted[a] = true
					if !slices.Contains(allowed, a) {
						t.Errorf("Got(%q) action %s; want only %v", role, a, allowed)
						continue
					}
					if slices.ContainsFunc(res, func(r any) bool { return r == "*" }) {
						t.Errorf("Got(%q) %s on \"*\"; want scoped resources", role, a)
					}
					switch a {
					case "s3:GetObject", "s3:PutObject":
						for _, r := range res {
							if !slices.ContainsFunc(tt.objects, func(o any) bool { return canon(o) == canon(r) }) {
								t.Errorf("Got(%q) %s on %s; want only %s", role, a, canon(r), canon(tt.objects))
							}
						}
					case "s3:ListBucket":
						if canon(res) != canon([]any{bucketARN("")}) {
							t.Errorf("Got(%q) ListBucket on %s; want the bucket", role, canon(res))
						}
						prefix, _ := lookup(s.body, "Condition", "StringLike", "s3:prefix")
						if canon(prefix) != canon(tt.listPrefix) {
							t.Errorf("Got(%q) ListBucket s3:prefix = %s; want %s", role, canon(prefix), canon(tt.listPrefix))
						}
					case "sts:AssumeRole":
						if canon(res) != canon([]any{reportRole}) {
							t.Errorf("Got(%q) AssumeRole on %s; want only the report role", role, canon(res))
						}
					case "kms:Decrypt", "kms:GenerateDataKey":
						if s.when != "HasKmsKey" || canon(res) != canon([]any{ref("KmsKeyArn")}) {
							t.Errorf("Got(%q) %s on %s when %q; want KmsKeyArn when HasKmsKey", role, a, canon(res), s.when)
						}
					case "sns:Publish":
						if s.when != "NotifyFirstUse" || canon(res) != canon([]any{ref("FirstUseTopic")}) {
							t.Errorf("Got(%q) sns:Publish on %s when %q; want FirstUseTopic when NotifyFirstUse", role, canon(res), s.when)
						}
					case "states:ListExecutions":
						if canon(res) != canon([]any{ref("AuditorStateMachine")}) {
							t.Errorf("Got(%q) states:ListExecutions on %s; want only its own state machine", role, canon(res))
						}
					case "logs:CreateLogStream", "logs:PutLogEvents":
						want := getAtt(tt.function+"LogGroup", "Arn")
						if canon(res) != canon([]any{want}) {
							t.Errorf("Got(%q) %s on %s; want %s", role, a, canon(res), canon(want))
						}
					}
				}
			}
			needs := []string{"sts:AssumeRole", "s3:GetObject", "s3:PutObject", "logs:PutLogEvents"}
			if tt.notifies {
				needs = append(needs, "sns:Publish")
			}
			if tt.listsExecutions {
				needs = append(needs, "states:ListExecutions")
			}
			for _, need := range needs {
				if !granted[need] {
					t.Errorf("Got(%q) %s granted = false; want true", role, need)
				}
			}
		})
	}
}

func TestReportRole(t *testing.T) {
	res := resource(t, "ReportRole")
	if got := res["Condition"]; got != "CreateReportRole" {
		t.Errorf("Got(ReportRole.Condition) = %v; want CreateReportRole", got)
	}
	trust := statementsOf(t, get(t, res, "Properties", "AssumeRolePolicyDocument"))
	if len(trust) != 1 {
		t.Fatalf("Got(trust statements) = %d; want 1", len(trust))
	}
	var wantPrincipals []any
	for _, f := range functionNames {
		wantPrincipals = append(wantPrincipals, getAtt(f+"Role", "Arn"))
	}
	if got, _ := lookup(trust[0].body, "Principal", "AWS"); canon(got) != canon(wantPrincipals) {
		t.Errorf("Got(trusted principals) = %s; want %s", canon(got), canon(wantPrincipals))
	}
	if got, _ := lookup(trust[0].body, "Condition", "StringEquals", "sts:RoleSessionName"); canon(got) != canon(ref("ReportRoleSession")) {
		t.Errorf("Got(trust session name) = %s; want the ReportRoleSession parameter", canon(got))
	}

	// Each action with the only resources it may name: "*" only where the
	// action offers no resource-level permission (a report job id, the
	// organization as a whole); the rest are scoped to this account's
	// organization and its reports, or to AWS's managed SCPs.
	anyResource := []any{"*"}
	reports := []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:access-report/*"}}
	orgEntities := []any{
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:organizations::${AWS::AccountId}:*"},
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:organizations::aws:policy/*"},
	}
	allowed := map[string][]any{
		"iam:GenerateOrganizationsAccessReport":          reports,
		"iam:GetOrganizationsAccessReport":               anyResource,
		"organizations:DescribeOrganization":             anyResource,
		"organizations:ListAccounts":                     anyResource,
		"organizations:ListPolicies":                     anyResource,
		"organizations:ListRoots":                        anyResource,
		"organizations:DescribeAccount":                  orgEntities,
		"organizations:DescribeOrganizationalUnit":       orgEntities,
		"organizations:DescribePolicy":                   orgEntities,
		"organizations:ListAccountsForParent":            orgEntities,
		"organizations:ListChildren":                     orgEntities,
		"organizations:ListOrganizationalUnitsForParent": orgEntities,
		"organizations:ListParents":                      orgEntities,
		"organizations:ListPoliciesForTarget":            orgEntities,
		"organizations:ListTargetsForPolicy":             orgEntities,
	}
	granted := map[string]bool{}
	for _, s := range roleStatements(t, "ReportRole") {
		if s.body["Effect"] != "Allow" {
			continue
		}
		for _, key := range []string{"NotAction", "NotResource", "Condition"} {
			if _, ok := s.body[key]; ok {
				t.Errorf("Got(ReportRole statement with %s); want plain actions on plain resources", key)
			}
		}
		res := asSlice(s.body["Resource"])
		for _, a := range actionsOf(s) {
			granted[a] = true
			want, ok := allowed[a]
			switch {
			case strings.Contains(a, "*"):
				t.Errorf("Got(ReportRole action) = %s; want no wildcard in an action", a)
			case !ok:
				t.Errorf("Got(ReportRole action) = %s; want only read-only Organizations and the two access-report actions", a)
			case canon(res) != canon(want):
				t.Errorf("Got(ReportRole %s resources) = %s; want %s", a, canon(res), canon(want))
			}
		}
	}
	for a := range allowed {
		if !granted[a] {
			t.Errorf("Got(ReportRole %s) = not granted; want granted (the walk or IAM's report needs it)", a)
		}
	}
}

func TestStateMachineInvokesExactlyTheThreeFunctions(t *testing.T) {
	p := asMap(t, get(t, resource(t, "AuditorStateMachine"), "Properties"), "state machine")
	if _, ok := p["Role"]; ok {
		t.Fatalf("Got(Role) set; want SAM to build the role from Policies")
	}
	logDelivery := []string{
		"logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups",
		"logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
		"logs:PutResourcePolicy", "logs:UpdateLogDelivery",
	}
	var invoke []any
	for _, pol := range asSlice(get(t, p, "Policies")) {
		if _, isDoc := lookup(pol, "Statement"); !isDoc {
			t.Errorf("Got(policy) = %s; want an inline policy document (SAM policy templates grant function-name wildcards)", canon(pol))
			continue
		}
		for _, s := range statementsOf(t, pol) {
			for _, a := range actionsOf(s) {
				switch {
				case a == "lambda:InvokeFunction":
					invoke = append(invoke, asSlice(s.body["Resource"])...)
				case slices.Contains(logDelivery, a):
				default:
					t.Errorf("Got(state machine action) = %s; want lambda:InvokeFunction or log delivery", a)
				}
			}
		}
	}
	var want []any
	for _, f := range functionNames {
		want = append(want, getAtt(f, "Arn"))
	}
	if canon(invoke) != canon(want) {
		t.Errorf("Got(lambda:InvokeFunction resources) = %s; want %s", canon(invoke), canon(want))
	}
}

func TestBucket(t *testing.T) {
	b := resource(t, "AuditBucket")
	if b["Condition"] != "CreateBucket" || b["DeletionPolicy"] != "Retain" {
		t.Errorf("Got(Condition, DeletionPolicy) = (%v, %v); want (CreateBucket, Retain)", b["Condition"], b["DeletionPolicy"])
	}
	p := asMap(t, b["Properties"], "AuditBucket.Properties")
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"PublicAccessBlockConfiguration"}, map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		}},
		{[]string{"OwnershipControls"}, map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}}},
		{[]string{"VersioningConfiguration", "Status"}, "Enabled"},
	}
	for _, c := range checks {
		got, _ := lookup(p, c.path...)
		if canon(got) != canon(c.want) {
			t.Errorf("Got(%s) = %s; want %s", strings.Join(c.path, "."), canon(got), canon(c.want))
		}
	}
	sse := asSlice(get(t, p, "BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(sse) != 1 {
		t.Fatalf("Got(encryption rules) = %d; want 1", len(sse))
	}
	byDefault := get(t, sse[0], "ServerSideEncryptionByDefault")
	if got := get(t, byDefault, "SSEAlgorithm"); canon(got) != canon(ifValue("HasKmsKey", "aws:kms", "AES256")) {
		t.Errorf("Got(SSEAlgorithm) = %s; want aws:kms with a key, AES256 without", canon(got))
	}
	if got := get(t, byDefault, "KMSMasterKeyID"); canon(got) != canon(ifValue("HasKmsKey", ref("KmsKeyArn"), ref("AWS::NoValue"))) {
		t.Errorf("Got(KMSMasterKeyID) = %s; want KmsKeyArn when set", canon(got))
	}

	rules := map[string]map[string]any{}
	for _, r := range asSlice(get(t, p, "LifecycleConfiguration", "Rules")) {
		m := asMap(t, r, "lifecycle rule")
		id, _ := m["Id"].(string)
		rules[id] = m
	}
	runs, ok := rules["ExpireOldRuns"]
	if !ok {
		t.Fatalf("Got(lifecycle rules) = %v; want ExpireOldRuns", slices.Sorted(maps.Keys(rules)))
	}
	if canon(runs["Prefix"]) != canon(map[string]any{"Fn::Sub": "${Prefix}runs/"}) || canon(runs["ExpirationInDays"]) != canon(ref("ManifestRetentionDays")) {
		t.Errorf("Got(ExpireOldRuns) = %s; want runs/ expiring after ManifestRetentionDays", canon(runs))
	}
	nc, ok := rules["ExpireNoncurrentVersions"]
	if !ok {
		t.Fatalf("Got(lifecycle rules) = %v; want ExpireNoncurrentVersions", slices.Sorted(maps.Keys(rules)))
	}
	if _, ok := lookup(nc, "NoncurrentVersionExpiration", "NoncurrentDays"); !ok {
		t.Errorf("Got(ExpireNoncurrentVersions) = %s; want NoncurrentVersionExpiration", canon(nc))
	}
	for id, r := range rules {
		if r["Status"] != "Enabled" {
			t.Errorf("Got(%q Status) = %v; want Enabled", id, r["Status"])
		}
	}

	pol := resource(t, "AuditBucketPolicy")
	stmts := statementsOf(t, get(t, pol, "Properties", "PolicyDocument"))
	denyTLS := slices.ContainsFunc(stmts, func(s statement) bool {
		v, _ := lookup(s.body, "Condition", "Bool", "aws:SecureTransport")
		return s.body["Effect"] == "Deny" && canon(v) == canon("false") && canon(s.body["Action"]) == canon("s3:*") &&
			canon(s.body["Resource"]) == canon([]any{getAtt("AuditBucket", "Arn"), map[string]any{"Fn::Sub": "${AuditBucket.Arn}/*"}})
	})
	if !denyTLS {
		var bodies []any
		for _, s := range stmts {
			bodies = append(bodies, s.body)
		}
		t.Errorf("Got(bucket policy) = %s; want Deny s3:* on the bucket and its objects when aws:SecureTransport is false", canon(bodies))
	}
}

func TestAlarm(t *testing.T) {
	a := asMap(t, get(t, resource(t, "RunFailedAlarm"), "Properties"), "RunFailedAlarm.Properties")
	if canon(a["AlarmActions"]) != canon([]any{ref("AlarmTopic")}) {
		t.Errorf("Got(AlarmActions) = %s; want the AlarmTopic", canon(a["AlarmActions"]))
	}
	var metrics []string
	for _, m := range asSlice(a["Metrics"]) {
		name, ok := lookup(m, "MetricStat", "Metric", "MetricName")
		if !ok {
			continue
		}
		metrics = append(metrics, fmt.Sprint(name))
		dims, _ := lookup(m, "MetricStat", "Metric", "Dimensions")
		want := []any{map[string]any{"Name": "StateMachineArn", "Value": ref("AuditorStateMachine")}}
		if canon(dims) != canon(want) {
			t.Errorf("Got(%s dimensions) = %s; want %s", name, canon(dims), canon(want))
		}
	}
	if !slices.Contains(metrics, "ExecutionsFailed") {
		t.Errorf("Got(alarm metrics) = %v; want ExecutionsFailed among them", metrics)
	}
	sub := resource(t, "AlarmEmailSubscription")
	if sub["Condition"] != "HasAlarmEmail" {
		t.Errorf("Got(AlarmEmailSubscription.Condition) = %v; want HasAlarmEmail", sub["Condition"])
	}
}

func TestOutputs(t *testing.T) {
	out := asMap(t, get(t, loadTemplate(t), "Outputs"), "Outputs")
	want := map[string]any{
		"StateMachineArn": ref("AuditorStateMachine"),
		"BucketName":      ifValue("CreateBucket", ref("AuditBucket"), ref("BucketName")),
		"ConsoleUrl": map[string]any{
			"Fn::Sub": "https://console.aws.amazon.com/states/home?region=${AWS::Region}#/statemachines/view/${AuditorStateMachine}",
		},
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		got, _ := lookup(out, k, "Value")
		if canon(got) != canon(want[k]) {
			t.Errorf("Got(output %s) = %s; want %s", k, canon(got), canon(want[k]))
		}
	}
}

// TestFirstUseNotification checks that the notification is off by default
// and that the topic, its output and Store's access to it exist only when
// it is on.
func TestFirstUseNotification(t *testing.T) {
	tpl := loadTemplate(t)
	p := asMap(t, get(t, tpl, "Parameters", "FirstUseNotification"), "FirstUseNotification")
	if p["Default"] != "NONE" || canon(p["AllowedValues"]) != canon([]any{"NONE", "SNS"}) {
		t.Errorf("Got(FirstUseNotification) default %v, allowed %s; want NONE of [NONE SNS]", p["Default"], canon(p["AllowedValues"]))
	}
	cond := get(t, tpl, "Conditions", "NotifyFirstUse")
	if want := map[string]any{"Fn::Equals": []any{ref("FirstUseNotification"), "SNS"}}; canon(cond) != canon(want) {
		t.Errorf("Got(NotifyFirstUse) = %s; want %s", canon(cond), canon(want))
	}
	topic := resource(t, "FirstUseTopic")
	if topic["Type"] != "AWS::SNS::Topic" || topic["Condition"] != "NotifyFirstUse" {
		t.Errorf("Got(FirstUseTopic type, condition) = %v, %v; want AWS::SNS::Topic, NotifyFirstUse", topic["Type"], topic["Condition"])
	}
	out := asMap(t, get(t, tpl, "Outputs", "FirstUseTopicArn"), "FirstUseTopicArn output")
	if out["Condition"] != "NotifyFirstUse" || canon(out["Value"]) != canon(ref("FirstUseTopic")) {
		t.Errorf("Got(FirstUseTopicArn output) = %s; want the topic when NotifyFirstUse", canon(out))
	}
	// Every use of the topic sits where the condition holds: the resource
	// is absent otherwise and a bare Ref would break the deployment.
	var bare []string
	var walk func(v any, path string, guarded bool)
	walk = func(v any, path string, guarded bool) {
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i), guarded)
			}
		case map[string]any:
			if args, ok := x["Fn::If"].([]any); ok && len(args) == 3 && args[0] == "NotifyFirstUse" {
				walk(args[1], path+"(then)", true)
				walk(args[2], path+"(else)", guarded)
				return
			}
			if canon(x) == canon(ref("FirstUseTopic")) && !guarded {
				bare = append(bare, path)
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k], path+"."+k, guarded)
			}
		}
	}
	for _, section := range []string{"Resources", "Outputs"} {
		for name, v := range asMap(t, tpl[section], section) {
			guarded := asMap(t, v, name)["Condition"] == "NotifyFirstUse"
			walk(v, section+"."+name, guarded)
		}
	}
	if len(bare) > 0 {
		slices.Sort(bare)
		t.Errorf("Got(unconditional references to FirstUseTopic) = %v; want none", bare)
	}
}

// TestDeployDocShowsTheReportRolePolicy: the permissions policy that
// docs/deploy.md asks a security-tooling deployment to create by hand in
// the management account grants exactly what the template's ReportRole
// grants, with the example account id in place of AWS::AccountId.
func TestDeployDocShowsTheReportRolePolicy(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "and this permissions policy")
	_, block, ok2 := strings.Cut(after, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/deploy.md has no JSON block after \"and this permissions policy\"")
	}
	var shown struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(block), &shown); err != nil {
		t.Fatalf("docs/deploy.md permissions policy: %v", err)
	}
	const account = "111111111111"
	render := func(v any) any {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["Fn::Sub"].(string); ok {
				v = strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::AccountId}", account).Replace(s)
			}
		}
		return v
	}
	grants := func(stmts []map[string]any, res func(any) any) map[string]string {
		out := map[string]string{}
		for _, s := range stmts {
			var resources []string
			for _, r := range asSlice(s["Resource"]) {
				resources = append(resources, canon(res(r)))
			}
			slices.Sort(resources)
			for _, a := range actionsOf(statement{body: s}) {
				out[a] = s["Effect"].(string) + " " + strings.Join(resources, " ")
			}
		}
		return out
	}
	var template []map[string]any
	for _, s := range roleStatements(t, "ReportRole") {
		template = append(template, s.body)
	}
	want := grants(template, render)
	got := grants(shown.Statement, func(v any) any { return v })
	if !maps.Equal(got, want) {
		t.Errorf("Got(docs/deploy.md report role policy) = %v; want the template's %v", got, want)
	}
}
