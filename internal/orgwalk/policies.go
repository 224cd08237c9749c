package orgwalk

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/orgaudit/orgaudit/internal/policyset"
)

// DescribePolicies reads the content of each policy of ids, one
// organizations:DescribePolicy call per id (duplicates are described once),
// with the walk's retries and at most Workers calls in flight. The result
// is in the order of ids, without targets: policyset.New adds them from the
// attachments.
func (w *Walker) DescribePolicies(ctx context.Context, ids []string) ([]policyset.Policy, error) {
	seen := map[string]bool{}
	var distinct []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	return forEach(ctx, w.workers(), distinct, func(ctx context.Context, id string) ([]policyset.Policy, error) {
		var out *organizations.DescribePolicyOutput
		err := w.retry(ctx, "describe policy "+id, func() error {
			var err error
			out, err = w.API.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(id)})
			return err
		})
		if err != nil {
			return nil, err
		}
		if out.Policy == nil || out.Policy.PolicySummary == nil {
			return nil, fmt.Errorf("describe policy %s: the answer has no policy", id)
		}
		s := out.Policy.PolicySummary
		return []policyset.Policy{{
			ID:          aws.ToString(s.Id),
			Name:        aws.ToString(s.Name),
			Description: aws.ToString(s.Description),
			AWSManaged:  s.AwsManaged,
			Content:     aws.ToString(out.Policy.Content),
		}}, nil
	})
}
