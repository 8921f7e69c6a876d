package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/berth-registry/berth/internal/oci"
)

// Proxy is the proxy section: serve repositories as a pull-through cache
// of upstream registries. RemoteURL (Distribution's form) makes every
// repository that no upstream prefix takes a cache of it; Upstreams (a
// Berth extension) each take the repositories under their prefix. At
// least one of the two is set.
type Proxy struct {
	RemoteURL string `yaml:"remoteurl"`
	Username  string `yaml:"username"` // RemoteURL's credentials
	Password  string `yaml:"password"`
	// TTL is how long a cached tag is served before the upstream is asked
	// (once) whether it moved; content by digest never expires. nil means
	// DefaultProxyTTL (Distribution's default), 0 trusts cached tags
	// forever. It is also the default of Upstreams without a ttl.
	TTL       *time.Duration `yaml:"ttl,omitempty"`
	Upstreams []Upstream     `yaml:"upstreams,omitempty"`
	// Exec is refused; CacheWriteTimeout is accepted without effect
	// (distkeys.go).
	Exec              Unsupported    `yaml:"exec"`
	CacheWriteTimeout *time.Duration `yaml:"cachewritetimeout,omitempty"`
}

// Upstream is one entry of proxy.upstreams: the repositories named
// <Prefix>/<repository> are a cache of <repository> at RemoteURL.
type Upstream struct {
	Prefix    string         `yaml:"prefix"` // e.g. docker.io, ghcr.io
	RemoteURL string         `yaml:"remoteurl"`
	Username  string         `yaml:"username"`
	Password  string         `yaml:"password"`
	TTL       *time.Duration `yaml:"ttl,omitempty"` // nil: proxy.ttl
}

// DefaultProxyTTL is the proxy TTL when none is configured.
const DefaultProxyTTL = 168 * time.Hour

func (p *Proxy) validate(o origins, missing func(key, why string) error) error {
	if p.RemoteURL == "" && len(p.Upstreams) == 0 {
		return missing("proxy.remoteurl", "required in a proxy section without upstreams"+o.at("proxy"))
	}
	if p.RemoteURL != "" {
		if err := checkRemoteURL("proxy.remoteurl", p.RemoteURL, o); err != nil {
			return err
		}
	} else if p.Username != "" || p.Password != "" {
		key := "proxy.username"
		if p.Username == "" {
			key = "proxy.password"
		}
		return fmt.Errorf("config: %s%s: only with proxy.remoteurl; give each of proxy.upstreams its own", key, o.at(key))
	}
	if err := checkTTL("proxy.ttl", p.TTL, o); err != nil {
		return err
	}
	seen := map[string]string{}
	for i, u := range p.Upstreams {
		key := fmt.Sprintf("proxy.upstreams[%d]", i)
		switch {
		case u.Prefix == "":
			return missing(key+".prefix", "want the repositories it serves, e.g. docker.io"+o.at(key))
		case !oci.ValidName(u.Prefix):
			return fmt.Errorf("config: %s.prefix: invalid value %q%s, want a repository name such as docker.io or ghcr.io/acme",
				key, u.Prefix, o.at(key+".prefix"))
		case seen[u.Prefix] != "":
			return fmt.Errorf("config: %s.prefix: duplicate value %q%s, also in %s", key, u.Prefix, o.at(key+".prefix"), seen[u.Prefix])
		case u.RemoteURL == "":
			return missing(key+".remoteurl", "want the upstream's URL, e.g. https://registry-1.docker.io"+o.at(key))
		}
		seen[u.Prefix] = key
		if err := checkRemoteURL(key+".remoteurl", u.RemoteURL, o); err != nil {
			return err
		}
		if err := checkTTL(key+".ttl", u.TTL, o); err != nil {
			return err
		}
	}
	return nil
}

// UpstreamTTL is the TTL of an upstream: its own ttl, else proxy.ttl, else
// DefaultProxyTTL.
func (p *Proxy) UpstreamTTL(u Upstream) time.Duration {
	switch {
	case u.TTL != nil:
		return *u.TTL
	case p.TTL != nil:
		return *p.TTL
	}
	return DefaultProxyTTL
}

func checkRemoteURL(key, s string, o origins) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("config: %s: invalid value %q%s, want an http or https URL without a path, e.g. https://registry-1.docker.io",
			key, s, o.at(key))
	}
	return nil
}

func checkTTL(key string, ttl *time.Duration, o origins) error {
	if ttl != nil && *ttl < 0 {
		return fmt.Errorf("config: %s: invalid value %q%s, want 0 or more", key, *ttl, o.at(key))
	}
	return nil
}
