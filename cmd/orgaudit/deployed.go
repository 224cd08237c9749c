package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/orgaudit/orgaudit/internal/manifest"
	"github.com/orgaudit/orgaudit/internal/objstore"
	"github.com/orgaudit/orgaudit/internal/progress"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/sfnrun"
)

// Environment variables of the commands that drive the deployed pipeline
// (start, status, runs).
const (
	envStateMachine = "ORGAUDIT_STATE_MACHINE_ARN"
	envStack        = "ORGAUDIT_STACK"
)

// deployedFlags select the deployed pipeline: its state machine (by ARN or
// by the stack's outputs) and the bucket its runs are written to.
type deployedFlags struct {
	stateMachine, stack string
	bucket, prefix      string
	profile, region     string
}

func (d *deployedFlags) register(fs *flag.FlagSet, bucket, prefix string) {
	fs.StringVar(&d.stateMachine, "state-machine", os.Getenv(envStateMachine), "ARN of the deployed state machine ("+envStateMachine+")")
	fs.StringVar(&d.stack, "stack", os.Getenv(envStack), "name of the deployed CloudFormation stack: its StateMachineArn and BucketName outputs ("+envStack+")")
	fs.StringVar(&d.bucket, "bucket", bucket, "bucket of the runs (default: the stack's BucketName output) (ORGAUDIT_BUCKET)")
	fs.StringVar(&d.prefix, "prefix", prefix, "key prefix of the runs in the bucket, the stack's Prefix parameter (ORGAUDIT_PREFIX)")
	fs.StringVar(&d.profile, "profile", os.Getenv("AWS_PROFILE"), "AWS shared-config profile (AWS_PROFILE)")
	fs.StringVar(&d.region, "region", "", "AWS region of the stack (default: the state machine ARN's, else the profile's, else us-east-1)")
}

func (d *deployedFlags) validate() error {
	// A flag given on the command line wins over the other's variable.
	switch {
	case d.stateMachine == "" && d.stack == "":
		return errors.New("name the deployed pipeline: --stack NAME (the stack `sam deploy` created) or --state-machine ARN")
	case d.stateMachine != "" && d.stack != "":
		return errors.New("--stack and --state-machine both name the pipeline: give one")
	case d.stateMachine != "":
		if err := sfnrun.ValidStateMachineARN(d.stateMachine); err != nil {
			return fmt.Errorf("--state-machine: %v", err)
		}
	}
	return nil
}

// preferFlags resolves --stack versus --state-machine when one came from
// the environment and the other from the command line.
func (d *deployedFlags) preferFlags(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["stack"] && !set["state-machine"] {
		d.stateMachine = ""
	}
	if set["state-machine"] && !set["stack"] {
		d.stack = ""
	}
}

// deployed is the resolved pipeline: a Step Functions client, the state
// machine, and the store of its runs (nil when no bucket is known).
type deployed struct {
	sfn          *sfn.Client
	stateMachine string
	store        objstore.Store
	stackName    string
}

func (d *deployedFlags) resolve(ctx context.Context) (*deployed, error) {
	region := d.region
	if region == "" && d.stateMachine != "" {
		a, _ := arn.Parse(d.stateMachine)
		region = a.Region
	}
	cfg, err := loadAWSConfig(ctx, d.profile, region)
	if err != nil {
		return nil, err
	}
	// The SDK's notes (a response without a checksum) are not the user's
	// business.
	cfg.Logger = logging.Nop{}
	out := &deployed{sfn: sfn.NewFromConfig(cfg), stateMachine: d.stateMachine, stackName: d.stack}
	bucket := d.bucket
	if d.stack != "" {
		st, err := sfnrun.StackOutputs(ctx, cloudformation.NewFromConfig(cfg), d.stack)
		if err != nil {
			if sfnrun.IsCode(err, "ValidationError") {
				return nil, userErrorf("stack %q does not exist in %s (check --stack, --region and --profile)", d.stack, cfg.Region)
			}
			return nil, explainCredentials(err)
		}
		out.stateMachine = st.StateMachineARN
		if bucket == "" {
			bucket = st.Bucket
		}
	}
	if bucket != "" {
		out.store = objstore.NewS3(s3.NewFromConfig(cfg), bucket, d.prefix)
	}
	return out, nil
}

