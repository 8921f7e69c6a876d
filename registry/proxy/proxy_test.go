package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/proxy"
)

// concurrentPulls is how many clients pull one uncached image at once.
const concurrentPulls = 50

// testConcurrentPulls: 50 clients pull an uncached image (an index, its
// manifest, a config and three layers, one of 1 MiB) through the cache at
// once; the upstream sees exactly one GET per manifest and per blob. A
// second round of pulls costs the upstream nothing.
func testConcurrentPulls(t *testing.T, up *upstream, pusher *client.Client, cred proxy.Upstream) {
	im := newImage(1, true, 1<<20, 200<<10, 10)
	im.push(t, pusher, mustRef(t, up.host+"/library/app:v1"))
	cred.Prefix, cred.RemoteURL, cred.TTL = "hub", up.URL, time.Hour
	cache := startCache(t, []proxy.Upstream{cred})
	up.counts.take()

	ref := mustRef(t, cache.Host+"/hub/library/app:v1")
	round := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				d, err := pull(t.Context(), newClient(), ref)
				if err == nil && d != im.top() {
					err = errors.New("pulled " + d.String() + ", want " + im.top().String())
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("pull through the cache: %v", err)
			}
		}
	}
	round(concurrentPulls)
	first := up.counts.take()
	sameCounts(t, "50 concurrent pulls of an uncached image", first, im.fetches("library/app", "v1"))
	t.Logf("upstream requests for %d concurrent pulls: %v", concurrentPulls, first)

	round(10)
	round(1)
	sameCounts(t, "pulls of a cached image", up.counts.take(), map[string]int{})
}

func TestConcurrentPullsBerth(t *testing.T) {
	up := startBerth(t)
	testConcurrentPulls(t, up, newClient(), proxy.Upstream{})
}

// TestPullThroughTTL: past the TTL, many concurrent pulls of a cached tag
// cost one HEAD upstream; a tag that moved is fetched anew, by digest.
func TestPullThroughTTL(t *testing.T) {
	up := startBerth(t)
	upRef := mustRef(t, up.host+"/team/app:latest")
	old := newImage(2, false, 1000)
	old.push(t, newClient(), upRef)
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL, TTL: time.Hour}})
	ref := mustRef(t, cache.Host+"/up/team/app:latest")
	if _, err := pull(t.Context(), newClient(), ref); err != nil {
		t.Fatal(err)
	}
	up.counts.take()

	manifests := func(n int) []digest.Digest {
		var wg sync.WaitGroup
		got := make([]digest.Digest, n)
		for i := range n {
			wg.Go(func() {
				m, err := newClient().ManifestGet(t.Context(), ref)
				if err != nil {
					t.Errorf("manifest: %v", err)
					return
				}
				got[i] = m.Descriptor.Digest
			})
		}
		wg.Wait()
		return got
	}
	cache.clock.Advance(59 * time.Minute)
	manifests(5)
	sameCounts(t, "within the ttl", up.counts.take(), map[string]int{})

	cache.clock.Advance(2 * time.Minute)
	for _, d := range manifests(20) {
		if d != old.top() {
			t.Errorf("manifest %s, want %s", d, old.top())
		}
	}
	sameCounts(t, "20 pulls past the ttl", up.counts.take(), map[string]int{"HEAD /v2/team/app/manifests/latest": 1})
	manifests(5)
	sameCounts(t, "pulls after the re-check", up.counts.take(), map[string]int{})

	moved := newImage(3, false, 1000)
	moved.push(t, newClient(), upRef)
	up.counts.take()
	cache.clock.Advance(2 * time.Hour)
	if d, err := pull(t.Context(), newClient(), ref); err != nil || d != moved.top() {
		t.Fatalf("pull of the moved tag: %s, %v; want %s", d, err, moved.top())
	}
	sameCounts(t, "a tag that moved", up.counts.take(), map[string]int{
		"HEAD /v2/team/app/manifests/latest":                                   1,
		"GET /v2/team/app/manifests/" + moved.top().String():                   1,
		"GET /v2/team/app/blobs/" + digest.FromBytes(moved.config).String():    1,
		"GET /v2/team/app/blobs/" + digest.FromBytes(moved.layers[0]).String(): 1,
	})
}

