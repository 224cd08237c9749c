package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orgaudit/orgaudit/internal/findings"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
)

const (
	orgID   = "o-exampleorg1"
	rootID  = "r-ab12"
	salesID = "ou-ab12-11111111"
	engID   = "ou-ab12-22222222"
	acctID  = "111122223333"
	policy  = "p-examplepolicy1"
	days    = 90
)

var (
	prevAsOf = time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	nowAsOf  = time.Date(2026, 11, 24, 3, 10, 0, 0, time.UTC)
)

// used maps a namespace to how long before the report's as-of instant it
// was last accessed; listed services missing from it were never accessed.
type used map[string]time.Duration

var listed = []string{"ec2", "lambda", "s3", "sqs"}

func entity(id, typ, name, path string) reportdoc.Entity {
	return reportdoc.Entity{ID: id, Type: typ, Name: name, Path: path}
}

var (
	root    = entity(rootID, reportdoc.TypeRoot, "Root", orgID+"/"+rootID)
	sales   = entity(salesID, reportdoc.TypeOU, "Sales", orgID+"/"+rootID+"/"+salesID)
	eng     = entity(engID, reportdoc.TypeOU, "Engineering", orgID+"/"+rootID+"/"+engID)
	account = entity(acctID, reportdoc.TypeAccount, "prod", orgID+"/"+rootID+"/"+salesID+"/"+acctID)
)

// report is a completed report of e as the pipeline records it.
func report(t *testing.T, e reportdoc.Entity, policyID string, asOf time.Time, u used) findings.Entry {
	t.Helper()
	r := &reportdoc.EntityReport{SchemaVersion: 1, OrganizationID: orgID, Entity: e,
		Job: reportdoc.Job{Status: reportdoc.StatusCompleted, CompletedAt: reportdoc.NewTime(asOf)}}
	for _, ns := range listed {
		s := reportdoc.Service{Namespace: ns, Name: ns}
		if ago, ok := u[ns]; ok {
			s.LastAuthenticated = reportdoc.NewTime(asOf.Add(-ago))
		}
		r.Services = append(r.Services, s)
	}
	d := findings.DigestOf(r, days)
	return findings.Entry{Entity: e, PolicyID: policyID, Status: reportdoc.StatusCompleted, Digest: &d}
}

const day = 24 * time.Hour

// twoRuns compares a previous run where only s3 was in use with a current
// run where the root, Sales, an account and a per-policy report of Sales
// started using services; Engineering did not change.
func twoRuns(t *testing.T) (*reportdoc.Changes, []findings.Entry) {
	t.Helper()
	prev := []findings.Entry{
		report(t, root, "", prevAsOf, used{"s3": 10 * day, "lambda": 200 * day}),
		report(t, sales, "", prevAsOf, used{"s3": 10 * day}),
		report(t, sales, policy, prevAsOf, used{"s3": 10 * day}),
		report(t, eng, "", prevAsOf, used{"s3": 10 * day}),
		report(t, account, "", prevAsOf, used{"s3": 10 * day}),
	}
	cur := []findings.Entry{
		report(t, root, "", nowAsOf, used{"s3": 11 * day, "lambda": 3 * time.Hour}),
		report(t, sales, "", nowAsOf, used{"s3": 11 * day, "sqs": 2 * time.Hour, "ec2": 5 * day}),
		report(t, sales, policy, nowAsOf, used{"s3": 11 * day, "ec2": 5 * day}),
		report(t, eng, "", nowAsOf, used{"s3": 11 * day}),
		report(t, account, "", nowAsOf, used{"s3": 11 * day, "ec2": 5 * day}),
	}
	slices.SortFunc(cur, func(a, b findings.Entry) int { return strings.Compare(a.Entity.Path, b.Entity.Path) })
	ch, err := findings.Compare(cur, &findings.Previous{RunID: "run-1", Entries: prev}, days)
	if err != nil {
		t.Fatal(err)
	}
	return ch, cur
}

// envelope is what SNS delivers to an SQS queue without raw delivery.
type envelope struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

func at(t time.Time) *reportdoc.Time { return reportdoc.NewTime(t) }

