package sim_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/orgaudit/orgaudit/internal/sim"
)

// TestS3ConditionalWrites: PutObject with If-None-Match: * creates only,
// with If-Match only over the ETag given; otherwise S3 answers 412
// PreconditionFailed and keeps the object.
func TestS3ConditionalWrites(t *testing.T) {
	_, url := startSim(t, sim.Options{Buckets: []string{"reports"}})
	ctx := testCtx(t)
	client := s3.NewFromConfig(awsConfig(url, "test", "test", "", false), func(o *s3.Options) { o.UsePathStyle = true })
	key := aws.String("orgaudit/runs/r1/manifest.json")
	put := func(body string, ifMatch, ifNoneMatch *string) (*s3.PutObjectOutput, error) {
		return client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: key, Body: strings.NewReader(body), IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
	}
	precondition := func(what string, err error) {
		t.Helper()
		var api smithy.APIError
		var resp *awshttp.ResponseError
		if !errors.As(err, &api) || api.ErrorCode() != "PreconditionFailed" || !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusPreconditionFailed {
			t.Errorf("Got(%s) error = %v; want 412 PreconditionFailed", what, err)
		}
	}

	first, err := put("m1", nil, aws.String("*"))
	if err != nil {
		t.Fatalf("PutObject(If-None-Match *) of a new key = %v", err)
	}
	_, err = put("m1 again", nil, aws.String("*"))
	precondition("PutObject(If-None-Match *) of an existing key", err)

	second, err := put("m2", first.ETag, nil)
	if err != nil {
		t.Fatalf("PutObject(If-Match current ETag) = %v", err)
	}
	if aws.ToString(second.ETag) == aws.ToString(first.ETag) {
		t.Errorf("Got(ETag after a change) = %s; want a new one", aws.ToString(second.ETag))
	}
	_, err = put("stale", first.ETag, nil)
	precondition("PutObject(If-Match stale ETag)", err)

	get, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if aws.ToString(get.ETag) != aws.ToString(second.ETag) || aws.ToInt64(get.ContentLength) != 2 {
		t.Errorf("Got(GetObject) ETag %s, %d bytes; want %s, m2 kept", aws.ToString(get.ETag), aws.ToInt64(get.ContentLength), aws.ToString(second.ETag))
	}
}