// TestUpstreamDown: with the upstream stopped, what is cached is still
// served, tags past their TTL too (with a log line); what is not cached
// fails with 503 UNAVAILABLE naming the upstream. Before that, what the
// upstream does not have is 404 naming the upstream.
func TestUpstreamDown(t *testing.T) {
	up := startBerth(t)
	im := newImage(4, true, 5000)
	im.push(t, newClient(), mustRef(t, up.host+"/team/app:v1"))
	other := newImage(5, false, 100)
	other.push(t, newClient(), mustRef(t, up.host+"/team/other:v1"))
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL, TTL: time.Hour}})
	ref := mustRef(t, cache.Host+"/up/team/app:v1")
	if _, err := pull(t.Context(), newClient(), ref); err != nil {
		t.Fatal(err)
	}
	base := cache.URL + "/v2/up/team/"
	if code, _, e := get(t, "GET", base+"app/manifests/nope"); code != 404 || e.Code != "MANIFEST_UNKNOWN" || !strings.Contains(e.Message, up.URL) {
		t.Errorf("tag unknown upstream: %d %+v, want 404 MANIFEST_UNKNOWN naming %s", code, e, up.URL)
	}

	up.Close()
	for _, advance := range []time.Duration{0, 2 * time.Hour} {
		cache.clock.Advance(advance)
		if d, err := pull(t.Context(), newClient(), ref); err != nil || d != im.top() {
			t.Errorf("cached pull %v later with the upstream down: %s, %v", advance, d, err)
		}
	}
	if !strings.Contains(cache.log.String(), "serving a cached tag past its ttl") {
		t.Errorf("no log line for the stale tag; log:\n%s", cache.log)
	}
	if code, body, _ := get(t, "GET", base+"app/tags/list"); code != 200 || !strings.Contains(string(body), `"v1"`) {
		t.Errorf("tag list with the upstream down: %d %s", code, body)
	}
	for _, path := range []string{
		"other/manifests/v1",
		"other/manifests/" + other.top().String(),
		"other/blobs/" + digest.FromBytes(other.layers[0]).String(),
	} {
		code, _, e := get(t, "GET", base+path)
		if code != http.StatusServiceUnavailable || e.Code != "UNAVAILABLE" || !strings.Contains(e.Message, up.URL) {
			t.Errorf("GET %s, not cached, upstream down: %d %+v; want 503 UNAVAILABLE naming %s", path, code, e, up.URL)
		}
	}
}

// TestPushes: a repository outside the proxied prefixes takes pushes and
// serves them; one inside refuses them with 405 UNSUPPORTED.
func TestPushes(t *testing.T) {
	up := startBerth(t)
	cache := startCache(t, []proxy.Upstream{{Prefix: "docker.io", RemoteURL: up.URL, TTL: time.Hour}})
	c := newClient()
	im := newImage(6, true, 3000)
	mine := mustRef(t, cache.Host+"/mine/app:v1")
	im.push(t, c, mine)
	if d, err := pull(t.Context(), c, mine); err != nil || d != im.top() {
		t.Errorf("pull of a pushed image: %s, %v", d, err)
	}
	err := c.BlobPut(t.Context(), mustRef(t, cache.Host+"/docker.io/library/app:v1"), blobDesc([]byte("x")), strings.NewReader("x"))
	if !errors.Is(err, client.ErrUnsupported) {
		t.Errorf("push into the cache: %v, want ErrUnsupported", err)
	}
	for _, path := range []string{"docker.io/library/app/manifests/v1", "docker.io/blobs/uploads/"} {
		method := "PUT"
		if strings.HasSuffix(path, "/") {
			method = "POST"
		}
		if code, _, e := get(t, method, cache.URL+"/v2/"+path); code != 405 || e.Code != "UNSUPPORTED" || !strings.Contains(e.Message, "pull-through cache") {
			t.Errorf("%s %s: %d %+v, want 405 UNSUPPORTED", method, path, code, e)
		}
	}
	if n := up.counts.take(); len(n) != 0 {
		t.Errorf("pushes reached the upstream: %v", n)
	}
}

// TestStreamsBeforeUpstreamCompletes: the first bytes of a blob reach the
// client while the upstream is still sending it; a client that arrives in
// the middle gets the whole blob from the same transfer.
func TestStreamsBeforeUpstreamCompletes(t *testing.T) {
	up := startBerth(t)
	im := newImage(7, false, 4<<20)
	im.push(t, newClient(), mustRef(t, up.host+"/team/app:v1"))
	up.counts.take()
	layer := im.layers[0]
	d := digest.FromBytes(layer)
	release := make(chan struct{})
	half := len(layer) / 2
	up.counts.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(layer)))
		w.Header().Set("Docker-Content-Digest", d.String())
		_, _ = w.Write(layer[:half])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return true
		}
		_, _ = w.Write(layer[half:])
		return true
	})
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL, TTL: time.Hour}})
	url := cache.URL + "/v2/up/team/app/blobs/" + d.String()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	open := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET blob: %v %v", resp, err)
		}
		return resp
	}
	first := open()
	defer first.Body.Close()
	got := make([]byte, half)
	if _, err := io.ReadFull(first.Body, got); err != nil || !bytes.Equal(got, layer[:half]) {
		t.Fatalf("first half, upstream still sending: %v", err)
	}
	second := open()
	defer second.Body.Close()
	close(release)
	for i, resp := range []*http.Response{first, second} {
		rest, err := io.ReadAll(resp.Body)
		if i == 0 {
			rest = append(got, rest...)
		}
		if err != nil || !bytes.Equal(rest, layer) {
			t.Errorf("client %d: %d bytes, %v", i+1, len(rest), err)
		}
	}
	sameCounts(t, "two clients of one transfer", up.counts.take(), map[string]int{"GET /v2/team/app/blobs/" + d.String(): 1})
}