func TestFirstUseOverSNS(t *testing.T) {
	url := startMoto(t)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	snsc := sns.New(sns.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(url)})
	sqsc := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(url)})

	changes, entries := twoRuns(t)
	// Thirteen OUs that each started using ec2: two batches.
	var manyPrev, manyCur []findings.Entry
	for i := range 13 {
		id := fmt.Sprintf("ou-ab12-%08d", 30000000+i)
		e := entity(id, reportdoc.TypeOU, fmt.Sprintf("Team %02d", i), orgID+"/"+rootID+"/"+id)
		manyPrev = append(manyPrev, report(t, e, "", prevAsOf, nil))
		manyCur = append(manyCur, report(t, e, "", nowAsOf, used{"ec2": day}))
	}
	many, err := findings.Compare(manyCur, &findings.Previous{RunID: "run-1", Entries: manyPrev}, days)
	if err != nil {
		t.Fatal(err)
	}

	wantRoot := Message{RunID: "run-2", PreviousRunID: "run-1", OrganizationID: orgID, UnusedDays: days, Entity: root,
		Services: []Service{{"lambda", "AWS Lambda", at(nowAsOf.Add(-3 * time.Hour))}}}
	wantSales := Message{RunID: "run-2", PreviousRunID: "run-1", OrganizationID: orgID, UnusedDays: days, Entity: sales,
		Services: []Service{
			{"ec2", "Amazon EC2", at(nowAsOf.Add(-5 * day))},
			{"sqs", "Amazon SQS", at(nowAsOf.Add(-2 * time.Hour))},
		}}
	tests := []struct {
		name      string
		changes   *reportdoc.Changes
		details   Details
		off       bool
		wantCalls []string
		want      []Message // in publish order
		subjects  []string
	}{
		{
			name: "root and OU, accounts and policy reports left out", changes: changes, details: FromEntries(entries),
			wantCalls: []string{"PublishBatch:2"}, want: []Message{wantRoot, wantSales},
			subjects: []string{
				"orgaudit: 1 service newly used in Root",
				"orgaudit: 2 services newly used in Sales",
			},
		},
		{
			name: "one message without details",
			changes: &reportdoc.Changes{PreviousRunID: "run-1", UnusedDays: days, Entities: []reportdoc.EntityChanges{
				{EntityID: salesID, Path: sales.Path, NewlyAccessed: []string{"sqs", "ec2"}, BecameUnused: []string{}},
				{EntityID: engID, Path: eng.Path, NewlyAccessed: []string{}, BecameUnused: []string{"s3"}},
			}},
			wantCalls: []string{"Publish"},
			want: []Message{{RunID: "run-2", PreviousRunID: "run-1", OrganizationID: orgID, UnusedDays: days,
				Entity:   reportdoc.Entity{ID: salesID, Type: reportdoc.TypeOU, Path: sales.Path},
				Services: []Service{{"ec2", "Amazon EC2", nil}, {"sqs", "Amazon SQS", nil}}}},
			subjects: []string{"orgaudit: 2 services newly used in " + salesID},
		},
		{name: "thirteen OUs", changes: many, wantCalls: []string{"PublishBatch:10", "PublishBatch:3"}},
		{name: "nothing new", changes: &reportdoc.Changes{PreviousRunID: "run-1", Entities: []reportdoc.EntityChanges{}}},
		{name: "no previous run", changes: nil},
		{name: "off", changes: changes, off: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topicARN, queueURL := topicWithQueue(t, ctx, snsc, sqsc, fmt.Sprintf("first-use-%d", i))
			rec := &recorder{Client: snsc}
			arn := topicARN
			if tt.off {
				arn = ""
			}
			wantN := len(tt.want)
			if tt.name == "thirteen OUs" {
				wantN = 13
			}
			n, err := FirstUseWith(ctx, rec, arn, "run-2", orgID, tt.changes, tt.details)
			if err != nil {
				t.Fatalf("Got(FirstUseWith) error %v; want none", err)
			}
			if n != wantN {
				t.Errorf("Got(%q published) = %d; want %d", tt.name, n, wantN)
			}
			if !slices.Equal(rec.calls, tt.wantCalls) {
				t.Errorf("Got(calls) = %v; want %v", rec.calls, tt.wantCalls)
			}
			bodies := receive(t, ctx, sqsc, queueURL, wantN)

			byPath := map[string]envelope{}
			for _, b := range bodies {
				var env envelope
				if err := json.Unmarshal([]byte(b), &env); err != nil {
					t.Fatalf("Got(delivery %q) not an SNS envelope: %v", b, err)
				}
				if env.Type != "Notification" || env.TopicArn != topicARN {
					t.Errorf("Got(Type, TopicArn) = %q, %q; want Notification, %q", env.Type, env.TopicArn, topicARN)
				}
				var m Message
				if err := json.Unmarshal([]byte(env.Message), &m); err != nil {
					t.Fatalf("Got(message %q) not JSON: %v", env.Message, err)
				}
				if got := env.MessageAttributes["entityType"]; got.Type != "String" || got.Value != m.Entity.Type {
					t.Errorf("Got(entityType attribute) = %+v; want String %q", got, m.Entity.Type)
				}
				if got := env.MessageAttributes["entityId"].Value; got != m.Entity.ID {
					t.Errorf("Got(entityId attribute) = %q; want %q", got, m.Entity.ID)
				}
				if got := env.MessageAttributes["serviceCount"]; got.Type != "Number" || got.Value != fmt.Sprint(len(m.Services)) {
					t.Errorf("Got(serviceCount attribute) = %+v; want Number %d", got, len(m.Services))
				}
				byPath[m.Entity.Path] = env
			}
			if tt.name == "thirteen OUs" {
				for _, ec := range many.Entities {
					env, ok := byPath[ec.Path]
					if !ok {
						t.Errorf("Got(message for %s) = none; want one", ec.Path)
						continue
					}
					var m Message
					json.Unmarshal([]byte(env.Message), &m)
					if len(m.Services) != 1 || m.Services[0].Namespace != "ec2" {
						t.Errorf("Got(%s services) = %+v; want ec2", ec.Path, m.Services)
					}
				}
				return
			}
			for i, want := range tt.want {
				env, ok := byPath[want.Entity.Path]
				if !ok {
					t.Errorf("Got(message for %s) = none; want one", want.Entity.Path)
					continue
				}
				wantJSON, _ := json.Marshal(want)
				var got Message
				json.Unmarshal([]byte(env.Message), &got)
				gotJSON, _ := json.Marshal(got)
				if string(gotJSON) != string(wantJSON) {
					t.Errorf("Got(message for %s) = %s; want %s", want.Entity.Path, gotJSON, wantJSON)
				}
				if env.Subject != tt.subjects[i] {
					t.Errorf("Got(subject) = %q; want %q", env.Subject, tt.subjects[i])
				}
			}
		})
	}

	t.Run("topic in another region than the client", func(t *testing.T) {
		topicARN, queueURL := topicWithQueue(t, ctx, snsc, sqsc, "first-use-region")
		elsewhere := sns.New(sns.Options{Region: "eu-west-1", Credentials: creds, BaseEndpoint: aws.String(url)})
		n, err := FirstUseWith(ctx, elsewhere, topicARN, "run-2", orgID, changes, FromEntries(entries))
		if err != nil || n != 2 {
			t.Fatalf("Got(FirstUseWith from eu-west-1) = %d, %v; want 2, no error", n, err)
		}
		receive(t, ctx, sqsc, queueURL, 2)
	})

	t.Run("missing topic", func(t *testing.T) {
		missing := "arn:aws:sns:us-east-1:123456789012:no-such-topic"
		n, err := FirstUseWith(ctx, snsc, missing, "run-2", orgID, changes, FromEntries(entries))
		if err == nil || n != 0 {
			t.Errorf("Got(FirstUseWith to a missing topic) = %d, %v; want 0 and an error", n, err)
		}
	})
}

