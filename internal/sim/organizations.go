package sim

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// Organizations answers the read-only calls orgaudit makes, in the shapes
// of the AWS Organizations API (JSON 1.1, X-Amz-Target
// AWSOrganizationsV20161128.<Op>).

const (
	orgMaxResults = 20 // the API's upper bound and the size of a full page
	scpType       = "SERVICE_CONTROL_POLICY"
)

var (
	parentIDRE = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	childIDRE  = regexp.MustCompile(`^(\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	ouIDRE     = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	accountRE  = regexp.MustCompile(`^\d{12}$`)
	policyIDRE = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)
	targetIDRE = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
)

// Policy types the API knows; only SCPs exist in the simulated org.
// policyTypes are the PolicyType values of the Organizations API (botocore's
// model and the Go SDK's, 2026). ListPolicies and ListPoliciesForTarget take
// any of them: the model gives these calls no PolicyTypeNotEnabledException,
// and a type the organization does not use simply has no policies.
var policyTypes = map[string]bool{
	scpType: true, "RESOURCE_CONTROL_POLICY": true, "TAG_POLICY": true, "BACKUP_POLICY": true,
	"AISERVICES_OPT_OUT_POLICY": true, "CHATBOT_POLICY": true, "DECLARATIVE_POLICY_EC2": true,
	"SECURITYHUB_POLICY": true, "INSPECTOR_POLICY": true, "UPGRADE_ROLLOUT_POLICY": true,
	"BEDROCK_POLICY": true, "S3_POLICY": true, "NETWORK_SECURITY_DIRECTOR_POLICY": true,
	"GUARDDUTY_POLICY": true,
}

type orgInput struct {
	ParentID             string `json:"ParentId"`
	ChildID              string `json:"ChildId"`
	ChildType            string `json:"ChildType"`
	OrganizationalUnitID string `json:"OrganizationalUnitId"`
	AccountID            string `json:"AccountId"`
	PolicyID             string `json:"PolicyId"`
	TargetID             string `json:"TargetId"`
	Filter               string `json:"Filter"`
	MaxResults           *int   `json:"MaxResults"`
	NextToken            *string
}

// orgError is an Organizations exception.
type orgError struct {
	code, message, reason string
}

func notFound(code, message string) *orgError { return &orgError{code: code, message: message} }

func invalidInput(reason, message string) *orgError {
	return &orgError{code: "InvalidInputException", reason: reason, message: message}
}

func (s *Simulator) serveOrganizations(w http.ResponseWriter, r *http.Request, x *exchange) {
	if r.Method != http.MethodPost {
		wire.WriteJSONError(w, r, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	op := x.op
	var in orgInput
	if len(bytes.TrimSpace(x.body)) > 0 {
		if err := json.Unmarshal(x.body, &in); err != nil {
			wire.WriteJSONError(w, r, http.StatusBadRequest, "SerializationException", "")
			return
		}
	}
	h, ok := s.orgOps[op]
	if !ok {
		wire.WriteJSONError(w, r, http.StatusBadRequest, "UnknownOperationException", "The simulator does not implement the Organizations operation "+op+".")
		return
	}
	caller, _ := wire.CallerFrom(r.Context())
	if _, member := s.org.Node(caller.Account); !member {
		wire.WriteJSONError(w, r, http.StatusBadRequest, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
		return
	}
	if caller.NoOrganizationsAccess || (caller.Account != s.org.ManagementAccountID && op != "DescribeOrganization") {
		wire.WriteJSONError(w, r, http.StatusBadRequest, "AccessDeniedException", "You don't have permissions to access this resource.")
		return
	}
	out, oerr := h(in, op)
	if oerr != nil {
		body := map[string]string{"__type": oerr.code, "Message": oerr.message}
		if oerr.reason != "" {
			body["Reason"] = oerr.reason
		}
		wire.WriteJSON(w, r, http.StatusBadRequest, body)
		return
	}
	wire.WriteJSON(w, r, http.StatusOK, out)
}

// orgOp answers one Organizations operation: its output document or an
// error.
type orgOp func(in orgInput, op string) (any, *orgError)

func (s *Simulator) organizationsOps() map[string]orgOp {
	return map[string]orgOp{
		"DescribeOrganization":             s.describeOrganization,
		"ListRoots":                        s.listRoots,
		"ListOrganizationalUnitsForParent": s.listOUsForParent,
		"ListAccountsForParent":            s.listAccountsForParent,
		"ListAccounts":                     s.listAccounts,
		"ListChildren":                     s.listChildren,
		"ListParents":                      s.listParents,
		"DescribeOrganizationalUnit":       s.describeOU,
		"DescribeAccount":                  s.describeAccount,
		"ListPolicies":                     s.listPolicies,
		"ListPoliciesForTarget":            s.listPoliciesForTarget,
		"ListTargetsForPolicy":             s.listTargetsForPolicy,
		"DescribePolicy":                   s.describePolicy,
	}
}

// Shapes of the Organizations API.
type (
	policyTypeSummary struct{ Type, Status string }
	organizationJSON  struct {
		ID                   string              `json:"Id"`
		Arn                  string              `json:"Arn"`
		FeatureSet           string              `json:"FeatureSet"`
		MasterAccountArn     string              `json:"MasterAccountArn"`
		MasterAccountID      string              `json:"MasterAccountId"`
		MasterAccountEmail   string              `json:"MasterAccountEmail"`
		AvailablePolicyTypes []policyTypeSummary `json:"AvailablePolicyTypes"`
	}
	rootJSON struct {
		ID          string              `json:"Id"`
		Arn         string              `json:"Arn"`
		Name        string              `json:"Name"`
		PolicyTypes []policyTypeSummary `json:"PolicyTypes"`
	}
	ouJSON struct {
		ID   string `json:"Id"`
		Arn  string `json:"Arn"`
		Name string `json:"Name"`
	}
	accountJSON struct {
		ID              string  `json:"Id"`
		Arn             string  `json:"Arn"`
		Email           string  `json:"Email"`
		Name            string  `json:"Name"`
		Status          string  `json:"Status"`
		State           string  `json:"State"`
		JoinedMethod    string  `json:"JoinedMethod"`
		JoinedTimestamp float64 `json:"JoinedTimestamp"`
	}
	childJSON struct {
		ID   string `json:"Id"`
		Type string `json:"Type"`
	}
	policySummaryJSON struct {
		ID          string `json:"Id"`
		Arn         string `json:"Arn"`
		Name        string `json:"Name"`
		Description string `json:"Description"`
		Type        string `json:"Type"`
		AwsManaged  bool   `json:"AwsManaged"`
	}
	targetJSON struct {
		TargetID string `json:"TargetId"`
		Arn      string `json:"Arn"`
		Name     string `json:"Name"`
		Type     string `json:"Type"`
	}
)

func (s *Simulator) orgARN(kind, id string) string {
	return "arn:aws:organizations::" + s.org.ManagementAccountID + ":" + kind + "/" + s.org.ID + "/" + id
}

func (s *Simulator) policyTypes() []policyTypeSummary {
	if s.org.SCPDisabled {
		return []policyTypeSummary{}
	}
	return []policyTypeSummary{{Type: scpType, Status: "ENABLED"}}
}

func (s *Simulator) account(id string) (orgmodel.Account, bool) {
	i, ok := s.accounts[id]
	if !ok {
		return orgmodel.Account{}, false
	}
	return s.org.Accounts[i], true
}

func (s *Simulator) accountJSON(a orgmodel.Account) accountJSON {
	status := a.Status
	if status == "" {
		status = "ACTIVE"
	}
	method := "CREATED"
	if a.ID == s.org.ManagementAccountID {
		method = "INVITED"
	}
	return accountJSON{
		ID: a.ID, Arn: s.orgARN("account", a.ID), Email: a.Email, Name: a.Name,
		Status: status, State: status, JoinedMethod: method,
		JoinedTimestamp: float64(a.Joined.UnixMilli()) / 1000,
	}
}

func (s *Simulator) ouJSON(id string) ouJSON {
	n, _ := s.org.Node(id)
	return ouJSON{ID: id, Arn: s.orgARN("ou", id), Name: n.Name}
}

func (s *Simulator) policySummary(p *orgmodel.Policy) policySummaryJSON {
	arn := "arn:aws:organizations::" + s.org.ManagementAccountID + ":policy/" + s.org.ID + "/service_control_policy/" + p.ID
	if p.AWSManaged {
		arn = "arn:aws:organizations::aws:policy/service_control_policy/" + p.ID
	}
	return policySummaryJSON{ID: p.ID, Arn: arn, Name: p.Name, Description: p.Description, Type: scpType, AwsManaged: p.AWSManaged}
}

func (s *Simulator) describeOrganization(orgInput, string) (any, *orgError) {
	mgmt, _ := s.account(s.org.ManagementAccountID)
	return map[string]any{"Organization": organizationJSON{
		ID:                   s.org.ID,
		Arn:                  "arn:aws:organizations::" + s.org.ManagementAccountID + ":organization/" + s.org.ID,
		FeatureSet:           "ALL",
		MasterAccountArn:     s.orgARN("account", mgmt.ID),
		MasterAccountID:      mgmt.ID,
		MasterAccountEmail:   mgmt.Email,
		AvailablePolicyTypes: s.policyTypes(),
	}}, nil
}

func (s *Simulator) listRoots(in orgInput, op string) (any, *orgError) {
	root := rootJSON{ID: s.org.Root.ID, Arn: s.orgARN("root", s.org.Root.ID), Name: s.org.Root.Name, PolicyTypes: s.policyTypes()}
	return s.page(in, op, "", []rootJSON{root}, "Roots")
}

// parent validates a ParentId and finds it.
func (s *Simulator) parent(id string) *orgError {
	if id == "" {
		return invalidInput("INPUT_REQUIRED", "You must specify a value for ParentId.")
	}
	if !parentIDRE.MatchString(id) {
		return invalidInput("INVALID_PATTERN", "You specified an invalid value for ParentId.")
	}
	if n, ok := s.org.Node(id); !ok || n.Type == orgmodel.TypeAccount {
		return notFound("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
	}
	return nil
}

func (s *Simulator) listOUsForParent(in orgInput, op string) (any, *orgError) {
	if err := s.parent(in.ParentID); err != nil {
		return nil, err
	}
	ids := s.org.ChildOUs(in.ParentID)
	out := make([]ouJSON, len(ids))
	for i, id := range ids {
		out[i] = s.ouJSON(id)
	}
	return s.page(in, op, in.ParentID, out, "OrganizationalUnits")
}

func (s *Simulator) listAccountsForParent(in orgInput, op string) (any, *orgError) {
	if err := s.parent(in.ParentID); err != nil {
		return nil, err
	}
	ids := s.org.ChildAccounts(in.ParentID)
	out := make([]accountJSON, len(ids))
	for i, id := range ids {
		a, _ := s.account(id)
		out[i] = s.accountJSON(a)
	}
	return s.page(in, op, in.ParentID, out, "Accounts")
}

func (s *Simulator) listAccounts(in orgInput, op string) (any, *orgError) {
	out := make([]accountJSON, len(s.org.Accounts))
	for i, a := range s.org.Accounts {
		out[i] = s.accountJSON(a)
	}
	return s.page(in, op, "", out, "Accounts")
}

func (s *Simulator) listChildren(in orgInput, op string) (any, *orgError) {
	if err := s.parent(in.ParentID); err != nil {
		return nil, err
	}
	var ids []string
	switch in.ChildType {
	case orgmodel.TypeAccount:
		ids = s.org.ChildAccounts(in.ParentID)
	case orgmodel.TypeOU:
		ids = s.org.ChildOUs(in.ParentID)
	case "":
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for ChildType.")
	default:
		return nil, invalidInput("INVALID_ENUM", "You specified an invalid value for ChildType.")
	}
	out := make([]childJSON, len(ids))
	for i, id := range ids {
		out[i] = childJSON{ID: id, Type: in.ChildType}
	}
	return s.page(in, op, in.ParentID+"|"+in.ChildType, out, "Children")
}

func (s *Simulator) listParents(in orgInput, op string) (any, *orgError) {
	if in.ChildID == "" {
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for ChildId.")
	}
	if !childIDRE.MatchString(in.ChildID) {
		return nil, invalidInput("INVALID_PATTERN", "You specified an invalid value for ChildId.")
	}
	n, ok := s.org.Node(in.ChildID)
	if !ok || n.Type == orgmodel.TypeRoot {
		return nil, notFound("ChildNotFoundException", "We can't find an organizational unit (OU) or account with the ChildId that you specified.")
	}
	p, _ := s.org.Node(n.ParentID)
	return s.page(in, op, in.ChildID, []childJSON{{ID: p.ID, Type: p.Type}}, "Parents")
}

func (s *Simulator) describeOU(in orgInput, _ string) (any, *orgError) {
	if in.OrganizationalUnitID == "" {
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for OrganizationalUnitId.")
	}
	if !ouIDRE.MatchString(in.OrganizationalUnitID) {
		return nil, invalidInput("INVALID_PATTERN", "You specified an invalid value for OrganizationalUnitId.")
	}
	if n, ok := s.org.Node(in.OrganizationalUnitID); !ok || n.Type != orgmodel.TypeOU {
		return nil, notFound("OrganizationalUnitNotFoundException", "We can't find an organizational unit (OU) with the OrganizationalUnitId that you specified.")
	}
	return map[string]any{"OrganizationalUnit": s.ouJSON(in.OrganizationalUnitID)}, nil
}

func (s *Simulator) describeAccount(in orgInput, _ string) (any, *orgError) {
	if in.AccountID == "" {
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for AccountId.")
	}
	if !accountRE.MatchString(in.AccountID) {
		return nil, invalidInput("INVALID_PATTERN", "You specified an invalid value for AccountId.")
	}
	a, ok := s.account(in.AccountID)
	if !ok {
		return nil, notFound("AccountNotFoundException", "You specified an account that doesn't exist.")
	}
	return map[string]any{"Account": s.accountJSON(a)}, nil
}

// policyFilter validates Filter and says whether it selects SCPs, the
// only type the simulated organization has.
func policyFilter(filter string) (bool, *orgError) {
	switch {
	case filter == "":
		return false, invalidInput("INPUT_REQUIRED", "You must specify a value for Filter.")
	case !policyTypes[filter]:
		return false, invalidInput("INVALID_ENUM_POLICY_TYPE", "You specified an invalid value for Filter.")
	}
	return filter == scpType, nil
}

func (s *Simulator) listPolicies(in orgInput, op string) (any, *orgError) {
	scp, err := policyFilter(in.Filter)
	if err != nil {
		return nil, err
	}
	out := []policySummaryJSON{}
	if scp {
		for _, p := range s.org.ListPolicies() {
			out = append(out, s.policySummary(p))
		}
	}
	return s.page(in, op, in.Filter, out, "Policies")
}

func (s *Simulator) listPoliciesForTarget(in orgInput, op string) (any, *orgError) {
	if in.TargetID == "" {
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for TargetId.")
	}
	if !targetIDRE.MatchString(in.TargetID) {
		return nil, invalidInput("INVALID_PATTERN_TARGET_ID", "You specified an invalid value for TargetId.")
	}
	scp, err := policyFilter(in.Filter)
	if err != nil {
		return nil, err
	}
	if _, ok := s.org.Node(in.TargetID); !ok {
		return nil, notFound("TargetNotFoundException", "We can't find a root, OU, account, or policy with the TargetId that you specified.")
	}
	out := []policySummaryJSON{}
	if scp {
		for _, id := range s.org.PoliciesFor(in.TargetID) {
			p, _ := s.org.Policy(id)
			out = append(out, s.policySummary(p))
		}
	}
	return s.page(in, op, in.TargetID+"|"+in.Filter, out, "Policies")
}

// policy validates a PolicyId and finds it.
func (s *Simulator) policy(id string) (*orgmodel.Policy, *orgError) {
	if id == "" {
		return nil, invalidInput("INPUT_REQUIRED", "You must specify a value for PolicyId.")
	}
	if !policyIDRE.MatchString(id) {
		return nil, invalidInput("INVALID_SYNTAX_POLICY_ID", "You specified an invalid value for PolicyId.")
	}
	p, ok := s.org.Policy(id)
	if !ok {
		return nil, notFound("PolicyNotFoundException", "We can't find a policy with the PolicyId that you specified.")
	}
	return p, nil
}

func (s *Simulator) listTargetsForPolicy(in orgInput, op string) (any, *orgError) {
	if _, err := s.policy(in.PolicyID); err != nil {
		return nil, err
	}
	ids := s.org.TargetsFor(in.PolicyID)
	out := make([]targetJSON, len(ids))
	for i, id := range ids {
		n, _ := s.org.Node(id)
		kind := map[string]string{orgmodel.TypeRoot: "root", orgmodel.TypeOU: "ou", orgmodel.TypeAccount: "account"}[n.Type]
		out[i] = targetJSON{TargetID: id, Arn: s.orgARN(kind, id), Name: n.Name, Type: n.Type}
	}
	return s.page(in, op, in.PolicyID, out, "Targets")
}

func (s *Simulator) describePolicy(in orgInput, _ string) (any, *orgError) {
	p, err := s.policy(in.PolicyID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Policy": map[string]any{
		"PolicySummary": s.policySummary(p),
		"Content":       p.Text(),
	}}, nil
}

// paginate cuts items to the page in.NextToken and in.MaxResults select and
// returns {field: page, "NextToken": …}. scope ties a token to the call
// that issued it.
func paginate[T any](s *Simulator, in orgInput, op, scope string, items []T, field string) (any, *orgError) {
	size := orgMaxResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 {
			return nil, invalidInput("MIN_VALUE_EXCEEDED", "You specified a value for MaxResults that is lower than the minimum of 1.")
		}
		if *in.MaxResults > orgMaxResults {
			return nil, invalidInput("MAX_VALUE_EXCEEDED", "You specified a value for MaxResults that is higher than the maximum of 20.")
		}
		size = *in.MaxResults
	}
	start := 0
	if in.NextToken != nil {
		var ok bool
		start, ok = s.parseToken(*in.NextToken, op, scope)
		if !ok || start > len(items) {
			return nil, invalidInput("INVALID_NEXT_TOKEN", "You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.")
		}
	}
	end := min(start+size, len(items))
	out := map[string]any{field: items[start:end]}
	if end < len(items) {
		out["NextToken"] = s.makeToken(op, scope, end)
	}
	return out, nil
}

func (s *Simulator) page(in orgInput, op, scope string, items any, field string) (any, *orgError) {
	switch v := items.(type) {
	case []rootJSON:
		return paginate(s, in, op, scope, v, field)
	case []ouJSON:
		return paginate(s, in, op, scope, v, field)
	case []accountJSON:
		return paginate(s, in, op, scope, v, field)
	case []childJSON:
		return paginate(s, in, op, scope, v, field)
	case []policySummaryJSON:
		return paginate(s, in, op, scope, v, field)
	case []targetJSON:
		return paginate(s, in, op, scope, v, field)
	}
	return nil, &orgError{code: "ServiceException", message: "unpageable result"}
}

// makeToken returns an opaque NextToken: the offset, bound to the
// operation and its arguments, authenticated so a tampered token is
// refused.
func (s *Simulator) makeToken(op, scope string, offset int) string {
	payload := strconv.Itoa(offset) + "|" + op + "|" + scope
	mac := hmacSHA256(s.tokenKey, payload)
	return base64.RawURLEncoding.EncodeToString(append(mac[:16], strconv.Itoa(offset)...))
}

func (s *Simulator) parseToken(tok, op, scope string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) <= 16 {
		return 0, false
	}
	offset, err := strconv.Atoi(string(b[16:]))
	if err != nil || offset < 0 {
		return 0, false
	}
	want := hmacSHA256(s.tokenKey, strconv.Itoa(offset)+"|"+op+"|"+scope)
	return offset, hmac.Equal(b[:16], want[:16])
}
