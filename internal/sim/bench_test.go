package sim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/orgaudit/orgaudit/internal/sim"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// BenchmarkGetCallerIdentity measures one signed Query round trip: SDK
// signing, HTTP, signature verification, the XML answer.
func BenchmarkGetCallerIdentity(b *testing.B) {
	org, err := testOrgB()
	if err != nil {
		b.Fatal(err)
	}
	_, url := startSimB(b, sim.Options{Org: org})
	client := sts.NewFromConfig(awsConfig(url, "test", "test", "", false))
	ctx := context.Background()
	for b.Loop() {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAccountsForParent measures full 20-account pages of the
// Organizations JSON protocol.
func BenchmarkListAccountsForParent(b *testing.B) {
	org, err := testOrgB()
	if err != nil {
		b.Fatal(err)
	}
	_, url := startSimB(b, sim.Options{Org: org})
	client := organizations.NewFromConfig(awsConfig(url, "test", "test", "", false))
	ctx := context.Background()
	in := &organizations.ListAccountsForParentInput{ParentId: aws.String(org.Root.ID)}
	for b.Loop() {
		if _, err := client.ListAccountsForParent(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportPagesServed measures the simulator's side of
// GetOrganizationsAccessReport over loopback: HTTP, SigV4 verification,
// routing, throttling checks and a 100-service XML page, for requests from
// two keep-alive connections. The client replays one request signed by the
// SDK's own signer (valid within the 15-minute skew), so the figure is the
// server's throughput, not the SDK's XML decoding, which costs more than the
// server on these two cores (see BenchmarkGetPage in iamreports).
func BenchmarkReportPagesServed(b *testing.B) {
	org, err := testOrgB()
	if err != nil {
		b.Fatal(err)
	}
	s, url := startSimB(b, sim.Options{Org: org, IAM: iamreports.Options{TimeScale: 0.001}})
	ctx := context.Background()
	client := iam.NewFromConfig(awsConfig(url, "test", "test", "", true))
	gen, err := client.GenerateOrganizationsAccessReport(ctx, &iam.GenerateOrganizationsAccessReportInput{EntityPath: aws.String(org.ID + "/" + org.Root.ID)})
	if err != nil {
		b.Fatal(err)
	}
	for {
		out, err := client.GetOrganizationsAccessReport(ctx, &iam.GetOrganizationsAccessReportInput{JobId: gen.JobId})
		if err != nil {
			b.Fatal(err)
		}
		if out.JobStatus != iamtypes.JobStatusTypeInProgress {
			break
		}
		time.Sleep(time.Millisecond)
	}
	body := "Action=GetOrganizationsAccessReport&Version=2010-05-08&MaxItems=100&JobId=" + *gen.JobId
	sum := sha256.Sum256([]byte(body))
	payloadHash := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "iam", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	header := req.Header.Clone()
	transport := &http.Transport{MaxIdleConnsPerHost: 4}
	b.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}
	before := s.IAM().Stats().GetCalls
	b.SetParallelism(1) // GOMAXPROCS connections: two on this machine
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
			r.Header = header.Clone()
			resp, err := hc.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n < 10000 {
				b.Errorf("status %d, %d bytes; want a 200 page of 100 services", resp.StatusCode, n)
				return
			}
		}
	})
	b.StopTimer()
	if served := s.IAM().Stats().GetCalls - before; served < b.N {
		b.Fatalf("the simulator served %d pages; want %d", served, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}
