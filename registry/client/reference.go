package client

import (
	"fmt"
	"net"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// DockerHub is the registry name of Docker Hub in references, and
// dockerHubAPI the host that serves its API.
const (
	DockerHub    = oci.DockerHub
	dockerHubAPI = "registry-1.docker.io"
)

// Reference names a manifest in a registry: a registry host, a repository,
// and a tag, a digest, or both. It is internal/oci's, whose grammar the
// whole module shares.
type Reference = oci.Reference

// ParseReference parses s with Docker's defaults (oci.ParseReference): a
// name without a registry is on docker.io, a single-component name on
// docker.io is under library/, and a reference with neither tag nor digest
// means the tag "latest".
func ParseReference(s string) (Reference, error) { return oci.ParseReference(s) }

// identifier is what the manifest endpoint takes: the digest when there is
// one, else the tag.
func identifier(r Reference) (string, error) {
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

func validRepo(r Reference) error {
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
