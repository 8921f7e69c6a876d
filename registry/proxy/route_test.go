package proxy

import (
	"testing"

	"github.com/berth-registry/berth/storagedriver/inmemory"
)

func TestRoute(t *testing.T) {
	c, err := New(inmemory.New(), []Upstream{
		{Prefix: "docker.io", RemoteURL: "https://registry-1.docker.io"},
		{Prefix: "ghcr.io", RemoteURL: "https://ghcr.io"},
		{Prefix: "ghcr.io/acme", RemoteURL: "https://ghcr.io"},
		{Prefix: "local", RemoteURL: "http://127.0.0.1:5000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, repo string
		proxied, routed  bool
	}{
		{"docker.io/library/ubuntu", "registry-1.docker.io", "library/ubuntu", true, true},
		{"docker.io/ubuntu", "registry-1.docker.io", "library/ubuntu", true, true}, // Docker Hub's library/
		{"ghcr.io/org/app", "ghcr.io", "org/app", true, true},
		{"ghcr.io/ubuntu", "ghcr.io", "ubuntu", true, true}, // library/ only on Docker Hub
		{"ghcr.io/acme/app", "ghcr.io", "app", true, true},  // the longest prefix wins
		{"local/a/b", "127.0.0.1:5000", "a/b", true, true},
		{"docker.io", "", "", true, false}, // the prefix itself: no upstream repository, no pushes
		{"docker.iox/app", "", "", false, false},
		{"mine/app", "", "", false, false},
	}
	for _, tt := range tests {
		_, proxied := c.Upstream(tt.name)
		u, ref, routed := c.route(tt.name)
		host := ""
		if routed {
			host = u.host
		}
		if proxied != tt.proxied || routed != tt.routed || host != tt.host || ref.Repository != tt.repo || (routed && ref.Registry != tt.host) {
			t.Errorf("%s: proxied %v, routed %v to %s/%s; want %v, %v to %s/%s",
				tt.name, proxied, routed, ref.Registry, ref.Repository, tt.proxied, tt.routed, tt.host, tt.repo)
		}
	}

	all, err := New(inmemory.New(), []Upstream{{RemoteURL: "https://mirror.example.com"}, {Prefix: "gh", RemoteURL: "https://ghcr.io"}})
	if err != nil {
		t.Fatal(err)
	}
	if u, ref, ok := all.route("team/app"); !ok || u.host != "mirror.example.com" || ref.Repository != "team/app" {
		t.Errorf("catch-all: %v %+v", ok, ref)
	}
	if u, ref, ok := all.route("gh/team/app"); !ok || u.host != "ghcr.io" || ref.Repository != "team/app" {
		t.Errorf("prefix before the catch-all: %v %+v", ok, ref)
	}
}

func TestNewRefuses(t *testing.T) {
	for name, ups := range map[string][]Upstream{
		"no upstream":      nil,
		"bad prefix":       {{Prefix: "Docker.io", RemoteURL: "https://r"}},
		"duplicate prefix": {{Prefix: "a", RemoteURL: "https://r"}, {Prefix: "a", RemoteURL: "https://s"}},
		"url without host": {{RemoteURL: "https://"}},
		"url with a path":  {{RemoteURL: "https://r/v2"}},
		"ftp url":          {{RemoteURL: "ftp://r"}},
		"negative ttl":     {{RemoteURL: "https://r", TTL: -1}},
	} {
		if _, err := New(inmemory.New(), ups); err == nil {
			t.Errorf("%s: New accepted %+v", name, ups)
		}
	}
}
