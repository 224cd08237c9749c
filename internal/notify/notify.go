// Package notify tells an SNS topic when a run finds services newly used:
// one message per root or OU whose report lists services used within the
// unused threshold now and not in the previous run (never accessed, accessed
// longer ago, or not listed), the newlyAccessed services of the summary's
// changes. It is off unless the deployment sets a topic
// (ORGAUDIT_NOTIFY_TOPIC_ARN).
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

// EnvTopicARN names the Store function's environment variable holding the
// topic; empty or unset turns notifications off.
const EnvTopicARN = "ORGAUDIT_NOTIFY_TOPIC_ARN"

// Publisher is the part of *sns.Client that FirstUse calls.
type Publisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
	PublishBatch(ctx context.Context, params *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

var _ Publisher = (*sns.Client)(nil)

// SNS limits: ten entries per PublishBatch, 256 KiB for a message and for a
// whole batch (message bodies, subjects and attributes together), a subject
// of printable ASCII "less than 100 characters long".
const (
	maxBatchEntries = 10
	maxPayloadBytes = 256 * 1024
	maxSubjectChars = 99
)

// Message is the JSON body of a first-use notification.
type Message struct {
	RunID          string `json:"runId"`
	PreviousRunID  string `json:"previousRunId"`
	OrganizationID string `json:"organizationId"`
	// UnusedDays is the threshold: a service is newly used when it was not
	// used within this many days in the previous run and is now.
	UnusedDays int              `json:"unusedDays"`
	Entity     reportdoc.Entity `json:"entity"`
	Services   []Service        `json:"services"`
}

// Service is one newly used service. LastAuthenticated is null when the
// caller gave no Details.
type Service struct {
	Namespace         string          `json:"namespace"`
	Name              string          `json:"name"`
	LastAuthenticated *reportdoc.Time `json:"lastAuthenticated"`
}

// Details supplies what a Changes section does not carry: the entity's name
// and type, and when each service was last accessed.
type Details interface {
	// Entity returns the entity of the run's report on id without a policy.
	Entity(id string) (reportdoc.Entity, bool)
	// LastAuthenticated returns the last access to namespace in that report.
	LastAuthenticated(id, namespace string) *reportdoc.Time
}

// FirstUse publishes one message per root or OU of changes with newly
// accessed services, ordered by entity path, and returns how many it
// published. Account reports are left out (their OU's message covers them,
// and an organization may have thousands), and so are per-policy reports
// (the entity's own report says the same). An empty topicARN or nil changes
// publish nothing. Entity names are empty and last access times null; use
// FirstUseWith to fill them.
func FirstUse(ctx context.Context, pub Publisher, topicARN string, runID, orgID string, changes *reportdoc.Changes) (int, error) {
	return FirstUseWith(ctx, pub, topicARN, runID, orgID, changes, nil)
}

// FirstUseWith is FirstUse with the entities' names and the services' last
// access times taken from d (nil for none).
func FirstUseWith(ctx context.Context, pub Publisher, topicARN string, runID, orgID string, changes *reportdoc.Changes, d Details) (int, error) {
	if topicARN == "" || changes == nil {
		return 0, nil
	}
	msgs := Messages(runID, orgID, changes, d)
	entries := make([]types.PublishBatchRequestEntry, 0, len(msgs))
	for i, m := range msgs {
		e, err := entry(i, m)
		if err != nil {
			return 0, err
		}
		entries = append(entries, e)
	}
	// SNS only takes a topic's messages in the topic's own region.
	var opts []func(*sns.Options)
	if r := regionOf(topicARN); r != "" {
		opts = append(opts, func(o *sns.Options) { o.Region = r })
	}
	switch len(entries) {
	case 0:
		return 0, nil
	case 1:
		e := entries[0]
		_, err := pub.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(topicARN), Subject: e.Subject, Message: e.Message, MessageAttributes: e.MessageAttributes,
		}, opts...)
		if err != nil {
			return 0, fmt.Errorf("publish first-use notification for %s: %w", msgs[0].Entity.Path, err)
		}
		return 1, nil
	}
	sent := 0
	for _, batch := range batches(entries) {
		out, err := pub.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(topicARN), PublishBatchRequestEntries: batch}, opts...)
		if err != nil {
			return sent, fmt.Errorf("publish first-use notifications (%d of %d sent): %w", sent, len(entries), err)
		}
		sent += len(out.Successful)
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return sent, fmt.Errorf("publish first-use notifications (%d of %d sent): %d refused, first %s: %s: %s",
				sent, len(entries), len(out.Failed), aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return sent, nil
}

// Messages builds the notifications FirstUseWith publishes, in its order.
func Messages(runID, orgID string, changes *reportdoc.Changes, d Details) []Message {
	if changes == nil {
		return nil
	}
	var out []Message
	for _, ec := range changes.Entities {
		if ec.PolicyID != nil || len(ec.NewlyAccessed) == 0 {
			continue
		}
		ent := reportdoc.Entity{ID: ec.EntityID, Type: reportdoc.EntityTypeOf(ec.EntityID), Path: ec.Path}
		if d != nil {
			if e, ok := d.Entity(ec.EntityID); ok {
				ent = e
			}
		}
		if ent.Type != reportdoc.TypeRoot && ent.Type != reportdoc.TypeOU {
			continue
		}
		m := Message{RunID: runID, PreviousRunID: changes.PreviousRunID, OrganizationID: orgID,
			UnusedDays: changes.UnusedDays, Entity: ent, Services: make([]Service, 0, len(ec.NewlyAccessed))}
		for _, ns := range slices.Sorted(slices.Values(ec.NewlyAccessed)) {
			s := Service{Namespace: ns, Name: ns}
			if c, ok := catalog.Lookup(ns); ok {
				s.Name = c.Name
			}
			if d != nil {
				s.LastAuthenticated = d.LastAuthenticated(ec.EntityID, ns)
			}
			m.Services = append(m.Services, s)
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b Message) int {
		if c := strings.Compare(a.Entity.Path, b.Entity.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Entity.ID, b.Entity.ID)
	})
	return out
}

