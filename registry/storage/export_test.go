package storage

// SetSizeListThreshold sets sizeListThreshold for a test and returns
// what restores it.
func SetSizeListThreshold(n int) (restore func()) {
	old := sizeListThreshold
	sizeListThreshold = n
	return func() { sizeListThreshold = old }
}
