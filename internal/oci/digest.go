package oci

import (
	"fmt"

	digest "github.com/opencontainers/go-digest"
)

// CheckDigest refuses a digest a content store cannot hold: only sha256, in
// its canonical form, so that it can name a file safely.
func CheckDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: algorithm %s not supported", d, d.Algorithm())
	}
	return nil
}

// IsHex reports whether s is made of lower-case hexadecimal digits only.
func IsHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
