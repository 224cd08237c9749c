package config

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// GlobalRegion is where the global services Organizations, IAM (and the STS
// call for the report role) are signed.
const GlobalRegion = "us-east-1"

// NewClients builds the clients of the pipeline from the caller's AWS
// configuration (config.LoadDefaultConfig in the functions and the CLI, so
// AWS_ENDPOINT_URL and friends apply). Organizations and IAM act as the
// report principal: the role ReportRoleARN with the fixed session name
// ReportRoleSession when set, else the caller, and do not retry on their
// own (packages orgwalk and accessreport do). S3 keeps the caller's own
// credentials and region: the bucket belongs to the deployment, not to the
// report role.
func NewClients(ctx context.Context, awsCfg aws.Config, c Config) (*organizations.Client, *iam.Client, *s3.Client) {
	global := awsCfg.Copy()
	global.Region = GlobalRegion
	if c.ReportRoleARN != "" {
		stsClient := sts.NewFromConfig(global)
		global.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, c.ReportRoleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = c.ReportRoleSession }))
	}
	// The pipeline retries Organizations and IAM calls itself, with a
	// backoff that knows about 409s and counts throttling for the
	// progress display; SDK retries underneath would hide both.
	orgs := organizations.NewFromConfig(global, func(o *organizations.Options) { o.Retryer = aws.NopRetryer{} })
	iamClient := iam.NewFromConfig(global, func(o *iam.Options) { o.Retryer = aws.NopRetryer{} })
	s3Client := s3.NewFromConfig(awsCfg)
	return orgs, iamClient, s3Client
}
