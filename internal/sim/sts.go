package sim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// STS answers AssumeRole and GetCallerIdentity (Query protocol).

const (
	minSessionSeconds     = 900
	maxSessionSeconds     = 43200
	defaultSessionSeconds = 3600
	// chainedSessionSeconds bounds a role session that assumes a role.
	chainedSessionSeconds = 3600
)

var (
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func (s *Simulator) serveSTS(w http.ResponseWriter, r *http.Request, x *exchange) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := url.ParseQuery(string(x.body))
		if err != nil {
			wire.WriteQueryError(w, r, wire.STSNamespace, http.StatusBadRequest, "MalformedQueryString", "the request body is not a valid form")
			return
		}
		for k, v := range body {
			params[k] = append(params[k], v...)
		}
	}
	caller, _ := wire.CallerFrom(r.Context())
	switch action := params.Get("Action"); action {
	case "GetCallerIdentity":
		wire.WriteQueryResult(w, r, wire.STSNamespace, action, callerIdentityResult{
			UserID: caller.UserID, Account: caller.Account, Arn: caller.ARN,
		})
	case "AssumeRole":
		s.assumeRole(w, r, caller, params)
	case "":
		wire.WriteQueryError(w, r, wire.STSNamespace, http.StatusBadRequest, "MissingAction", "Missing Action")
	default:
		wire.WriteQueryError(w, r, wire.STSNamespace, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2011-06-15")
	}
}

type callerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	UserID  string   `xml:"UserId"`
	Account string   `xml:"Account"`
	Arn     string   `xml:"Arn"`
}

type assumeRoleResult struct {
	XMLName     xml.Name `xml:"AssumeRoleResult"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
}

func validationError(field, value, constraint string) string {
	v := "null"
	if value != "" {
		v = "'" + value + "'"
	}
	return "1 validation error detected: Value " + v + " at '" + field + "' failed to satisfy constraint: " + constraint
}

func (s *Simulator) assumeRole(w http.ResponseWriter, r *http.Request, caller wire.Caller, params url.Values) {
	invalid := func(msg string) {
		wire.WriteQueryError(w, r, wire.STSNamespace, http.StatusBadRequest, "ValidationError", msg)
	}
	roleARN, session := params.Get("RoleArn"), params.Get("RoleSessionName")
	switch {
	case roleARN == "":
		invalid(validationError("roleArn", "", "Member must not be null"))
		return
	case len(roleARN) < 20 || len(roleARN) > 2048:
		invalid(validationError("roleArn", roleARN, "Member must have length between 20 and 2048"))
		return
	case session == "":
		invalid(validationError("roleSessionName", "", "Member must not be null"))
		return
	case !sessionNameRE.MatchString(session):
		invalid(validationError("roleSessionName", session, `Member must satisfy regular expression pattern: [\w+=,.@-]* and have length between 2 and 64`))
		return
	}
	duration := defaultSessionSeconds
	if d := params.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < minSessionSeconds || n > maxSessionSeconds {
			invalid(validationError("durationSeconds", d, "Member must have value between 900 and 43200"))
			return
		}
		duration = n
	}
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		invalid(roleARN + " is invalid")
		return
	}
	acct, roleName := m[1], m[2]
	n, member := s.org.Node(acct)
	allowed := member && n.Type == orgmodel.TypeAccount &&
		(caller.Account == s.org.ManagementAccountID || caller.Account == acct)
	if !allowed {
		wire.WriteQueryError(w, r, wire.STSNamespace, http.StatusForbidden, "AccessDenied",
			"User: "+caller.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
		return
	}
	if strings.HasPrefix(caller.ARN, "arn:aws:sts::") && duration > chainedSessionSeconds {
		invalid("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
		return
	}
	roleID := "AROA" + stableID("arn:aws:iam::"+acct+":role/"+roleName, 17)
	sessionCaller := wire.Caller{
		Account: acct,
		ARN:     "arn:aws:sts::" + acct + ":assumed-role/" + roleName + "/" + session,
		UserID:  roleID + ":" + session,
	}
	expires := s.now().Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second)
	p := s.creds.issue(sessionCaller, expires)
	var res assumeRoleResult
	res.Credentials.AccessKeyID = p.caller.AccessKeyID
	res.Credentials.SecretAccessKey = p.secret
	res.Credentials.SessionToken = p.token
	res.Credentials.Expiration = expires.Format(time.RFC3339)
	res.AssumedRoleUser.AssumedRoleID = sessionCaller.UserID
	res.AssumedRoleUser.Arn = sessionCaller.ARN
	wire.WriteQueryResult(w, r, wire.STSNamespace, "AssumeRole", res)
}
