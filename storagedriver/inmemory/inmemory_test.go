package inmemory_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestSuite proves the in-memory driver meets the storagedriver contract.
func TestSuite(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return inmemory.New() })
}
