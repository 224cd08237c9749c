package config_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// requestLog collects the simulator's one record per request.
type requestLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *requestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns the records logged so far and forgets them.
func (l *requestLog) take(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(&l.b)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("simulator log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	l.b.Reset()
	return out
}

// TestClientsSignAsAWSVerifies: the clients the functions and the CLI
// build (NewClients) sign every call so that the simulator, which checks
// SigV4 as AWS does, accepts it: from a non-global region, Organizations
// and IAM are signed for us-east-1 and act as the report role's session
// when one is configured, S3 as the caller. The same clients given a
// wrong secret are refused by every service, so the acceptance is the
// signature's doing and not the simulator's leniency.
func TestClientsSignAsAWSVerifies(t *testing.T) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 2, Accounts: 3, Depth: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var reqs requestLog
	// Each case generates a report as another caller while the last case's
	// job may still run: room for all of them at once.
	s, err := sim.New(sim.Options{Org: org, Buckets: []string{"audit"}, IAM: iamreports.Options{MaxJobs: 10},
		Logger: slog.New(slog.NewJSONHandler(&reqs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	user := "arn:aws:iam::" + org.ManagementAccountID + ":user/" + sim.DefaultUserName
	role := "arn:aws:iam::" + org.ManagementAccountID + ":role/OrgAuditReport"
	session := "arn:aws:sts::" + org.ManagementAccountID + ":assumed-role/OrgAuditReport/orgaudit"
	tests := []struct {
		name, roleARN, secret string
		// want: per signing name, the caller the simulator saw or the
		// error code it answered.
		caller, refused map[string]string
	}{
		{"caller's credentials", "", sim.DefaultSecretAccessKey,
			map[string]string{"organizations": user, "iam": user, "s3": user}, nil},
		{"report role", role, sim.DefaultSecretAccessKey,
			map[string]string{"sts": user, "organizations": session, "iam": session, "s3": user}, nil},
		{"wrong secret", "", "wrong-secret", nil,
			map[string]string{"organizations": "InvalidSignatureException", "iam": "SignatureDoesNotMatch", "s3": "SignatureDoesNotMatch"}},
		{"wrong secret for the role", role, "wrong-secret", nil,
			// AssumeRole is refused, so Organizations and IAM get no
			// credentials: the error is STS's.
			map[string]string{"organizations": "SignatureDoesNotMatch", "iam": "SignatureDoesNotMatch", "s3": "SignatureDoesNotMatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsCfg := aws.Config{
				Region:       "eu-west-1",
				Credentials:  credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, tt.secret, ""),
				BaseEndpoint: aws.String(srv.URL),
				Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
			}
			cfg := config.Default()
			cfg.ReportRoleARN = tt.roleARN
			orgs, iamc, s3c := config.NewClients(ctx, awsCfg, cfg)
			reqs.take(t)
			_, orgErr := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
			_, iamErr := iamc.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{
				EntityPath: aws.String(org.ID + "/" + org.Root.ID)})
			_, s3Err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String("orgaudit/probe"),
				Body: strings.NewReader("{}")}, func(o *s3.Options) { o.UsePathStyle = true })
			errs := map[string]error{"organizations": orgErr, "iam": iamErr, "s3": s3Err}
			for svc, err := range errs {
				want, refused := tt.refused[svc]
				var ae smithy.APIError
				switch {
				case !refused && err != nil:
					t.Errorf("Got(%s call) error %v; want it accepted", svc, err)
				case refused && (!errors.As(err, &ae) || ae.ErrorCode() != want):
					t.Errorf("Got(%s call) error %v; want %s", svc, err, want)
				}
			}
			seen := map[string]bool{}
			for _, rec := range reqs.take(t) {
				svc, _ := rec["service"].(string)
				if tt.caller == nil {
					if rec["caller"] != "" {
						t.Errorf("Got(%s %v accepted from %v); want every request refused", svc, rec["op"], rec["caller"])
					}
					continue
				}
				seen[svc] = true
				if want := tt.caller[svc]; rec["caller"] != want || rec["status"] != float64(200) {
					t.Errorf("Got(%s %v) = %v from %v; want 200 from %s", svc, rec["op"], rec["status"], rec["caller"], want)
				}
			}
			for svc := range tt.caller {
				if !seen[svc] {
					t.Errorf("Got(no %s request); want one signed by %s", svc, tt.caller[svc])
				}
			}
		})
	}
}
