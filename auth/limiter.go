package auth

import (
	"sync"
	"time"
)

// Defaults of the failed-login limiter: 10 failures at once, then one more
// every 6 seconds (600 an hour) per client address.
const (
	DefaultLoginBurst = 10
	DefaultLoginEvery = 6 * time.Second
)

// maxBuckets bounds the addresses tracked; past it, addresses whose bucket
// is full again are forgotten, and new ones share one bucket.
const maxBuckets = 16384

// Limiter counts failed logins per client address in token buckets: each
// failure takes a token, tokens come back one per interval up to the
// burst, and an address without a token may not try a password.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter allows burst failed logins from one address, then one per
// every. burst <= 0 disables limiting.
func NewLimiter(burst int, every time.Duration) *Limiter {
	return &Limiter{burst: float64(burst), every: every, now: time.Now, buckets: map[string]*bucket{}}
}

// refill brings b up to date and returns it.
func (l *Limiter) refill(b *bucket, now time.Time) *bucket {
	if l.every > 0 {
		b.tokens += float64(now.Sub(b.at)) / float64(l.every)
	}
	b.tokens = min(b.tokens, l.burst)
	b.at = now
	return b
}

// lookup returns the bucket of key, creating a full one; called with mu.
func (l *Limiter) lookup(key string, now time.Time) *bucket {
	if b, ok := l.buckets[key]; ok {
		return l.refill(b, now)
	}
	if len(l.buckets) >= maxBuckets {
		for k, b := range l.buckets {
			if l.refill(b, now).tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
		if len(l.buckets) >= maxBuckets {
			key = "\x00overflow"
			if b, ok := l.buckets[key]; ok {
				return l.refill(b, now)
			}
		}
	}
	b := &bucket{tokens: l.burst, at: now}
	l.buckets[key] = b
	return b
}

// Allow reports whether key may try a password now, and if not, how long
// until it may.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.burst <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.lookup(key, l.now())
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// Fail records a failed login from key.
func (l *Limiter) Fail(key string) {
	if l == nil || l.burst <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.lookup(key, l.now())
	b.tokens = max(b.tokens-1, 0)
}
