package iamreports_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/iamreports"
)

// BenchmarkGetPage reads the pages of a completed root report (every
// catalog service), following markers, over loopback with the SDK client, at
// several page sizes; req/s is the figure to watch. Client and server
// share the machine, and the SDK's XML decoding costs more than serving.
func BenchmarkGetPage(b *testing.B) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 200, Accounts: 2000, Depth: 4, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, org, iamreports.Options{TimeScale: 0.001})
	c := e.client("admin")
	id := generate(b, c, org.Entities()[0].Path, "")
	wait(b, c, id)
	page := func(b *testing.B, in *iam.GetOrganizationsAccessReportInput) {
		out, err := c.GetOrganizationsAccessReport(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		in.Marker = out.Marker // nil after the last page: start over
	}
	for _, max := range []int32{10, 100, 1000} {
		b.Run(fmt.Sprintf("MaxItems=%d", max), func(b *testing.B) {
			in := &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), MaxItems: aws.Int32(max)}
			for b.Loop() {
				page(b, in)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
		b.Run(fmt.Sprintf("MaxItems=%d/parallel", max), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				in := &iam.GetOrganizationsAccessReportInput{JobId: aws.String(id), MaxItems: aws.Int32(max)}
				for pb.Next() {
					page(b, in)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkServePage is the server's share of BenchmarkGetPage: one
// 100-item page handled in process, without network or SDK.
func BenchmarkServePage(b *testing.B) {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 200, Accounts: 2000, Depth: 4, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, org, iamreports.Options{TimeScale: 0.001})
	c := e.client("admin")
	id := generate(b, c, org.Entities()[0].Path, "")
	wait(b, c, id)
	h := withCaller(e.svc, org.ManagementAccountID)
	body := "Action=GetOrganizationsAccessReport&Version=2010-05-08&MaxItems=100&JobId=" + id
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=admin/20261102/us-east-1/iam/aws4_request")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("Got(status) = %d; want 200: %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