func TestMessagesOrder(t *testing.T) {
	ch := &reportdoc.Changes{PreviousRunID: "run-1", UnusedDays: days, Entities: []reportdoc.EntityChanges{
		{EntityID: engID, Path: eng.Path, NewlyAccessed: []string{"s3"}},
		{EntityID: acctID, Path: account.Path, NewlyAccessed: []string{"s3"}},
		{EntityID: rootID, Path: root.Path, NewlyAccessed: []string{"sqs", "ec2", "not-in-catalog"}},
		{EntityID: salesID, Path: sales.Path, PolicyID: aws.String(policy), NewlyAccessed: []string{"s3"}},
		{EntityID: salesID, Path: sales.Path, NewlyAccessed: []string{"lambda"}},
	}}
	msgs := Messages("run-2", orgID, ch, nil)
	var got []string
	for _, m := range msgs {
		var ns []string
		for _, s := range m.Services {
			ns = append(ns, s.Namespace+"="+s.Name)
		}
		got = append(got, m.Entity.ID+":"+m.Entity.Type+":"+strings.Join(ns, ","))
	}
	want := []string{
		rootID + ":ROOT:ec2=Amazon EC2,not-in-catalog=not-in-catalog,sqs=Amazon SQS",
		salesID + ":ORGANIZATIONAL_UNIT:lambda=AWS Lambda",
		engID + ":ORGANIZATIONAL_UNIT:s3=Amazon S3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Got(messages) = %q; want %q", got, want)
	}
}

