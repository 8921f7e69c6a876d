package check

import "errors"

// Error classes of the storage, wrapped with what they concern
// (fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)). The HTTP layer maps each to
// one OCI error code; test with errors.Is.
var (
	ErrNameInvalid         = errors.New("invalid repository name")
	ErrNameUnknown         = errors.New("repository name not known to registry")
	ErrTagInvalid          = errors.New("invalid tag")
	ErrDigestInvalid       = errors.New("provided digest did not match uploaded content")
	ErrDigestUnsupported   = errors.New("digest algorithm not supported")
	ErrBlobUnknown         = errors.New("blob unknown to registry")
	ErrUploadUnknown       = errors.New("blob upload unknown to registry")
	ErrUploadInvalid       = errors.New("blob upload invalid")
	ErrRangeInvalid        = errors.New("requested range not satisfiable")
	ErrSizeInvalid         = errors.New("provided length did not match content length")
	ErrManifestUnknown     = errors.New("manifest unknown to registry")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestBlobUnknown = errors.New("manifest references a manifest or blob unknown to registry")
	ErrManifestTooLarge    = errors.New("manifest too large")
	// ErrTagImmutable: the change would move or delete an immutable tag
	// (see storage.ImmutableTagError).
	ErrTagImmutable = errors.New("tag is immutable")
	// ErrRepositoryDeleting: the repository is being deleted
	// (storage.Store.DeleteRepository); a push into it may be retried once
	// that is done.
	ErrRepositoryDeleting = errors.New("repository is being deleted")
)
