package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orgaudit/orgaudit/internal/motoserver"
)

// startMoto runs moto_server on a free loopback port until the test ends
// and returns its URL (see package motoserver).
func startMoto(t *testing.T) string {
	t.Helper()
	return motoserver.Start(t)
}

// recorder passes calls to the real client and records how they were made.
type recorder struct {
	*sns.Client
	calls []string // "Publish" or "PublishBatch:<entries>"
}

func (r *recorder) Publish(ctx context.Context, in *sns.PublishInput, opt ...func(*sns.Options)) (*sns.PublishOutput, error) {
	r.calls = append(r.calls, "Publish")
	return r.Client.Publish(ctx, in, opt...)
}

func (r *recorder) PublishBatch(ctx context.Context, in *sns.PublishBatchInput, opt ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	r.calls = append(r.calls, fmt.Sprintf("PublishBatch:%d", len(in.PublishBatchRequestEntries)))
	return r.Client.PublishBatch(ctx, in, opt...)
}

// topicWithQueue creates a topic and an SQS queue subscribed to it.
func topicWithQueue(t *testing.T, ctx context.Context, snsc *sns.Client, sqsc *sqs.Client, name string) (topicARN, queueURL string) {
	t.Helper()
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue attributes: %v", err)
	}
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
	})
	if err != nil {
		t.Fatalf("subscribe queue: %v", err)
	}
	return aws.ToString(topic.TopicArn), aws.ToString(q.QueueUrl)
}

// receive drains want messages from the queue, or fails after a while.
func receive(t *testing.T, ctx context.Context, sqsc *sqs.Client, queueURL string, want int) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(20 * time.Second)
	for len(bodies) < want && time.Now().Before(deadline) {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
	}
	if len(bodies) != want {
		t.Fatalf("Got(messages on the queue) = %d; want %d", len(bodies), want)
	}
	// Nothing more may arrive.
	out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("Got(extra messages on the queue) = %d; want 0", len(out.Messages))
	}
	return bodies
}
