package check

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/opencontainers/go-digest"
)

// MaxNameLength bounds a repository name, as Distribution does.
const MaxNameLength = oci.MaxNameLength

// Name reports ErrNameInvalid unless name follows the OCI distribution
// grammar (oci.ValidName): no name can reach outside its directory nor
// collide with the "_layers", "_manifests" and "_uploads" keys.
func Name(name string) error {
	if !oci.ValidName(name) {
		return fmt.Errorf("%q: %w", name, ErrNameInvalid)
	}
	return nil
}

// Tag reports ErrTagInvalid unless tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func Tag(tag string) error {
	if !oci.ValidTag(tag) {
		return fmt.Errorf("%q: %w", tag, ErrTagInvalid)
	}
	return nil
}

// ParseDigest parses s as a digest of a supported algorithm (sha256, sha512).
// It returns ErrDigestInvalid for a malformed digest and ErrDigestUnsupported
// for an unknown algorithm.
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	if err := Digest(d); err != nil {
		return "", err
	}
	return d, nil
}

// Digest is ParseDigest for a value already typed as a digest.
func Digest(d digest.Digest) error {
	alg, enc, ok := strings.Cut(string(d), ":")
	if !ok {
		return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
	}
	switch a := digest.Algorithm(alg); a {
	case digest.SHA256, digest.SHA512:
		if !lowerHex(enc, a.Size()*2) {
			return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
		}
	case "":
		return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
	default:
		return fmt.Errorf("%q: %w", d, ErrDigestUnsupported)
	}
	return nil
}

// lowerHex tells whether s is n lowercase hexadecimal digits: what
// go-digest's Validate accepts for sha256 and sha512, checked without its
// regular expression, which was a sixth of a warm blob HEAD's CPU (every
// request checks its digest a few times).
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NameDigest checks a repository name and a digest, in that order.
func NameDigest(name string, d digest.Digest) error {
	if err := Name(name); err != nil {
		return err
	}
	return Digest(d)
}

// UploadID accepts the ids the store makes for uploads and Distribution's
// (both UUIDs), and nothing that could be more than one safe path segment.
func UploadID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