// regionOf returns the region of an SNS topic ARN
// (arn:<partition>:sns:<region>:<account>:<name>), or "" when it has none.
func regionOf(topicARN string) string {
	parts := strings.SplitN(topicARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" {
		return ""
	}
	return parts[3]
}

// entry encodes message i as a batch entry; Publish takes the same fields.
func entry(i int, m Message) (types.PublishBatchRequestEntry, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return types.PublishBatchRequestEntry{}, fmt.Errorf("encode first-use notification for %s: %w", m.Entity.Path, err)
	}
	if len(body) > maxPayloadBytes-1024 {
		return types.PublishBatchRequestEntry{}, fmt.Errorf("first-use notification for %s is %d bytes; SNS takes %d", m.Entity.Path, len(body), maxPayloadBytes)
	}
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	// Attributes let a subscription filter, e.g. on one OU or on the root.
	attrs := map[string]types.MessageAttributeValue{
		"entityType":     str(m.Entity.Type),
		"entityId":       str(m.Entity.ID),
		"organizationId": str(m.OrganizationID),
		"serviceCount": {DataType: aws.String("Number"),
			StringValue: aws.String(strconv.Itoa(len(m.Services)))},
	}
	return types.PublishBatchRequestEntry{
		Id:                aws.String("m" + strconv.Itoa(i)),
		Subject:           aws.String(subject(m)),
		Message:           aws.String(string(body)),
		MessageAttributes: attrs,
	}, nil
}

// subject is a one-line summary within SNS's rules: printable ASCII, at
// most 99 characters. Entity names are untrusted text, so anything else
// becomes "?".
func subject(m Message) string {
	who := m.Entity.Name
	if who == "" {
		who = m.Entity.ID
	}
	noun := "services"
	if len(m.Services) == 1 {
		noun = "service"
	}
	s := fmt.Sprintf("orgaudit: %d %s newly used in %s", len(m.Services), noun, who)
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	s = string(b)
	if len(s) > maxSubjectChars {
		s = s[:maxSubjectChars-3] + "..."
	}
	return s
}

// size is what an entry counts towards the batch limit.
func size(e types.PublishBatchRequestEntry) int {
	n := len(aws.ToString(e.Message)) + len(aws.ToString(e.Subject))
	for k, v := range e.MessageAttributes {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
	}
	return n
}

// batches splits entries into PublishBatch requests of at most ten entries
// and 256 KiB each, keeping their order.
func batches(entries []types.PublishBatchRequestEntry) [][]types.PublishBatchRequestEntry {
	var out [][]types.PublishBatchRequestEntry
	var cur []types.PublishBatchRequestEntry
	bytes := 0
	for _, e := range entries {
		n := size(e)
		if len(cur) == maxBatchEntries || (len(cur) > 0 && bytes+n > maxPayloadBytes) {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, e)
		bytes += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// entriesDetails answers Details from a run's findings entries.
type entriesDetails struct {
	entities map[string]findings.Entry
}

// FromEntries returns Details backed by a run's findings entries (the
// pipeline's manifest.FindingsEntries()): names and types from the entries,
// last access times from their digests, to the second.
func FromEntries(entries []findings.Entry) Details {
	d := entriesDetails{entities: make(map[string]findings.Entry, len(entries))}
	for _, e := range entries {
		if e.PolicyID == "" {
			d.entities[e.Entity.ID] = e
		}
	}
	return d
}

func (d entriesDetails) Entity(id string) (reportdoc.Entity, bool) {
	e, ok := d.entities[id]
	return e.Entity, ok
}

func (d entriesDetails) LastAuthenticated(id, namespace string) *reportdoc.Time {
	e, ok := d.entities[id]
	if !ok || e.Digest == nil {
		return nil
	}
	accessed, err := e.Digest.AccessedServices()
	if err != nil {
		return nil
	}
	i, found := slices.BinarySearchFunc(accessed, namespace, func(s findings.ServiceAge, ns string) int {
		return strings.Compare(s.Namespace, ns)
	})
	if !found {
		return nil
	}
	return reportdoc.NewTime(time.Unix(e.Digest.AsOf-accessed[i].Ago, 0))
}

// Topic publishes a run's first-use notifications to one SNS topic; it is
// the pipeline's Notifier when the topic is configured.
type Topic struct {
	Publisher Publisher
	ARN       string
}

// FirstUse sends one message per root or OU with newly used services.
func (t Topic) FirstUse(ctx context.Context, runID, orgID string, changes *reportdoc.Changes, entries []findings.Entry) (int, error) {
	return FirstUseWith(ctx, t.Publisher, t.ARN, runID, orgID, changes, FromEntries(entries))
}