// TestCorruptUpstream: a blob whose bytes do not match its digest never
// reaches a client whole and is not cached; the next request fetches it
// again.
func TestCorruptUpstream(t *testing.T) {
	up := startBerth(t)
	im := newImage(8, false, 300<<10)
	im.push(t, newClient(), mustRef(t, up.host+"/team/app:v1"))
	up.counts.take()
	layer := im.layers[0]
	d := digest.FromBytes(layer)
	up.counts.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		bad := bytes.Clone(layer)
		bad[len(bad)-1]++
		w.Header().Set("Content-Length", strconv.Itoa(len(bad)))
		_, _ = w.Write(bad)
		return true
	})
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL, TTL: time.Hour}})
	url := cache.URL + "/v2/up/team/app/blobs/" + d.String()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && bytes.Equal(body, layer) || len(body) >= len(layer) {
		t.Fatalf("corrupt blob: %d, %d bytes, %v; want the body cut short", resp.StatusCode, len(body), err)
	}
	up.counts.setIntercept(nil)
	code, body, _ := get(t, "GET", url)
	if code != 200 || !bytes.Equal(body, layer) {
		t.Errorf("after the upstream recovered: %d, %d bytes", code, len(body))
	}
	sameCounts(t, "a corrupt then a good transfer", up.counts.take(), map[string]int{"GET /v2/team/app/blobs/" + d.String(): 2})
}

// TestHeadBlob: HEAD of an uncached blob asks the upstream with a HEAD and
// transfers nothing.
func TestHeadBlob(t *testing.T) {
	up := startBerth(t)
	im := newImage(9, false, 12345)
	im.push(t, newClient(), mustRef(t, up.host+"/team/app:v1"))
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL}})
	up.counts.take()
	d := digest.FromBytes(im.layers[0])
	resp, err := http.Head(cache.URL + "/v2/up/team/app/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 12345 || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	sameCounts(t, "HEAD of a blob", up.counts.take(), map[string]int{"HEAD /v2/team/app/blobs/" + d.String(): 1})
}

// TestCatchAll: Distribution's single remoteurl proxies every repository
// under its own name, and no repository takes pushes.
func TestCatchAll(t *testing.T) {
	up := startBerth(t)
	im := newImage(10, false, 100)
	im.push(t, newClient(), mustRef(t, up.host+"/library/app:v1"))
	cache := startCache(t, []proxy.Upstream{{RemoteURL: up.URL}})
	if d, err := pull(t.Context(), newClient(), mustRef(t, cache.Host+"/library/app:v1")); err != nil || d != im.top() {
		t.Errorf("pull: %s, %v", d, err)
	}
	if code, _, e := get(t, "POST", cache.URL+"/v2/anything/blobs/uploads/"); code != 405 || e.Code != "UNSUPPORTED" {
		t.Errorf("push: %d %+v, want 405 UNSUPPORTED", code, e)
	}
	// A delete evicts: the next pull fetches the manifest again.
	if code, _, e := get(t, "DELETE", cache.URL+"/v2/library/app/manifests/"+im.top().String()); code != 202 {
		t.Fatalf("delete from the cache: %d %+v", code, e)
	}
	up.counts.take()
	if d, err := pull(t.Context(), newClient(), mustRef(t, cache.Host+"/library/app:v1")); err != nil || d != im.top() {
		t.Errorf("pull after the delete: %s, %v", d, err)
	}
	sameCounts(t, "pull after a delete", up.counts.take(), map[string]int{"GET /v2/library/app/manifests/v1": 1})
}

// TestAllClientsLeave: when the only client leaves in the middle, the
// upstream transfer is cancelled, nothing is cached, and the next request
// starts a new transfer.
func TestAllClientsLeave(t *testing.T) {
	up := startBerth(t)
	im := newImage(11, false, 1<<20)
	im.push(t, newClient(), mustRef(t, up.host+"/team/app:v1"))
	up.counts.take()
	layer := im.layers[0]
	d := digest.FromBytes(layer)
	abandoned := make(chan struct{})
	var once sync.Once
	up.counts.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		first := false
		once.Do(func() { first = true })
		if !first || r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(layer)))
		_, _ = w.Write(layer[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never sends the rest: the cache must give up
		close(abandoned)
		return true
	})
	cache := startCache(t, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL}})
	url := cache.URL + "/v2/up/team/app/blobs/" + d.String()

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-abandoned:
	case <-time.After(time.Minute):
		t.Fatal("the upstream transfer went on after its only client left")
	}
	code, body, _ := get(t, "GET", url)
	if code != 200 || !bytes.Equal(body, layer) {
		t.Errorf("next request: %d, %d bytes", code, len(body))
	}
	sameCounts(t, "an abandoned then a complete transfer", up.counts.take(), map[string]int{"GET /v2/team/app/blobs/" + d.String(): 2})
}
