package s3_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
)

// TestSuite proves the S3 driver meets the storagedriver contract against
// a real S3 server (versitygw), each subtest in a root directory of its own.
func TestSuite(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return s3test.NewDriver(t) })
}
