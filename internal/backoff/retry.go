package backoff

import (
	"context"
	"errors"
	"net"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// throttleCodes are the error codes AWS services answer when a caller is
// over its request rate: IAM says Throttling (HTTP 400), Organizations
// TooManyRequestsException (also HTTP 400, as botocore's retry table has it).
var throttleCodes = map[string]bool{
	"Throttling":                true,
	"ThrottlingException":       true,
	"TooManyRequestsException":  true,
	"RequestLimitExceeded":      true,
	"RequestThrottled":          true,
	"RequestThrottledException": true,
	"SlowDown":                  true,
}

// Code returns the AWS error code of err, or "" when err is not an API
// error.
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// IsThrottle reports whether err is AWS throttling.
func IsThrottle(err error) bool { return throttleCodes[Code(err)] }

// IsTransient reports whether retrying the same request later may succeed:
// throttling, a server-side (5xx) answer, or a network error. Cancellation
// and deadlines of the caller's context are not transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if IsThrottle(err) {
		return true
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorFault() == smithy.FaultServer
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// Retry calls fn until it succeeds, fails with an error that is not
// transient, or has been tried attempts times, sleeping p.Delay between
// tries. It returns fn's last error, or ctx's error if ctx ends first.
func Retry(ctx context.Context, p Policy, attempts int, fn func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil || !IsTransient(err) {
			return err
		}
		if i == attempts-1 {
			break
		}
		if serr := Sleep(ctx, p.Delay(i)); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}
