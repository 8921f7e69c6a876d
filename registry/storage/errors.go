package storage

import (
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/check"
)

// Error classes returned by this package, wrapped with what they concern
// (fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)). The HTTP layer maps each to
// one OCI error code; test with errors.Is. They are defined, with the
// checks below, in registry/storage/internal/check, which the parts of the
// storage cut into packages of their own share.
var (
	ErrNameInvalid         = check.ErrNameInvalid
	ErrNameUnknown         = check.ErrNameUnknown
	ErrTagInvalid          = check.ErrTagInvalid
	ErrDigestInvalid       = check.ErrDigestInvalid
	ErrDigestUnsupported   = check.ErrDigestUnsupported
	ErrBlobUnknown         = check.ErrBlobUnknown
	ErrUploadUnknown       = check.ErrUploadUnknown
	ErrUploadInvalid       = check.ErrUploadInvalid
	ErrRangeInvalid        = check.ErrRangeInvalid
	ErrSizeInvalid         = check.ErrSizeInvalid
	ErrManifestUnknown     = check.ErrManifestUnknown
	ErrManifestInvalid     = check.ErrManifestInvalid
	ErrManifestBlobUnknown = check.ErrManifestBlobUnknown
	ErrManifestTooLarge    = check.ErrManifestTooLarge
	// ErrTagImmutable: the change would move or delete an immutable tag
	// (see ImmutableTagError).
	ErrTagImmutable = check.ErrTagImmutable
	// ErrRepositoryDeleting: the repository is being deleted
	// (DeleteRepository); a push into it may be retried once that is done.
	ErrRepositoryDeleting = check.ErrRepositoryDeleting
)

// MaxNameLength bounds a repository name, as Distribution does.
const MaxNameLength = check.MaxNameLength

// CheckName reports ErrNameInvalid unless name follows the OCI distribution
// grammar (oci.ValidName): no name can reach outside its directory nor
// collide with the "_layers", "_manifests" and "_uploads" keys.
func CheckName(name string) error { return check.Name(name) }

// CheckTag reports ErrTagInvalid unless tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func CheckTag(tag string) error { return check.Tag(tag) }

// ParseDigest parses s as a digest of a supported algorithm (sha256, sha512).
// It returns ErrDigestInvalid for a malformed digest and ErrDigestUnsupported
// for an unknown algorithm.
func ParseDigest(s string) (digest.Digest, error) { return check.ParseDigest(s) }

// CheckDigest is ParseDigest for a value already typed as a digest.
func CheckDigest(d digest.Digest) error { return check.Digest(d) }
