package orgmodel

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
)

// GenerateOptions shape a generated organization.
type GenerateOptions struct {
	OUs      int   // 0..1000
	Accounts int   // 1..100000, the management account included
	Depth    int   // deepest OU level under the root, 1..5
	Seed     int64 // same options, same organization
	// Policies is the number of allow-list SCPs besides FullAWSAccess:
	// 0 means DefaultPolicies, a negative number none (and then no deny
	// SCPs either: FullAWSAccess alone).
	Policies int
	// AsOf is the instant the activity describes; zero means
	// DefaultAsOf, never the wall clock, so output is deterministic.
	AsOf time.Time
	// Daily moves the activity on with the clock after AsOf under
	// DefaultDaily (see Org.AdvanceTo); without it the activity stands
	// still.
	Daily bool
}

// Generator defaults and bounds.
const (
	DefaultPolicies = 6
	MaxOUs          = 1000
	MaxAccounts     = 100000
	MaxPolicies     = 100
	// activityDays is how far back generated last accesses go.
	activityDays = 400
)

// DefaultAsOf is the AsOf of generated organizations when none is given.
var DefaultAsOf = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Generate builds a random but realistic organization, the same for the
// same options: a root, opts.OUs OUs nested up to opts.Depth levels under
// names of the usual multi-account layouts, opts.Accounts accounts (the
// first is the management account, under the root), FullAWSAccess attached
// everywhere as AWS does by default, allow-list SCPs drawn from themed sets
// of services attached at some OUs (some replacing FullAWSAccess, so that
// intersections restrict, and one left unattached), two deny SCPs (a
// region deny under a condition at the root, which removes nothing, and an
// unconditional whole-service Deny at one OU, which removes its services
// below it), and skewed activity: a
// few core services used by nearly every active account, a long tail used
// by few, most services by none, some accounts idle.
func Generate(opts GenerateOptions) (*Org, error) {
	switch {
	case opts.OUs < 0 || opts.OUs > MaxOUs:
		return nil, fmt.Errorf("generate: ous must be 0..%d, got %d", MaxOUs, opts.OUs)
	case opts.Depth < 1 || opts.Depth > MaxOUDepth:
		return nil, fmt.Errorf("generate: depth must be 1..%d, got %d", MaxOUDepth, opts.Depth)
	case opts.Accounts < 1:
		return nil, fmt.Errorf("generate: accounts must be >= 1 (the management account), got %d", opts.Accounts)
	case opts.Accounts > MaxAccounts:
		return nil, fmt.Errorf("generate: accounts must be at most %d, got %d", MaxAccounts, opts.Accounts)
	case opts.Policies > MaxPolicies:
		return nil, fmt.Errorf("generate: policies must be at most %d, got %d", MaxPolicies, opts.Policies)
	}
	id := GeneratedID(opts)
	if opts.Policies == 0 {
		opts.Policies = DefaultPolicies
	} else if opts.Policies < 0 {
		opts.Policies = 0
	}
	if opts.AsOf.IsZero() {
		opts.AsOf = DefaultAsOf
	}
	g := &generator{
		opts: opts,
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		ids:  map[string]bool{},
		o:    &Org{ID: id, AsOf: opts.AsOf.UTC().Truncate(time.Second)},
	}
	g.org()
	g.ous()
	g.accounts()
	g.policies()
	g.activity()
	if opts.Daily {
		g.o.Daily = DefaultDaily(opts.Seed)
	}
	if opts.Policies > 0 {
		g.denyPolicies() // last, so the draws before it stay as they were
	}
	if err := g.o.Index(); err != nil {
		return nil, fmt.Errorf("generate: %w", err) // a bug of the generator
	}
	return g.o, nil
}

type generator struct {
	opts GenerateOptions
	rng  *rand.Rand
	ids  map[string]bool
	o    *Org

	ouDepth     []int          // depth of o.OUs[i]
	ouIndex     map[string]int // OU id -> index in o.OUs
	siblings    map[string]int // parent id + "/" + name -> count, for unique names
	accountName map[string]int // account name -> count
	suspended   string         // id of the Suspended OU, if any
	security    string         // id of the Security OU, if any
}

const alnum = "0123456789abcdefghijklmnopqrstuvwxyz"

