package sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/orgaudit/orgaudit/internal/sim"
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
