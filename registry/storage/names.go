package storage

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxNameLength bounds a repository name, as Distribution does.
const MaxNameLength = 255

// CheckName reports ErrNameInvalid unless name follows the OCI distribution
// grammar: components of [a-z0-9]+ joined by ".", "_", "__" or runs of "-",
// separated by "/". The grammar admits no empty, "." or ".." component and no
// component that starts with "_", so a name can never reach outside its
// directory nor collide with the "_layers", "_manifests" and "_uploads" keys.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("%q: %w", name, ErrNameInvalid)
	}
	for _, comp := range strings.Split(name, "/") {
		if !validComponent(comp) {
			return fmt.Errorf("%q: %w", name, ErrNameInvalid)
		}
	}
	return nil
}

func validComponent(c string) bool {
	if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case alnum(ch):
		case ch == '.':
			if !alnum(c[i+1]) {
				return false
			}
		case ch == '_':
			// "_" or "__", then an alphanumeric.
			if c[i+1] == '_' {
				i++
			}
			if !alnum(c[i+1]) {
				return false
			}
		case ch == '-':
			for c[i+1] == '-' {
				i++
			}
			if !alnum(c[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// CheckTag reports ErrTagInvalid unless tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func CheckTag(tag string) error {
	if tag == "" || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return fmt.Errorf("%q: %w", tag, ErrTagInvalid)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(alnum(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%q: %w", tag, ErrTagInvalid)
		}
	}
	return nil
}

// ParseDigest parses s as a digest of a supported algorithm (sha256, sha512).
// It returns ErrDigestInvalid for a malformed digest and ErrDigestUnsupported
// for an unknown algorithm.
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	if err := CheckDigest(d); err != nil {
		return "", err
	}
	return d, nil
}

// CheckDigest is ParseDigest for a value already typed as a digest.
func CheckDigest(d digest.Digest) error {
	alg, _, ok := strings.Cut(string(d), ":")
	if !ok {
		return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
	}
	switch digest.Algorithm(alg) {
	case digest.SHA256, digest.SHA512:
	case "":
		return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
	default:
		return fmt.Errorf("%q: %w", d, ErrDigestUnsupported)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%q: %w", d, ErrDigestInvalid)
	}
	return nil
}
