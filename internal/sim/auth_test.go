package sim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/orgaudit/orgaudit/internal/sim"
)

// TestSignatureRefused sends each kind of bad authentication to each
// service through the real SDK clients.
func TestSignatureRefused(t *testing.T) {
	_, url := startSim(t, sim.Options{})
	ctx := testCtx(t)
	type call func(cfg aws.Config) error
	callSTS := func(cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}
	callOrg := func(cfg aws.Config) error {
		_, err := organizations.NewFromConfig(cfg).ListRoots(ctx, &organizations.ListRootsInput{})
		return err
	}
	callS3 := func(cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}
	callIAM := func(cfg aws.Config) error {
		_, err := iam.NewFromConfig(cfg).GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: aws.String("00000000-0000-4000-8000-000000000000")})
		return err
	}
	inRegion := func(cfg aws.Config, region string) aws.Config {
		cfg.Region = region
		return cfg
	}
	anonymous := awsConfig(url, "x", "x", "", false)
	anonymous.Credentials = aws.AnonymousCredentials{}
	tests := []struct {
		name   string
		cfg    aws.Config
		call   call
		code   string
		status int
	}{
		{"sts wrong secret", awsConfig(url, "test", "wrong", "", false), callSTS, "SignatureDoesNotMatch", 403},
		{"sts unknown key", awsConfig(url, "AKIAUNKNOWN", "test", "", false), callSTS, "InvalidClientTokenId", 403},
		{"sts no authentication", anonymous, callSTS, "MissingAuthenticationToken", 403},
		{"sts token on a long-term key", awsConfig(url, "test", "test", "bogus", false), callSTS, "InvalidClientTokenId", 403},
		{"organizations wrong secret", awsConfig(url, "test", "wrong", "", false), callOrg, "InvalidSignatureException", 400},
		{"organizations unknown key", awsConfig(url, "AKIAUNKNOWN", "test", "", false), callOrg, "UnrecognizedClientException", 400},
		{"organizations no authentication", anonymous, callOrg, "MissingAuthenticationTokenException", 400},
		{"s3 wrong secret", awsConfig(url, "test", "wrong", "", false), callS3, "SignatureDoesNotMatch", 403},
		{"s3 unknown key", awsConfig(url, "AKIAUNKNOWN", "test", "", false), callS3, "InvalidAccessKeyId", 403},
		{"s3 no authentication", anonymous, callS3, "AccessDenied", 403},
		{"s3 right key", awsConfig(url, "test", "test", "", false), callS3, "", 200},
		// Organizations and IAM are global: signed for us-east-1 or refused.
		{"organizations signed for another region", inRegion(awsConfig(url, "test", "test", "", false), "eu-west-1"), callOrg, "InvalidSignatureException", 400},
		{"iam signed for another region", inRegion(awsConfig(url, "test", "test", "", false), "eu-west-1"), callIAM, "SignatureDoesNotMatch", 403},
		{"iam wrong secret", awsConfig(url, "test", "wrong", "", false), callIAM, "SignatureDoesNotMatch", 403},
		{"iam right key", awsConfig(url, "test", "test", "", false), callIAM, "NoSuchEntity", 404},
		{"s3 in another region", inRegion(awsConfig(url, "test", "test", "", false), "eu-west-1"), callS3, "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, status := apiError(t, tc.call(tc.cfg))
			if code != tc.code || status != tc.status {
				t.Errorf("Got(%s) = %q %d; want %q %d", tc.name, code, status, tc.code, tc.status)
			}
		})
	}
}

// queryErr is the Query protocol's error document.
type queryErr struct {
	Code    string `xml:"Error>Code"`
	Message string `xml:"Error>Message"`
}

// signedSTS signs a GetCallerIdentity request at signTime with the SDK's
// signer and returns it, so a test can tamper with it before sending.
func signedSTS(t *testing.T, url, body string, signTime time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", signTime); err != nil {
		t.Fatalf("SignHTTP() = %v", err)
	}
	return req
}

