package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"golang.org/x/term"

	"github.com/orgaudit/orgaudit/internal/backoff"
	"github.com/orgaudit/orgaudit/internal/config"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/runinput"
)

// userError is a mistake the user can fix; its text says how, in one line.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func userErrorf(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...)}
}

func loadAWSConfig(ctx context.Context, profile, region string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	// The SDK's own notes while it looks for credentials (an instance
	// metadata service that is not there) are not the user's business: a
	// missing credential is said in one line by explainCredentials.
	opts = append(opts, awsconfig.WithLogger(logging.Nop{}))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var missing awsconfig.SharedConfigProfileNotExistError
		if errors.As(err, &missing) {
			return cfg, userErrorf("profile %q is not in your AWS config: list profiles with `aws configure list-profiles`", profile)
		}
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// Organizations and IAM are global services signed for us-east-1.
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// awsClients are the clients of one run: Organizations and IAM as the
// report principal, S3 and STS with the caller's own credentials.
type awsClients struct {
	Organizations *organizations.Client
	IAM           *iam.Client
	S3            *s3.Client
	STS           *sts.Client
}

func newClients(ctx context.Context, awsCfg aws.Config, cfg config.Config) awsClients {
	orgs, iamClient, s3Client := config.NewClients(ctx, awsCfg, cfg)
	global := awsCfg.Copy()
	global.Region = config.GlobalRegion
	return awsClients{Organizations: orgs, IAM: iamClient, S3: s3Client, STS: sts.NewFromConfig(global)}
}

// preflight turns the mistakes users make into one line each before any
// work starts: no credentials, not the management account, SCPs not
// enabled, a bucket that does not exist.
func preflight(ctx context.Context, c awsClients, cfg config.Config) error {
	who, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return explainCredentials(err)
	}
	account := aws.ToString(who.Account)
	if cfg.ReportRoleARN != "" {
		if a, err := arn.Parse(cfg.ReportRoleARN); err == nil {
			account = a.AccountID
		}
	}
	// The pipeline's clients leave retrying to the pipeline, so the checks
	// here retry throttling and transient errors themselves.
	var org *organizations.DescribeOrganizationOutput
	err = backoff.Retry(ctx, backoff.Default, 6, func() (err error) {
		org, err = c.Organizations.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		return err
	})
	if err != nil {
		var notInUse *orgtypes.AWSOrganizationsNotInUseException
		var denied *orgtypes.AccessDeniedException
		switch {
		case errors.As(err, &notInUse):
			return userErrorf("account %s is not in an AWS Organization: orgaudit audits an organization from its management account", account)
		case errors.As(err, &denied):
			return userErrorf("%s may not read the organization (organizations:DescribeOrganization denied): use the management account's credentials or --role-arn to a role there", aws.ToString(who.Arn))
		}
		return explainCredentials(err)
	}
	if mgmt := aws.ToString(org.Organization.MasterAccountId); mgmt != account {
		return userErrorf("account %s is not the management account of %s (%s): IAM generates Organizations access reports only there; use its credentials or --role-arn to a role in it",
			account, aws.ToString(org.Organization.Id), mgmt)
	}
	var roots *organizations.ListRootsOutput
	err = backoff.Retry(ctx, backoff.Default, 6, func() (err error) {
		roots, err = c.Organizations.ListRoots(ctx, &organizations.ListRootsInput{})
		return err
	})
	if err != nil {
		return fmt.Errorf("list roots: %w", err)
	}
	for _, r := range roots.Roots {
		if !scpEnabled(r) {
			return userErrorf("service control policies are not enabled on root %s: enable them with `aws organizations enable-policy-type --root-id %s --policy-type SERVICE_CONTROL_POLICY`",
				aws.ToString(r.Id), aws.ToString(r.Id))
		}
	}
	if cfg.Bucket != "" {
		return checkBucket(ctx, c.S3, cfg.Bucket, aws.ToString(who.Arn))
	}
	return nil
}

// checkBucket says in one line what is wrong with a bucket before anything
// is read from or written to it. who is the caller's ARN, or "".
func checkBucket(ctx context.Context, client *s3.Client, bucket, who string) error {
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchBucket", "404":
			return userErrorf("bucket %q does not exist: check --bucket (or %s), or deploy the stack and use its BucketName output", bucket, config.EnvBucket)
		case "Forbidden", "AccessDenied", "403":
			if who == "" {
				who = "your credentials"
			}
			return userErrorf("no access to bucket %q: allow s3:ListBucket, s3:GetObject and s3:PutObject on it for %s (or check --profile and --region)", bucket, who)
		}
	}
	if e := explainCredentials(err); e != err {
		return e
	}
	return fmt.Errorf("check bucket %q: %w", bucket, err)
}

func scpEnabled(r orgtypes.Root) bool {
	for _, t := range r.PolicyTypes {
		if t.Type == orgtypes.PolicyTypeServiceControlPolicy && t.Status == orgtypes.PolicyTypeStatusEnabled {
			return true
		}
	}
	return false
}

func explainCredentials(err error) error {
	var api smithy.APIError
	switch {
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS role found"):
		return userErrorf("no AWS credentials found: use --profile NAME, set AWS_PROFILE, or run `aws configure` / `aws sso login`")
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException":
			return userErrorf("AWS refused the credentials (%s): check the access key and secret of the profile you use", api.ErrorCode())
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return userErrorf("the AWS credentials have expired: refresh them (for example `aws sso login`) and run again")
		case "AccessDenied":
			return userErrorf("cannot assume the report role: %s", api.ErrorMessage())
		}
	}
	return err
}

// explain shortens errors from the run into one line saying what to do.
func explain(err error, in runFlags) string {
	var ue *userError
	if errors.As(err, &ue) {
		return ue.msg
	}
	var bad *runinput.InvalidInput
	if errors.As(err, &bad) {
		return inputError(bad)
	}
	if errors.Is(err, objstore.ErrConflict) {
		return fmt.Sprintf("%v\nAnother process (a second orgaudit run, or the deployed pipeline) is writing the same run; this one stopped without overwriting its progress. Let the other finish, or use another --run-id.", err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "Forbidden":
			if in.bucket != "" && strings.Contains(err.Error(), "S3") {
				return fmt.Sprintf("cannot write to bucket %q (access denied): allow s3:PutObject and s3:GetObject on it", in.bucket)
			}
			return fmt.Sprintf("access denied: %s", api.ErrorMessage())
		case "NoSuchBucket":
			return fmt.Sprintf("bucket %q does not exist", in.bucket)
		}
		return explainCredentials(err).Error()
	}
	return err.Error()
}

// isTerminal reports whether w is a terminal, and its width.
func isTerminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	return true, width
}
