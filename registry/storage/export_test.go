package storage

import "github.com/berth-registry/berth/registry/storage/internal/usage"

// SetSizeListThreshold sets internal/usage's SizeListThreshold for a test
// and returns what restores it.
func SetSizeListThreshold(n int) (restore func()) {
	old := usage.SizeListThreshold
	usage.SizeListThreshold = n
	return func() { usage.SizeListThreshold = old }
}
