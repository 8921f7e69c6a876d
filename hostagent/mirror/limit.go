package mirror

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/berth-registry/berth/registry/client"
)

// The per-registry limits of sync: a token bucket per API host bounds the
// requests per second (in the client's base transport, so retries, token
// requests to the registry's own host and every page of a list count), and
// a semaphore per registry bounds the blobs moving at once.

// tokenBucket lets rate requests a second through, in bursts of up to
// burst: golang.org/x/time/rate underneath. Each wait reserves a token at
// once, so waiters are served in arrival order.
type tokenBucket struct {
	lim *rate.Limiter
}

func newTokenBucket(rps float64, burst int) *tokenBucket {
	return &tokenBucket{lim: rate.NewLimiter(rate.Limit(rps), max(burst, 1))}
}

// wait takes a token, sleeping until one is due or ctx ends; then the
// reservation is given back and ctx's error returned.
func (b *tokenBucket) wait(ctx context.Context) error {
	r := b.lim.Reserve()
	delay := r.Delay()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// syncLimits holds the limits of every registry for one configuration.
type syncLimits struct {
	cfg map[string]Registry // by registry name, defaults filled in

	mu      sync.Mutex
	slots   map[string]chan struct{}
	buckets map[string]*tokenBucket // by API host
}

func newSyncLimits(registries map[string]Registry) *syncLimits {
	l := &syncLimits{cfg: registries, slots: map[string]chan struct{}{}, buckets: map[string]*tokenBucket{}}
	for name, r := range registries {
		if r.RPS > 0 {
			l.buckets[client.APIHost(name)] = newTokenBucket(r.RPS, r.Burst)
		}
	}
	return l
}

// registry returns the settings of a registry ("" is the store: no limit).
func (l *syncLimits) registry(name string) Registry {
	if r, ok := l.cfg[name]; ok {
		return r
	}
	return Registry{}.withDefaults()
}

// concurrency is how many images a rule between src and dst copies at
// once: the lower of the two registries' concurrency.
func (l *syncLimits) concurrency(src, dst string) int {
	n := 0
	for _, r := range []string{src, dst} {
		if r != "" {
			c := l.registry(r).Concurrency
			if n == 0 || c < n {
				n = c
			}
		}
	}
	return max(n, 1)
}

// acquire takes a transfer slot on each named registry (in a fixed order,
// so that two transfers never wait on each other) and returns their
// release.
func (l *syncLimits) acquire(ctx context.Context, registries ...string) (release func(), err error) {
	names := slices.Compact(slices.Sorted(slices.Values(registries)))
	var held []chan struct{}
	release = func() {
		for _, s := range held {
			<-s
		}
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		s := l.slot(name)
		select {
		case s <- struct{}{}:
			held = append(held, s)
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

func (l *syncLimits) slot(name string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[name]
	if !ok {
		s = make(chan struct{}, l.registry(name).Concurrency)
		l.slots[name] = s
	}
	return s
}

// insecure lists the registries configured for plain HTTP.
func (l *syncLimits) insecure() []string {
	var hosts []string
	for name, r := range l.cfg {
		if r.Insecure {
			hosts = append(hosts, name, client.APIHost(name))
		}
	}
	return hosts
}

// rateTransport waits for a token of the request's host before sending it.
type rateTransport struct {
	next   http.RoundTripper
	limits *syncLimits
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if b := t.limits.buckets[req.URL.Host]; b != nil {
		if err := b.wait(req.Context()); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	return t.next.RoundTrip(req)
}
