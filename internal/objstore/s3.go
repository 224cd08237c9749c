package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of *s3.Client the S3 store uses. ListObjectsV2 has the
// SDK's exact signature so s3.NewListObjectsV2Paginator accepts it.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	s3.ListObjectsV2APIClient
}

var _ S3API = (*s3.Client)(nil)

type s3Store struct {
	client S3API
	bucket string
	prefix string
}

// NewS3 returns a Store that keeps objects in bucket under prefix.
func NewS3(client S3API, bucket, prefix string) Store {
	return &s3Store{client: client, bucket: bucket, prefix: joinPrefix(prefix)}
}

func (s *s3Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, _, err := s.GetVersion(ctx, key)
	return b, err
}

func (s *s3Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")) {
			return nil, "", fmt.Errorf("get %s: %w", s.Location(key), ErrNotFound)
		}
		return nil, "", fmt.Errorf("get %s: %w", s.Location(key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", s.Location(key), err)
	}
	return b, aws.ToString(out.ETag), nil
}

func (s *s3Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	_, err := s.put(ctx, key, body, contentType, nil, nil)
	return err
}

// PutIf writes with If-Match: version, or If-None-Match: * when version is
// empty. S3 answers 412 PreconditionFailed when the condition does not
// hold, and 409 ConditionalRequestConflict when another conditional write
// of the key is in flight: each is a lost race.
func (s *s3Store) PutIf(ctx context.Context, key string, body []byte, contentType, version string) (string, error) {
	if version == "" {
		return s.put(ctx, key, body, contentType, nil, aws.String("*"))
	}
	return s.put(ctx, key, body, contentType, aws.String(version), nil)
}

func (s *s3Store) put(ctx context.Context, key string, body []byte, contentType string, ifMatch, ifNoneMatch *string) (string, error) {
	in := &s3.PutObjectInput{
		IfMatch:       ifMatch,
		IfNoneMatch:   ifNoneMatch,
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		var api smithy.APIError
		// With If-Match, S3 answers NoSuchKey for an object deleted since.
		if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict" ||
			(ifMatch != nil && api.ErrorCode() == "NoSuchKey")) {
			return "", fmt.Errorf("put %s: %w (%s)", s.Location(key), ErrConflict, api.ErrorCode())
		}
		return "", fmt.Errorf("put %s: %w", s.Location(key), err)
	}
	return aws.ToString(out.ETag), nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]string, error) {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	var keys []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.Location(prefix), err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasPrefix(k, s.prefix) {
				keys = append(keys, strings.TrimPrefix(k, s.prefix))
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func (s *s3Store) Location(key string) string {
	return "s3://" + s.bucket + "/" + s.prefix + key
}
