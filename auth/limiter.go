package auth

import (
	"context"
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
// is full again and idle are forgotten, and new ones share one bucket.
const maxBuckets = 16384

// maxLoginChecks bounds the password checks that run at once per address:
// a burst of guesses costs its bcrypt runs one or two at a time, not all
// at once.
const maxLoginChecks = 2

// maxLoginWaiters bounds the password checks that wait per address (for a
// free check, or for running ones to hand their token back); past it an
// address gets 429 at once.
const maxLoginWaiters = 64

// Limiter counts failed logins per client address in token buckets. A
// password check takes a token before it runs and gives it back when the
// password was right, so only failures use tokens up; tokens come back
// one per interval up to the burst. Because the token is taken before the
// check, concurrent guesses cannot all pass a "tokens left?" test before
// the first failure is counted: at most burst checks ever run for a full
// bucket.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens  float64
	at      time.Time
	running int           // checks holding a token
	waiting int           // checks waiting in begin
	changed chan struct{} // closed, and replaced, when a check ends
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
			if l.refill(b, now).tokens >= l.burst && b.running == 0 && b.waiting == 0 {
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
	b := &bucket{tokens: l.burst, at: now, changed: make(chan struct{})}
	l.buckets[key] = b
	return b
}

// loginCheck is one password check admitted by begin; end reports its
// outcome.
type loginCheck struct {
	l *Limiter
	b *bucket
}

// begin admits one password check from key, taking a token for it. It
// waits while maxLoginChecks checks from key run, or while the bucket is
// empty but running checks may still hand their tokens back. It returns a
// 429 *Challenge when key has no token left (and none is about to come
// back) or too many checks wait, and ctx's error when ctx ends first.
func (l *Limiter) begin(ctx context.Context, key string) (*loginCheck, error) {
	if l == nil || l.burst <= 0 {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var waitedOn *bucket
	defer func() {
		if waitedOn != nil {
			waitedOn.waiting--
		}
	}()
	for {
		b := l.lookup(key, l.now())
		switch {
		case b.tokens >= 1 && b.running < maxLoginChecks:
			b.tokens--
			b.running++
			return &loginCheck{l: l, b: b}, nil
		case b.tokens < 1 && b.running == 0:
			return nil, tooMany(time.Duration((1 - b.tokens) * float64(l.every)))
		case waitedOn == nil && b.waiting >= maxLoginWaiters:
			return nil, tooMany(max(time.Duration((1-b.tokens)*float64(l.every)), time.Second))
		}
		if waitedOn == nil {
			waitedOn = b
			b.waiting++ // keeps b in the map while we wait
		}
		changed := b.changed
		l.mu.Unlock()
		select {
		case <-changed:
			l.mu.Lock()
		case <-ctx.Done():
			l.mu.Lock()
			return nil, ctx.Err()
		}
	}
}

// end records the outcome of the check: a right password gives its token
// back, a wrong one keeps it used. Waiting checks are woken either way.
func (c *loginCheck) end(passwordOK bool) {
	if c == nil {
		return
	}
	l, b := c.l, c.b
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(b, l.now())
	if passwordOK {
		b.tokens = min(b.tokens+1, l.burst)
	}
	b.running--
	close(b.changed)
	b.changed = make(chan struct{})
}