// uniqueID returns prefix + n random characters of alphabet, not yet used.
func (g *generator) uniqueID(prefix, alphabet string, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	for {
		for i := len(prefix); i < len(b); i++ {
			b[i] = alphabet[g.rng.IntN(len(alphabet))]
		}
		if id := string(b); !g.ids[id] {
			g.ids[id] = true
			return id
		}
	}
}

func (g *generator) org() {
	g.uniqueID("o-", alnum, 10) // drawn and dropped, so the draws after it stay as they were
	g.ids[g.o.ID] = true
	g.o.Root = Root{ID: g.uniqueID("r-", alnum, 4), Name: "Root"}
	g.o.Attachments = map[string][]string{g.o.Root.ID: {FullAWSAccessID}}
	g.o.Activity = map[string]map[string]Access{}
}

// GeneratedID is the id of the organization Generate makes of opts: drawn
// from every option that shapes the organization but its instant (AsOf,
// Daily), so that organizations of different sizes or seeds do not share
// an id, and one organization keeps its id from day to day.
func GeneratedID(opts GenerateOptions) string {
	if opts.Policies == 0 {
		opts.Policies = DefaultPolicies
	} else if opts.Policies < 0 {
		opts.Policies = -1
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d/%d/%d", opts.Seed, opts.OUs, opts.Accounts, opts.Depth, opts.Policies)
	x := h.Sum64() // 64 bits hold ten base-36 digits (36^10 < 2^52)
	b := []byte("o-")
	for range 10 {
		b = append(b, alnum[x%uint64(len(alnum))])
		x /= uint64(len(alnum))
	}
	return string(b)
}

// Names of the OUs of the usual multi-account layouts, by role.
var (
	foundationOUs = []string{"Security", "Infrastructure", "Workloads", "Sandbox", "Policy Staging", "Suspended", "Deployments", "Exceptions"}
	envOUs        = []string{"Prod", "NonProd", "Dev", "Staging", "Test", "QA", "Shared"}
	teamOUs       = []string{"Payments", "Identity", "Search", "Data Platform", "Mobile", "Checkout", "Analytics", "Machine Learning",
		"Marketing", "Finance", "HR", "Logistics", "Risk", "Fraud", "Catalog", "Billing", "Notifications", "Media", "Platform",
		"Networking", "Observability", "Customer Care", "Partners", "Pricing", "Recommendations", "Streaming", "Growth", "Ledger"}
	infraOUs = []string{"Network", "Shared Services", "Logging", "Backup", "CI/CD", "DNS", "Directory"}
)

func (g *generator) addOU(parent, name string, depth int) int {
	key := parent + "/" + name
	g.siblings[key]++
	if c := g.siblings[key]; c > 1 {
		name += " " + strconv.Itoa(c)
	}
	rootSuffix := strings.TrimPrefix(g.o.Root.ID, "r-")
	id := g.uniqueID("ou-"+rootSuffix+"-", alnum, 8)
	g.o.OUs = append(g.o.OUs, OU{ID: id, Name: name, ParentID: parent})
	g.ouDepth = append(g.ouDepth, depth)
	g.ouIndex[id] = len(g.o.OUs) - 1
	g.o.Attachments[id] = []string{FullAWSAccessID}
	return len(g.o.OUs) - 1
}

func (g *generator) ous() {
	n, depth := g.opts.OUs, g.opts.Depth
	g.ouIndex = make(map[string]int, n)
	g.siblings = map[string]int{}
	g.o.OUs = make([]OU, 0, n)
	root := g.o.Root.ID
	// The foundation OUs first, then a chain under Workloads down to the
	// deepest level asked for, then the rest anywhere not too deep.
	// Keep enough OUs back for the chain, so the deepest level asked for
	// exists whenever there are at least as many OUs as levels.
	top := min(len(foundationOUs), max(1, n-(depth-1)), n)
	workloads := -1
	for i := 0; i < top; i++ {
		idx := g.addOU(root, foundationOUs[i], 1)
		switch foundationOUs[i] {
		case "Workloads":
			workloads = idx
		case "Suspended":
			g.suspended = g.o.OUs[idx].ID
		case "Security":
			g.security = g.o.OUs[idx].ID
		}
	}
	if workloads < 0 && top > 0 {
		workloads = 0
	}
	for parent := workloads; parent >= 0 && len(g.o.OUs) < n && g.ouDepth[parent] < depth; {
		parent = g.addOU(g.o.OUs[parent].ID, g.childName(parent), g.ouDepth[parent]+1)
	}
	var open []int // OUs that may take children
	for i, d := range g.ouDepth {
		if d < depth && g.o.OUs[i].Name != "Suspended" && g.o.OUs[i].Name != "Policy Staging" {
			open = append(open, i)
		}
	}
	for len(g.o.OUs) < n {
		if len(open) == 0 { // one level only: the rest sit under the root too
			g.addOU(root, teamOUs[len(g.o.OUs)%len(teamOUs)], 1)
			continue
		}
		parent := open[g.rng.IntN(len(open))]
		idx := g.addOU(g.o.OUs[parent].ID, g.childName(parent), g.ouDepth[parent]+1)
		if g.ouDepth[idx] < depth {
			open = append(open, idx)
		}
	}
}

// childName picks a name for a new child of OU parent by where it sits.
func (g *generator) childName(parent int) string {
	top := parent
	for {
		p, ok := g.ouIndex[g.o.OUs[top].ParentID]
		if !ok {
			break
		}
		top = p
	}
	pool := teamOUs
	switch {
	case g.o.OUs[top].Name == "Infrastructure" || g.o.OUs[top].Name == "Security":
		pool = infraOUs
	case g.ouDepth[parent] == 1:
		pool = envOUs
	}
	return pool[g.rng.IntN(len(pool))]
}

var accountWords = []string{"app", "api", "data", "web", "batch", "etl", "ml", "core", "edge", "tools", "portal", "events", "jobs", "db"}

func slug(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer(" ", "-", "/", "").Replace(s)
	return s
}

func (g *generator) addAccount(name, parent string, joined time.Time) {
	g.accountName[name]++
	if c := g.accountName[name]; c > 1 {
		name = fmt.Sprintf("%s-%02d", name, c)
	}
	id := g.uniqueID("", "0123456789", 12)
	a := Account{ID: id, Name: name, Email: "aws+" + name + "@example.com", ParentID: parent, Joined: joined}
	if parent == g.suspended && parent != "" {
		a.Status = "SUSPENDED"
	}
	g.o.Accounts = append(g.o.Accounts, a)
	g.o.Attachments[id] = []string{FullAWSAccessID}
}

func (g *generator) accounts() {
	asOf := g.o.AsOf
	g.accountName = map[string]int{}
	g.o.Accounts = make([]Account, 0, g.opts.Accounts)
	g.addAccount("management", g.o.Root.ID, asOf.AddDate(-9, 0, 0))
	g.o.ManagementAccountID = g.o.Accounts[0].ID
	if g.security != "" {
		for _, name := range []string{"log-archive", "audit"} {
			if len(g.o.Accounts) < g.opts.Accounts {
				g.addAccount(name, g.security, asOf.AddDate(-8, 0, 0))
			}
		}
	}
	for len(g.o.Accounts) < g.opts.Accounts {
		parent, name := g.o.Root.ID, "legacy-"+accountWords[g.rng.IntN(len(accountWords))]
		// A few accounts stay under the root, as in organizations that
		// grew before they had OUs.
		if len(g.o.OUs) > 0 && g.rng.IntN(40) != 0 {
			ou := g.o.OUs[g.rng.IntN(len(g.o.OUs))]
			parent, name = ou.ID, slug(ou.Name)+"-"+accountWords[g.rng.IntN(len(accountWords))]
		}
		joined := asOf.Add(-time.Duration(30*24+g.rng.IntN(8*365*24)) * time.Hour).Add(-time.Duration(g.rng.IntN(3600)) * time.Second)
		g.addAccount(name, parent, joined)
	}
}

// Themed allow-lists for generated SCPs. Every theme includes coreServices
// so that accounts under an allow-list can still work.
var (
	coreServices = []string{"sts", "s3", "ec2", "iam", "kms", "logs", "cloudwatch", "cloudtrail", "config", "ssm",
		"cloudformation", "tag", "health", "support", "sso", "organizations", "access-analyzer", "guardduty",
		"securityhub", "events", "sns", "sqs", "secretsmanager", "elasticloadbalancing", "autoscaling", "acm", "route53"}
	policyThemes = []struct {
		name, description string
		services          []string
	}{
		{"AllowCoreServices", "Only the services every workload needs.", nil},
		{"AllowServerless", "Serverless workloads.", []string{"lambda", "apigateway", "execute-api", "states", "dynamodb", "scheduler", "pipes", "appsync", "cognito-idp", "cognito-identity", "xray"}},
		{"AllowDataPlatform", "Analytics and data engineering.", []string{"athena", "glue", "redshift", "redshift-data", "elasticmapreduce", "emr-serverless", "kinesis", "firehose", "lakeformation", "databrew", "kafka", "quicksight", "es", "aoss", "dms", "datasync", "dynamodb", "lambda"}},
		{"AllowContainers", "Container platforms.", []string{"eks", "ecs", "ecr", "elasticfilesystem", "servicediscovery", "appmesh", "apprunner", "application-autoscaling", "lambda", "dynamodb", "rds", "elasticache", "xray"}},
		{"AllowMachineLearning", "Machine learning.", []string{"sagemaker", "bedrock", "comprehend", "rekognition", "textract", "translate", "transcribe", "polly", "personalize", "forecast", "kendra", "lambda", "athena", "glue"}},
		{"AllowNetworking", "Network infrastructure.", []string{"directconnect", "networkmanager", "network-firewall", "globalaccelerator", "route53resolver", "ram", "vpc-lattice", "cloudfront", "wafv2", "shield"}},
		{"AllowSecurityTooling", "Security tooling.", []string{"inspector2", "macie2", "detective", "fms", "securitylake", "shield", "wafv2", "auditmanager", "cloudhsm", "acm-pca", "athena", "lambda"}},
	}
)

func (g *generator) policies() {
	g.o.Policies = []Policy{{ID: FullAWSAccessID, Name: "FullAWSAccess", AWSManaged: true,
		Description: "Allows access to every operation", Allow: []string{AllServices}}}
	all := catalog.All()
	for i := 0; i < g.opts.Policies; i++ {
		var p Policy
		set := append([]string{}, coreServices...)
		if i < len(policyThemes) {
			t := policyThemes[i]
			p.Name, p.Description = t.name, t.description
			set = append(set, t.services...)
		} else {
			p.Name = fmt.Sprintf("AllowWorkloadServices%02d", i-len(policyThemes)+1)
			p.Description = "Services approved for a group of workloads."
			for k := 0; k < 10+g.rng.IntN(30); k++ {
				set = append(set, all[g.rng.IntN(len(all))].Namespace)
			}
		}
		p.ID = g.uniqueID("p-", alnum, 8)
		p.Allow = knownSorted(set)
		g.o.Policies = append(g.o.Policies, p)
	}
	extra := g.o.Policies[1:]
	if len(extra) == 0 {
		return
	}
	// The last allow-list stays unattached when there are several, like
	// a policy being staged.
	attach := extra
	if len(extra) > 2 {
		attach = extra[:len(extra)-1]
	}
	var targets []string // OUs, or accounts when there are none
	for _, ou := range g.o.OUs {
		targets = append(targets, ou.ID)
	}
	if len(targets) == 0 {
		for _, a := range g.o.Accounts[1:] {
			targets = append(targets, a.ID)
		}
	}
	if len(targets) == 0 {
		return
	}
	for _, p := range attach {
		for k := 0; k < 1+g.rng.IntN(3); k++ {
			t := targets[g.rng.IntN(len(targets))]
			cur := g.o.Attachments[t]
			if len(cur) >= 5 || contains(cur, p.ID) {
				continue
			}
			// Half the time the allow-list replaces FullAWSAccess, so the
			// target and everything under it is restricted to it.
			if len(cur) == 1 && cur[0] == FullAWSAccessID && g.rng.IntN(2) == 0 {
				g.o.Attachments[t] = []string{p.ID}
			} else {
				g.o.Attachments[t] = append(cur, p.ID)
			}
		}
	}
	// A couple of accounts carry an SCP of their own.
	for k := 0; k < 2 && len(g.o.Accounts) > 1; k++ {
		a := g.o.Accounts[1+g.rng.IntN(len(g.o.Accounts)-1)].ID
		p := attach[g.rng.IntN(len(attach))].ID
		if cur := g.o.Attachments[a]; !contains(cur, p) {
			g.o.Attachments[a] = append(cur, p)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// knownSorted returns the catalog namespaces of set, deduplicated and
// sorted.
func knownSorted(set []string) []string { return setOf(set).namespaces() }

// Activity tiers: services nearly every active account uses, services many
// use, and how much of the remaining catalog forms the long tail (the rest
// is never used).
var (
	tier1 = []string{"sts", "s3", "ec2", "iam", "kms", "logs", "cloudwatch", "cloudtrail", "config", "ssm", "cloudformation", "tag"}
	tier2 = map[string]float64{"lambda": 0.6, "dynamodb": 0.45, "rds": 0.35, "sns": 0.55, "sqs": 0.5, "events": 0.6,
		"secretsmanager": 0.5, "elasticloadbalancing": 0.45, "autoscaling": 0.4, "ecr": 0.35, "ecs": 0.3, "route53": 0.3,
		"acm": 0.3, "guardduty": 0.5, "securityhub": 0.45, "access-analyzer": 0.3, "support": 0.25, "apigateway": 0.3,
		"states": 0.2, "athena": 0.2, "glue": 0.15, "xray": 0.15, "cloudfront": 0.15, "elasticache": 0.15, "health": 0.5, "sso": 0.2}
	tailSize = 70
	// regions of activity, most used first.
	regions      = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1", "us-east-2", "eu-west-2", "ca-central-1", "ap-south-1", "sa-east-1"}
	regionWeight = []int{30, 18, 15, 10, 6, 5, 6, 4, 2, 2, 2}
	// globalServices are recorded in us-east-1 whatever the caller's region.
	globalServices = map[string]bool{"iam": true, "organizations": true, "route53": true, "cloudfront": true, "health": true, "support": true}
)

func (g *generator) region() string {
	total := 0
	for _, w := range regionWeight {
		total += w
	}
	r := g.rng.IntN(total)
	for i, w := range regionWeight {
		if r < w {
			return regions[i]
		}
		r -= w
	}
	return regions[0]
}

func (g *generator) activity() {
	type weighted struct {
		ns string
		p  float64
	}
	var t2, tail []weighted
	skip := map[string]bool{}
	for _, ns := range tier1 {
		skip[ns] = true
	}
	for _, s := range catalog.All() { // catalog order, not map order
		if p, ok := tier2[s.Namespace]; ok {
			t2 = append(t2, weighted{s.Namespace, p})
			skip[s.Namespace] = true
		}
	}
	var rest []string
	for _, s := range catalog.All() {
		if !skip[s.Namespace] {
			rest = append(rest, s.Namespace)
		}
	}
	g.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for i, ns := range rest[:min(tailSize, len(rest))] {
		tail = append(tail, weighted{ns, 0.08 / (1 + float64(i)/5)})
	}
	asOf := g.o.AsOf
	ago := func(maxDays float64, recent bool) time.Time {
		var d float64
		if recent { // mostly within the last days
			d = math.Min(g.rng.ExpFloat64()*1.5, maxDays)
		} else {
			d = g.rng.Float64() * maxDays
		}
		return asOf.Add(-time.Duration(d * 24 * float64(time.Hour))).Truncate(time.Second)
	}
	for i, a := range g.o.Accounts {
		mgmt := i == 0
		if !mgmt && (a.Status == "SUSPENDED" || g.rng.IntN(12) == 0) {
			continue // idle
		}
		home := g.region()
		// An account is not older than its activity.
		maxDays := math.Min(activityDays, asOf.Sub(a.Joined).Hours()/24)
		acts := make(map[string]Access, len(tier1)+8)
		add := func(ns string, t time.Time) {
			r := home
			if globalServices[ns] {
				r = "us-east-1"
			} else if g.rng.IntN(5) == 0 {
				r = g.region()
			}
			acts[ns] = Access{Time: t, Region: r}
		}
		for _, ns := range tier1 {
			if g.rng.Float64() < 0.97 {
				add(ns, ago(maxDays, true))
			}
		}
		for _, w := range t2 {
			if g.rng.Float64() < w.p {
				add(w.ns, ago(math.Min(maxDays, 120), g.rng.IntN(2) == 0))
			}
		}
		for _, w := range tail {
			if g.rng.Float64() < w.p {
				add(w.ns, ago(maxDays, false))
			}
		}
		if mgmt {
			add("organizations", ago(maxDays, true))
		}
		if len(acts) > 0 {
			g.o.Activity[a.ID] = acts
		}
	}
}

// Deny SCPs of generated organizations.
var (
	// approvedRegions are the regions the region deny leaves open.
	approvedRegions = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}
	// regionFreeActions are the global services and actions the region
	// deny exempts, as in AWS's example policy.
	regionFreeActions = []string{"a4b:*", "access-analyzer:*", "account:*", "acm:*", "artifact:*", "aws-marketplace-management:*",
		"aws-marketplace:*", "aws-portal:*", "billing:*", "budgets:*", "ce:*", "chatbot:*", "chime:*", "cloudfront:*",
		"cloudtrail:LookupEvents", "compute-optimizer:*", "config:*", "cur:*", "directconnect:*", "ec2:DescribeRegions",
		"ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*", "iam:*",
		"importexport:*", "kms:*", "networkmanager:*", "organizations:*", "pricing:*", "route53:*", "route53domains:*",
		"s3:GetAccountPublic*", "s3:ListAllMyBuckets", "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*",
		"savingsplans:*", "shield:*", "sso:*", "sts:*", "support:*", "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*"}
	// deniedServices are denied whole at one OU; the deny SCP also denies
	// reserved-instance purchases, a partial Deny that removes nothing.
	deniedServices = []string{"gamelift:*", "lightsail:*", "braket:*"}
)

// denyPolicies adds the region deny, attached at the root, and the
// whole-service deny, attached at the first OU (Sandbox first, then
// Workloads, then any) that FullAWSAccess reaches at every level, so
// that reports below it miss the denied services.
func (g *generator) denyPolicies() {
	type stmt struct {
		Sid       string         `json:"Sid"`
		Effect    string         `json:"Effect"`
		Action    []string       `json:"Action,omitempty"`
		NotAction []string       `json:"NotAction,omitempty"`
		Resource  string         `json:"Resource"`
		Condition map[string]any `json:"Condition,omitempty"`
	}
	document := func(st ...stmt) Document {
		b, err := json.MarshalIndent(struct {
			Version   string
			Statement []stmt
		}{PolicyVersion, st}, "", "  ")
		if err != nil {
			panic(err) // static shapes
		}
		return Document(b)
	}
	region := Policy{ID: g.uniqueID("p-", alnum, 8), Name: "DenyOutsideApprovedRegions",
		Description: "Denies requests outside the approved regions, except to global services.",
		Content: document(stmt{Sid: "DenyAllOutsideApprovedRegions", Effect: "Deny", NotAction: regionFreeActions, Resource: "*",
			Condition: map[string]any{"StringNotEquals": map[string][]string{"aws:RequestedRegion": approvedRegions}}})}
	services := Policy{ID: g.uniqueID("p-", alnum, 8), Name: "DenyUnapprovedServices",
		Description: "Services and purchases not approved for these accounts.",
		Content: document(
			stmt{Sid: "DenyUnapprovedServices", Effect: "Deny", Action: deniedServices, Resource: "*"},
			stmt{Sid: "DenyReservedPurchases", Effect: "Deny", Action: []string{"ec2:PurchaseReservedInstancesOffering", "ec2:AcceptReservedInstancesExchangeQuote"}, Resource: "*"})}
	g.o.Policies = append(g.o.Policies, region, services)
	root := g.o.Root.ID
	g.o.Attachments[root] = append(g.o.Attachments[root], region.ID)

	fullAccess := func(id string) bool {
		for id != root {
			if !contains(g.o.Attachments[id], FullAWSAccessID) {
				return false
			}
			id = g.o.OUs[g.ouIndex[id]].ParentID
		}
		return true
	}
	rank := func(ou OU) int {
		switch ou.Name {
		case "Sandbox":
			return 0
		case "Workloads":
			return 1
		}
		return 2
	}
	best := -1
	for i, ou := range g.o.OUs {
		if len(g.o.Attachments[ou.ID]) < MaxPoliciesPerTarget && fullAccess(ou.ID) && (best < 0 || rank(ou) < rank(g.o.OUs[best])) {
			best = i
		}
	}
	if best >= 0 {
		id := g.o.OUs[best].ID
		g.o.Attachments[id] = append(g.o.Attachments[id], services.ID)
	}
}
