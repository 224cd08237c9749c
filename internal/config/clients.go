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
// ReportRoleSession when set, else the caller. S3 keeps the caller's own
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
	orgs := organizations.NewFromConfig(global)
	iamClient := iam.NewFromConfig(global)
	s3Client := s3.NewFromConfig(awsCfg)
	return orgs, iamClient, s3Client
}
