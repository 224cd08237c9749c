package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(map[string]string{EnvBucket: "audit-bucket"}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := Config{Bucket: "audit-bucket", Prefix: "orgaudit/", ReportRoleSession: "orgaudit", UnusedDays: 90, MaxConcurrentJobs: 1, StepBudget: 10 * time.Minute, MaxRunMinutes: 360, AccountRefreshDays: 7}
	if c != want {
		t.Errorf("Got(FromEnv) = %+v; want %+v", c, want)
	}
}

func TestFromEnvValues(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		EnvBucket: "b", EnvPrefix: "audits/nightly/", EnvReportRoleARN: "arn:aws:iam::111111111111:role/report",
		EnvReportRoleSession: "nightly", EnvUnusedDays: "30", EnvMaxConcurrentJobs: "3",
		EnvIncludeAccounts: "true", EnvIncludePolicies: "1", EnvMaxRunMinutes: "90.5", EnvAccountRefresh: "3",
	}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := Config{Bucket: "b", Prefix: "audits/nightly/", ReportRoleARN: "arn:aws:iam::111111111111:role/report", ReportRoleSession: "nightly",
		UnusedDays: 30, MaxConcurrentJobs: 3, IncludeAccounts: true, IncludePolicies: true, StepBudget: 10 * time.Minute, MaxRunMinutes: 90.5, AccountRefreshDays: 3}
	if c != want {
		t.Errorf("Got(FromEnv) = %+v; want %+v", c, want)
	}
	root, err := FromEnv(env(map[string]string{EnvBucket: "b", EnvPrefix: "/"}))
	if err != nil || root.Prefix != "" {
		t.Errorf("Got(FromEnv prefix \"/\") = %q, %v; want \"\"", root.Prefix, err)
	}
}

func TestFromEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the error must name
	}{
		{"no bucket", map[string]string{}, EnvBucket},
		{"days not a number", map[string]string{EnvBucket: "b", EnvUnusedDays: "ninety"}, EnvUnusedDays},
		{"days zero", map[string]string{EnvBucket: "b", EnvUnusedDays: "0"}, EnvUnusedDays},
		{"days too many", map[string]string{EnvBucket: "b", EnvUnusedDays: "401"}, EnvUnusedDays},
		{"jobs zero", map[string]string{EnvBucket: "b", EnvMaxConcurrentJobs: "0"}, EnvMaxConcurrentJobs},
		{"jobs too many", map[string]string{EnvBucket: "b", EnvMaxConcurrentJobs: "11"}, EnvMaxConcurrentJobs},
		{"accounts not bool", map[string]string{EnvBucket: "b", EnvIncludeAccounts: "yes"}, EnvIncludeAccounts},
		{"policies not bool", map[string]string{EnvBucket: "b", EnvIncludePolicies: "maybe"}, EnvIncludePolicies},
		{"budget not a number", map[string]string{EnvBucket: "b", EnvMaxRunMinutes: "6h"}, EnvMaxRunMinutes},
		{"budget zero", map[string]string{EnvBucket: "b", EnvMaxRunMinutes: "0"}, EnvMaxRunMinutes},
		{"budget past a day", map[string]string{EnvBucket: "b", EnvMaxRunMinutes: "1500"}, EnvMaxRunMinutes},
		{"budget NaN", map[string]string{EnvBucket: "b", EnvMaxRunMinutes: "NaN"}, EnvMaxRunMinutes},
		{"refresh zero", map[string]string{EnvBucket: "b", EnvAccountRefresh: "0"}, EnvAccountRefresh},
		{"role not arn", map[string]string{EnvBucket: "b", EnvReportRoleARN: "report"}, EnvReportRoleARN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(env(tt.env))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Errorf("Got(FromEnv(%v)) error %v; want one naming %s", tt.env, err, tt.want)
			}
		})
	}
}

func TestFromEnvOptionalBucket(t *testing.T) {
	c, err := FromEnvOptionalBucket(env(map[string]string{EnvUnusedDays: "7"}))
	if err != nil || c.Bucket != "" || c.UnusedDays != 7 {
		t.Errorf("Got(FromEnvOptionalBucket) = %+v, %v; want no bucket, 7 days", c, err)
	}
	if _, err := FromEnvOptionalBucket(env(map[string]string{EnvUnusedDays: "x"})); err == nil {
		t.Errorf("Got(FromEnvOptionalBucket bad days) = nil error; want one")
	}
}

func TestLambdaMemoryLimit(t *testing.T) {
	tests := []struct {
		env    map[string]string
		want   int64
		wantOK bool
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 128 << 20 * 8 / 10, true},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "GOMEMLIMIT": "100MiB"}, 0, false},
		{map[string]string{}, 0, false},
	}
	for _, tt := range tests {
		got, ok := LambdaMemoryLimit(env(tt.env))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Got(LambdaMemoryLimit(%v)) = %d, %v; want %d, %v", tt.env, got, ok, tt.want, tt.wantOK)
		}
	}
}
