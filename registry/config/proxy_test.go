package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// upstreams is a proxy section with two upstreams (lines 4-14 after
// minimal): docker.io with its own ttl, ghcr.io with proxy.ttl.
const upstreams = `proxy:
  ttl: 10m
  upstreams:
    - prefix: docker.io
      remoteurl: https://registry-1.docker.io
      username: hub-user
      password: hub-pass
      ttl: 1h
    - prefix: ghcr.io/acme
      remoteurl: https://ghcr.io
      username: gh-user
      password: gh-pass
`

func TestLoadProxy(t *testing.T) {
	hub := Upstream{Prefix: "docker.io", RemoteURL: "https://registry-1.docker.io", Username: "hub-user", Password: "hub-pass", TTL: ptr(time.Hour)}
	gh := Upstream{Prefix: "ghcr.io/acme", RemoteURL: "https://ghcr.io", Username: "gh-user", Password: "gh-pass"}
	tests := []struct {
		name string
		yaml string
		env  []string
		want *Config
	}{
		{"upstreams by prefix", minimal + upstreams, nil, want(func(c *Config) {
			c.Proxy = &Proxy{TTL: ptr(10 * time.Minute), Upstreams: []Upstream{hub, gh}}
		})},
		{"remoteurl and upstreams together", minimal + upstreams + "  remoteurl: http://mirror.internal:5000\n", nil, want(func(c *Config) {
			c.Proxy = &Proxy{RemoteURL: "http://mirror.internal:5000", TTL: ptr(10 * time.Minute), Upstreams: []Upstream{hub, gh}}
		})},
		{
			"environment sets an upstream's password and adds one",
			minimal + upstreams,
			[]string{
				"REGISTRY_PROXY_UPSTREAMS_1_PASSWORD=from-env",
				"REGISTRY_PROXY_UPSTREAMS_2_PREFIX=quay.io",
				"REGISTRY_PROXY_UPSTREAMS_2_REMOTEURL=https://quay.io",
			},
			want(func(c *Config) {
				gh := gh
				gh.Password = "from-env"
				c.Proxy = &Proxy{TTL: ptr(10 * time.Minute), Upstreams: []Upstream{hub, gh, {Prefix: "quay.io", RemoteURL: "https://quay.io"}}}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(strings.NewReader(tt.yaml), tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got.Proxy, tt.want.Proxy)
			}
		})
	}
}

func TestUpstreamTTL(t *testing.T) {
	own := Upstream{TTL: ptr(time.Minute)}
	for _, tt := range []struct {
		name string
		p    Proxy
		u    Upstream
		want time.Duration
	}{
		{"own ttl wins", Proxy{TTL: ptr(time.Hour)}, own, time.Minute},
		{"proxy.ttl next", Proxy{TTL: ptr(time.Hour)}, Upstream{}, time.Hour},
		{"0 is kept", Proxy{TTL: ptr(time.Duration(0))}, Upstream{}, 0},
		{"default last", Proxy{}, Upstream{}, DefaultProxyTTL},
	} {
		if got := tt.p.UpstreamTTL(tt.u); got != tt.want {
			t.Errorf("%s: UpstreamTTL = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLoadProxyErrors(t *testing.T) {
	// entry is one upstream (its list item on line 6).
	entry := func(lines string) string { return minimal + "proxy:\n  upstreams:\n    - " + lines }
	tests := []struct{ name, yaml, err string }{
		{"remoteurl without scheme", minimal + "proxy:\n  remoteurl: registry-1.docker.io\n",
			`config: proxy.remoteurl: invalid value "registry-1.docker.io" (line 5), want an http or https URL without a path, e.g. https://registry-1.docker.io`},
		{"remoteurl with a path", minimal + "proxy:\n  remoteurl: https://r.example.com/v2/\n",
			`config: proxy.remoteurl: invalid value "https://r.example.com/v2/" (line 5), want an http or https URL without a path, e.g. https://registry-1.docker.io`},
		{"credentials without remoteurl", minimal + "proxy:\n  username: u\n  upstreams:\n    - {prefix: a, remoteurl: https://a}\n",
			`config: proxy.username (line 5): only with proxy.remoteurl; give each of proxy.upstreams its own`},
		{"upstream without prefix", entry("remoteurl: https://a\n"),
			`config: proxy.upstreams[0].prefix: missing, want the repositories it serves, e.g. docker.io (line 6)`},
		{"upper-case prefix", entry("prefix: Docker.io\n      remoteurl: https://a\n"),
			`config: proxy.upstreams[0].prefix: invalid value "Docker.io" (line 6), want a repository name such as docker.io or ghcr.io/acme`},
		{"prefix with a trailing slash", entry("prefix: docker.io/\n      remoteurl: https://a\n"),
			`config: proxy.upstreams[0].prefix: invalid value "docker.io/" (line 6), want a repository name such as docker.io or ghcr.io/acme`},
		{"duplicate prefix", entry("{prefix: a, remoteurl: https://a}\n    - {prefix: a, remoteurl: https://b}\n"),
			`config: proxy.upstreams[1].prefix: duplicate value "a" (line 7), also in proxy.upstreams[0]`},
		{"upstream without remoteurl", entry("prefix: a\n"),
			`config: proxy.upstreams[0].remoteurl: missing, want the upstream's URL, e.g. https://registry-1.docker.io (line 6)`},
		{"upstream remoteurl not http", entry("prefix: a\n      remoteurl: ftp://a\n"),
			`config: proxy.upstreams[0].remoteurl: invalid value "ftp://a" (line 7), want an http or https URL without a path, e.g. https://registry-1.docker.io`},
		{"negative upstream ttl", entry("prefix: a\n      remoteurl: https://a\n      ttl: -1m\n"),
			`config: proxy.upstreams[0].ttl: invalid value "-1m0s" (line 8), want 0 or more`},
		{"negative proxy ttl", minimal + "proxy:\n  remoteurl: https://a\n  ttl: -1s\n",
			`config: proxy.ttl: invalid value "-1s" (line 6), want 0 or more`},
		{"unknown upstream key", entry("prefix: a\n      remoteurl: https://a\n      mirror: true\n"),
			`config: unknown key "proxy.upstreams[0].mirror" (line 8)`},
		{"upstreams not a list", minimal + "proxy:\n  upstreams:\n    prefix: a\n",
			`config: proxy.upstreams: want a list, got a mapping (line 6)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.yaml), nil)
			if err == nil || err.Error() != tt.err {
				t.Errorf("Load error\n got %v\nwant %s", err, tt.err)
			}
		})
	}
}