// target is how to name the pipeline again in a hint.
func (d *deployedFlags) target() string {
	if d.stack != "" {
		return "--stack " + d.stack
	}
	return "--state-machine " + d.stateMachine
}

// explainSFN turns Step Functions errors into one line saying what to do.
func explainSFN(err error, smARN string) string {
	var ue *userError
	if errors.As(err, &ue) {
		return ue.msg
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "StateMachineDoesNotExist":
			return fmt.Sprintf("state machine %s does not exist (check --state-machine or --stack, and --region)", smARN)
		case "AccessDeniedException", "AccessDenied":
			return "access denied: " + api.ErrorMessage()
		}
	}
	return explainCredentials(err).Error()
}

// follow polls the execution until it ends, showing the run's progress
// from its manifest, then prints the run's summary as `run` does. It
// returns the exit code: 0 when the execution succeeded and every entity
// has a report, else 1.
func follow(ctx context.Context, dep *deployed, execARN string, poll time.Duration, bar *progress.Reporter, stdout, stderr io.Writer, hint string) int {
	var lastErr string
	var unusedDays int
	for {
		ex, err := sfnrun.Describe(ctx, dep.sfn, execARN)
		if err != nil {
			if ctx.Err() != nil {
				return stopped(stderr, hint)
			}
			// A poll that fails is tried again; the same failure twice
			// in a row ends the wait.
			if msg := explainSFN(err, dep.stateMachine); msg != lastErr {
				lastErr = msg
			} else {
				fmt.Fprintln(stderr, "orgaudit:", msg)
				return exitFailure
			}
		} else {
			lastErr = ""
			if dep.store != nil {
				if m, err := manifest.Load(ctx, dep.store, ex.RunID); err == nil {
					unusedDays = m.Settings.UnusedDays
					if bar != nil {
						bar.Update(manifestCounts(m))
					}
				}
			}
			if !ex.Running() {
				if bar != nil && dep.store != nil {
					if m, err := manifest.Load(ctx, dep.store, ex.RunID); err == nil {
						bar.Finish(manifestCounts(m))
					}
				}
				return finished(ctx, dep, ex, unusedDays, stdout, stderr)
			}
		}
		select {
		case <-ctx.Done():
			return stopped(stderr, hint)
		case <-time.After(poll):
		}
	}
}

func stopped(stderr io.Writer, hint string) int {
	fmt.Fprintf(stderr, "\nStopped following; the execution goes on. Follow it again with:\n  %s\n", hint)
	return exitInterrupted
}

// finished prints an ended execution: its failure in one line, and the
// run's summary when the bucket holds one.
func finished(ctx context.Context, dep *deployed, ex *sfnrun.Execution, unusedDays int, stdout, stderr io.Writer) int {
	code := exitOK
	if ex.Status != "SUCCEEDED" {
		fmt.Fprintf(stderr, "Execution %s %s: %s\n", ex.Name, ex.Status, ex.FailureLine())
		code = exitFailure
	}
	if dep.store == nil {
		if code == exitOK {
			fmt.Fprintf(stdout, "Run %s: %s (no bucket known for the summary: pass --bucket or --stack)\n", ex.RunID, ex.Status)
		}
		return code
	}
	sum, err := loadSummary(ctx, dep.store, ex.RunID)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			if code == exitOK {
				fmt.Fprintf(stderr, "orgaudit: execution %s succeeded but %s does not exist (check --bucket and --prefix)\n",
					ex.Name, dep.store.Location(reportdoc.SummaryKey(ex.RunID)))
			}
			return exitFailure
		}
		fmt.Fprintln(stderr, "orgaudit:", err)
		return exitFailure
	}
	if unusedDays == 0 {
		unusedDays = 90
	}
	printSummary(stdout, sum, dep.store, unusedDays)
	if sum.Status != reportdoc.RunSucceeded {
		code = exitFailure
	}
	return code
}

func manifestCounts(m *manifest.Manifest) progress.Counts {
	c := m.Counts()
	return progress.Counts{Total: c.Total, Completed: c.Completed, Failed: c.Failed, Running: c.Running, Queued: c.Queued, Throttled: m.Throttled}
}
