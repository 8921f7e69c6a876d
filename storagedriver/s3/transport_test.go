package s3

import (
	"os"
	"testing"

	"github.com/aws/smithy-go"
)

// TestRetryerRetriesDirectoryRace: versitygw's answer to a write racing the
// removal of a key's parent directory is retried, a timeout is not, and
// an S3 error the SDK does not retry (NoSuchKey) stays final.
func TestRetryerRetriesDirectoryRace(t *testing.T) {
	r := newRetryer(3)
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "ExistingObjectIsDirectory", Message: "directory object already exists"}, true},
		{&smithy.GenericAPIError{Code: "NoSuchKey"}, false},
		{os.ErrDeadlineExceeded, false},
	} {
		if got := r.IsErrorRetryable(tc.err); got != tc.want {
			t.Errorf("IsErrorRetryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