func TestSubject(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name, entityName string
		services         int
		want             string
	}{
		{"plain", "Sales", 3, "orgaudit: 3 services newly used in Sales"},
		{"one", "Sales", 1, "orgaudit: 1 service newly used in Sales"},
		{"no name", "", 2, "orgaudit: 2 services newly used in " + salesID},
		{"control and non-ASCII", "Sa\nlés", 2, "orgaudit: 2 services newly used in Sa?l??s"},
		{"too long", long, 2, ("orgaudit: 2 services newly used in " + long)[:96] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{Entity: reportdoc.Entity{ID: salesID, Name: tt.entityName}, Services: make([]Service, tt.services)}
			got := subject(m)
			if got != tt.want {
				t.Errorf("Got(subject(%q)) = %q; want %q", tt.entityName, got, tt.want)
			}
			if len(got) > maxSubjectChars {
				t.Errorf("Got(len(subject)) = %d; want at most %d", len(got), maxSubjectChars)
			}
		})
	}
}

func TestBatches(t *testing.T) {
	mk := func(n, bodyBytes int) []types.PublishBatchRequestEntry {
		var out []types.PublishBatchRequestEntry
		for i := range n {
			out = append(out, types.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), Message: aws.String(strings.Repeat("a", bodyBytes))})
		}
		return out
	}
	tests := []struct {
		name      string
		entries   []types.PublishBatchRequestEntry
		wantSizes []int
	}{
		{"ten fit one batch", mk(10, 100), []int{10}},
		{"eleven", mk(11, 100), []int{10, 1}},
		{"twenty-five", mk(25, 100), []int{10, 10, 5}},
		// 60 KiB each: four fit in 256 KiB, the fifth opens a new batch.
		{"large messages", mk(9, 60*1024), []int{4, 4, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			var ids []string
			for _, b := range batches(tt.entries) {
				sizes = append(sizes, len(b))
				total := 0
				for _, e := range b {
					ids = append(ids, aws.ToString(e.Id))
					total += size(e)
				}
				if total > maxPayloadBytes {
					t.Errorf("Got(batch bytes) = %d; want at most %d", total, maxPayloadBytes)
				}
			}
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("Got(batch sizes) = %v; want %v", sizes, tt.wantSizes)
			}
			for i, id := range ids {
				if id != fmt.Sprint(i) {
					t.Fatalf("Got(entry %d id) = %s; want the input order", i, id)
				}
			}
		})
	}
}

func TestRegionOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:sns:eu-west-1:123456789012:orgaudit-FirstUseTopic-ABC", "eu-west-1"},
		{"arn:aws-us-gov:sns:us-gov-west-1:123456789012:t", "us-gov-west-1"},
		{"arn:aws:sqs:eu-west-1:123456789012:q", ""},
		{"not-an-arn", ""},
	}
	for _, tt := range tests {
		if got := regionOf(tt.arn); got != tt.want {
			t.Errorf("Got(regionOf(%q)) = %q; want %q", tt.arn, got, tt.want)
		}
	}
}
