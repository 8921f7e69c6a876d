package oci

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// DockerHub is the registry name of Docker Hub in references.
const DockerHub = "docker.io"

const (
	legacyDockerHub = "index.docker.io"
	officialPrefix  = "library/"
	defaultTag      = "latest"
)

// Reference names a manifest in a registry: a registry host, a repository,
// and a tag, a digest, or both (the digest wins when both are given; the tag
// is kept for display and for pushes).
type Reference struct {
	Registry   string        // e.g. "docker.io", "localhost:5000"
	Repository string        // e.g. "library/ubuntu", "a/b"
	Tag        string        // e.g. "latest"; may be empty when Digest is set
	Digest     digest.Digest // may be empty
}

// ParseReference parses s, REGISTRY/REPOSITORY[:TAG][@DIGEST], with
// Docker's defaults: a name without a registry is on docker.io, a
// single-component name on docker.io is under library/, and a reference with
// neither tag nor digest means the tag "latest". "ubuntu" is
// docker.io/library/ubuntu:latest; "localhost:5000/a/b@sha256:…" keeps its
// host and digest; "host/x:tag@sha256:…" keeps both tag and digest.
func ParseReference(s string) (Reference, error) {
	r, err := ParseNormalized(s)
	if err == nil && r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, err
}

// ParseNormalized parses s as ParseReference does but leaves the tag and
// digest as written: "ubuntu" is docker.io/library/ubuntu with neither.
//
// The grammar is that of Docker's references (distribution/reference's
// ParseNormalizedNamed, which a test holds this one to), over ValidName and
// ValidTag: the first component is the registry when it contains "." or ":",
// is "localhost" or has an upper-case letter; the registry is a host name
// (components of letters, digits and inner "-", joined by "."), or an IPv6
// address in brackets, with an optional numeric port; the repository is a
// ValidName in lower case; a tag is a ValidTag; a digest is one go-digest
// validates (sha256, sha384 or sha512, in lower-case hex of its length). A
// string of 64 hexadecimal digits alone is refused: it reads as an image id.
func ParseNormalized(s string) (Reference, error) {
	fail := func(format string, args ...any) (Reference, error) {
		return Reference{}, &ReferenceError{Ref: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("empty")
	}
	if len(s) == 64 && IsHex(s) {
		return fail("64 hexadecimal digits name an image id, not a repository")
	}
	domain, rest := splitRegistry(s)
	rest, dgst, hasDigest := strings.Cut(rest, "@")
	repo, tag, hasTag := strings.Cut(rest, ":")
	if strings.ToLower(repo) != repo {
		return fail("repository name %q must be lowercase", repo)
	}
	if !validRegistry(domain) {
		return fail("registry %q is not a host[:port]", domain)
	}
	if !ValidName(repo) {
		return fail("repository name %q is not valid", repo)
	}
	r := Reference{Registry: domain, Repository: repo}
	if hasTag {
		if !ValidTag(tag) {
			return fail("tag %q is not valid", tag)
		}
		r.Tag = tag
	}
	if hasDigest {
		d, err := digest.Parse(dgst)
		if err != nil {
			return fail("digest %q: %v", dgst, err)
		}
		r.Digest = d
	}
	return r, nil
}

// ReferenceError is the error of ParseReference and ParseNormalized: the
// string given and what is wrong with it.
type ReferenceError struct {
	Ref    string
	Reason string
}

func (e *ReferenceError) Error() string { return fmt.Sprintf("reference %q: %s", e.Ref, e.Reason) }

// splitRegistry splits s into its registry and the rest, as Docker does:
// docker.io when the first component is not a registry, index.docker.io
// read as docker.io, and library/ added to a single component on docker.io.
func splitRegistry(s string) (registry, rest string) {
	first, after, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		return DockerHub, officialPrefix + s
	case first == "localhost" || strings.ContainsAny(first, ".:") || strings.ToLower(first) != first:
		registry, rest = first, after
	default:
		registry, rest = DockerHub, s
	}
	if registry == legacyDockerHub {
		registry = DockerHub
	}
	if registry == DockerHub && !strings.Contains(rest, "/") {
		rest = officialPrefix + rest
	}
	return registry, rest
}

// validRegistry reports whether s is host[:port]: a host name of components
// [a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] joined by ".", or
// an IPv6 address of hex digits and colons in brackets; a port of digits.
func validRegistry(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		inner := s[1:end]
		if inner == "" || strings.Trim(inner, "0123456789abcdefABCDEF:") != "" {
			return false
		}
		host, port = "", s[end+1:]
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
	}
	if port != "" {
		if len(port) < 2 || port[0] != ':' || strings.Trim(port[1:], "0123456789") != "" {
			return false
		}
	}
	if strings.HasPrefix(s, "[") {
		return true
	}
	if host == "" {
		return false
	}
	for _, c := range strings.Split(host, ".") {
		if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
			return false
		}
		for i := 0; i < len(c); i++ {
			if ch := c[i]; !(alnum(ch) || ch >= 'A' && ch <= 'Z' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// String is the fully qualified form: registry/repository[:tag][@digest].
func (r Reference) String() string {
	var b strings.Builder
	b.WriteString(r.Name())
	if r.Tag != "" {
		b.WriteString(":" + r.Tag)
	}
	if r.Digest != "" {
		b.WriteString("@" + r.Digest.String())
	}
	return b.String()
}

// Name is registry/repository, without tag or digest.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// Familiar is the short form docker prints: docker.io/ dropped, and
// library/ before a single component on docker.io. A Reference that does
// not parse back (made by hand, not by ParseReference) prints in full.
func (r Reference) Familiar() string {
	s := r.String()
	f, err := ParseNormalized(s)
	if err != nil || f.Registry != DockerHub {
		return s
	}
	if rest, ok := strings.CutPrefix(f.Repository, officialPrefix); ok && !strings.Contains(rest, "/") {
		f.Repository = rest
	}
	return strings.TrimPrefix(f.String(), DockerHub+"/")
}

// WithDigest returns r pointing at d (the tag is kept).
func (r Reference) WithDigest(d digest.Digest) Reference { r.Digest = d; return r }

// WithTag returns r pointing at tag, without a digest.
func (r Reference) WithTag(tag string) Reference { r.Tag, r.Digest = tag, ""; return r }
