package proxy_test

// Upstreams that are CNCF Distribution v3, run in-process: one behind
// bearer tokens from a token server of the test's own, one behind htpasswd.

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/proxy"
)

// startDistribution serves Distribution in memory with o's auth (not
// NoAuth: the counter leaves out requests without credentials).
func startDistribution(t *testing.T, o disttest.Options) *upstream {
	t.Helper()
	return serveCounted(t, disttest.New(t, o), true)
}

func creds(host, user, password string) client.Option {
	return client.WithCredentials(client.StaticCredentials{host: {Username: user, Password: password}})
}

// TestConcurrentPullsDistributionToken: the 50 concurrent pulls, from a
// Distribution upstream that wants bearer tokens.
func TestConcurrentPullsDistributionToken(t *testing.T) {
	up := startDistribution(t, disttest.Options{Auth: disttest.Token, Users: map[string]string{"alice": "secret"}})
	testConcurrentPulls(t, up, newClient(creds(up.host, "alice", "secret")), proxy.Upstream{Username: "alice", Password: "secret"})
}

// TestTwoUpstreamsByPrefix: two upstreams, each with its own credentials
// (bearer tokens for one, basic for the other), chosen by prefix; wrong
// credentials for an upstream give a 404 that says the upstream refused.
func TestTwoUpstreamsByPrefix(t *testing.T) {
	a := startDistribution(t, disttest.Options{Auth: disttest.Token, Users: map[string]string{"alice": "secret"}})
	b := startDistribution(t, disttest.Options{Auth: disttest.Htpasswd, Users: map[string]string{"bob": "hunter2"}})
	imA, imB := newImage(20, true, 2000), newImage(21, false, 3000)
	imA.push(t, newClient(creds(a.host, "alice", "secret")), mustRef(t, a.host+"/team/x:v1"))
	imB.push(t, newClient(creds(b.host, "bob", "hunter2")), mustRef(t, b.host+"/team/y:v1"))
	cache := startCache(t, []proxy.Upstream{
		{Prefix: "a.example", RemoteURL: a.URL, Username: "alice", Password: "secret", TTL: time.Hour},
		{Prefix: "b.example", RemoteURL: b.URL, Username: "bob", Password: "hunter2", TTL: time.Hour},
		{Prefix: "a.example/wrong", RemoteURL: a.URL, Username: "alice", Password: "nope"},
		{Prefix: "b.example/anonymous", RemoteURL: b.URL},
	})
	c := newClient()
	for ref, want := range map[string]*image{"a.example/team/x:v1": imA, "b.example/team/y:v1": imB} {
		if d, err := pull(t.Context(), c, mustRef(t, cache.Host+"/"+ref)); err != nil || d != want.top() {
			t.Errorf("pull %s: %s, %v; want %s", ref, d, err, want.top())
		}
	}
	for _, path := range []string{"a.example/wrong/team/x/manifests/v1", "b.example/anonymous/team/y/manifests/v1"} {
		code, _, e := get(t, "GET", cache.URL+"/v2/"+path)
		if code != 404 || e.Code != "MANIFEST_UNKNOWN" || !strings.Contains(e.Message, "refused access") {
			t.Errorf("GET %s: %d %+v, want 404 MANIFEST_UNKNOWN saying the upstream refused", path, code, e)
		}
	}
}
