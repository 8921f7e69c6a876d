package store

import "errors"

// Error classes of the store; the agent re-exports them under the same
// names. Test with errors.Is.
var (
	// ErrNotFound: no such blob (or image) in the store.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: content does not hash to its digest, or a blob that an
	// image needs is missing from the store.
	ErrCorrupt = errors.New("corrupt content")
)
