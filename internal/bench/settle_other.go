//go:build !linux

package bench

// settle (see settle_linux.go) has no syncfs to call here: figures may pay
// for the writeback of the run before them.
func settle(string) error { return nil }
