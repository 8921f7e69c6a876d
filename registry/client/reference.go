package client

import (
	"fmt"
	"net"
	"strings"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// DockerHub is the registry name of Docker Hub in references, and
// dockerHubAPI the host that serves its API.
const (
	DockerHub    = "docker.io"
	dockerHubAPI = "registry-1.docker.io"
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

// ParseReference parses s with Docker's defaults: a name without a registry
// is on docker.io, a single-component name on docker.io is under library/,
// and a reference with neither tag nor digest means the tag "latest".
// "ubuntu" is docker.io/library/ubuntu:latest; "localhost:5000/a/b@sha256:…"
// keeps its host and digest; "host/x:tag@sha256:…" keeps both tag and digest.
func ParseReference(s string) (Reference, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("reference %q: %w", s, err)
	}
	r := Reference{
		Registry:   reference.Domain(named),
		Repository: reference.Path(named),
	}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
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

// Familiar is the short form docker prints: docker.io and library/ dropped.
func (r Reference) Familiar() string {
	s := r.String()
	if named, err := reference.ParseNormalizedNamed(s); err == nil {
		return reference.FamiliarString(named)
	}
	return s
}

// WithDigest returns r pointing at d (the tag is kept).
func (r Reference) WithDigest(d digest.Digest) Reference { r.Digest = d; return r }

// WithTag returns r pointing at tag, without a digest.
func (r Reference) WithTag(tag string) Reference { r.Tag, r.Digest = tag, ""; return r }

// identifier is what the manifest endpoint takes: the digest when there is
// one, else the tag.
func (r Reference) identifier() (string, error) {
	switch {
	case r.Digest != "":
		if err := r.Digest.Validate(); err != nil {
			return "", fmt.Errorf("reference %s: %w", r, err)
		}
		return r.Digest.String(), nil
	case r.Tag != "":
		return r.Tag, nil
	}
	return "", fmt.Errorf("reference %s: neither tag nor digest", r)
}

func (r Reference) validRepo() error {
	if r.Registry == "" || r.Repository == "" {
		return fmt.Errorf("reference %q: registry and repository are required", r.String())
	}
	return nil
}

// APIHost is the host that serves the registry API of the named registry:
// registry-1.docker.io for docker.io (and its legacy names), the name itself
// otherwise.
func APIHost(registry string) string {
	switch registry {
	case DockerHub, "index.docker.io", dockerHubAPI:
		return dockerHubAPI
	}
	return registry
}

// isLoopback reports whether host (with or without a port) is localhost or a
// loopback address: the only hosts spoken to in plain HTTP by default.
func isLoopback(host string) bool {
	h := hostname(host)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// hostname is host without its port and without IPv6 brackets.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