func send(t *testing.T, req *http.Request) (int, queryErr) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Do() = %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var qe queryErr
	if resp.StatusCode != 200 {
		if err := xml.Unmarshal(b, &qe); err != nil {
			t.Fatalf("error body %q: %v", b, err)
		}
	}
	return resp.StatusCode, qe
}

func TestTamperedAndSkewedRequests(t *testing.T) {
	_, url := startSim(t, sim.Options{})
	const body = "Action=GetCallerIdentity&Version=2011-06-15"

	ok := signedSTS(t, url, body, time.Now())
	if status, qe := send(t, ok); status != 200 {
		t.Fatalf("Got(untampered request) = %d %s; want 200", status, qe.Code)
	}

	tampered := signedSTS(t, url, body, time.Now())
	tampered.Body = io.NopCloser(bytes.NewReader([]byte("Action=GetCallerIdentity&Version=2011-06-16")))
	if status, qe := send(t, tampered); status != 403 || qe.Code != "SignatureDoesNotMatch" {
		t.Errorf("Got(tampered body) = %d %q; want 403 %q", status, qe.Code, "SignatureDoesNotMatch")
	}

	header := signedSTS(t, url, body, time.Now())
	header.Header.Set("Content-Type", "text/plain")
	if status, qe := send(t, header); status != 403 || qe.Code != "SignatureDoesNotMatch" {
		t.Errorf("Got(tampered signed header) = %d %q; want 403 %q", status, qe.Code, "SignatureDoesNotMatch")
	}

	// A request from the past has expired; one from the future is not yet
	// current, as AWS words it.
	for skew, want := range map[time.Duration]*regexp.Regexp{
		-20 * time.Minute: regexp.MustCompile(`^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$`),
		20 * time.Minute:  regexp.MustCompile(`^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 15 min\.\)$`),
	} {
		old := signedSTS(t, url, body, time.Now().Add(skew))
		status, qe := send(t, old)
		if status != 403 || qe.Code != "SignatureDoesNotMatch" || !want.MatchString(qe.Message) {
			t.Errorf("Got(signed %v away) = %d %q %q; want 403 %q matching %s", skew, status, qe.Code, qe.Message, "SignatureDoesNotMatch", want)
		}
	}
	inSkew := signedSTS(t, url, body, time.Now().Add(-10*time.Minute))
	if status, qe := send(t, inSkew); status != 200 {
		t.Errorf("Got(signed 10 min ago) = %d %q; want 200", status, qe.Code)
	}
}

func TestExpiredSessionRefused(t *testing.T) {
	s, url := startSim(t, sim.Options{})
	ctx := testCtx(t)
	admin := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	roleARN := "arn:aws:iam::" + s.Org().ManagementAccountID + ":role/OrgAuditReport"
	out, err := admin.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("orgaudit"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("AssumeRole() = %v", err)
	}
	c := out.Credentials
	cfg := awsConfig(url, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), false)
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity() before expiry = %v", err)
	}
	wrongToken := awsConfig(url, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), "not-the-token", false)
	_, err = sts.NewFromConfig(wrongToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "InvalidClientTokenId" || status != 403 {
		t.Errorf("Got(wrong session token) = %q %d; want %q 403", code, status, "InvalidClientTokenId")
	}

	sim.SetClock(s, func() time.Time { return time.Now().Add(901 * time.Second) })
	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"sts", func() error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, "ExpiredToken", 403},
		{"organizations", func() error {
			_, err := organizations.NewFromConfig(cfg).ListRoots(ctx, &organizations.ListRootsInput{})
			return err
		}, "ExpiredTokenException", 400},
		{"s3", func() error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}, "ExpiredToken", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, status := apiError(t, tc.call())
			if code != tc.code || status != tc.status {
				t.Errorf("Got(expired session on %s) = %q %d; want %q %d", tc.name, code, status, tc.code, tc.status)
			}
		})
	}
}
