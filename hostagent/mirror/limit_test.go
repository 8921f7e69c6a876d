package mirror

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(50, 5) // a token every 20ms after a burst of 5
	start := time.Now()
	for range 5 {
		if err := b.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 60*time.Millisecond { // without the burst: 80ms
		t.Errorf("the burst waited %s", d)
	}
	for range 5 {
		if err := b.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// 5 more tokens at 50/s take 100ms (less a little refill).
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("10 requests at 50/s with a burst of 5 took %s, want about 100ms", d)
	}
	// A waiter whose context ends gives its reservation back.
	slow := newTokenBucket(1, 1)
	_ = slow.wait(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := slow.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: %v", err)
	}
	if tokens := slow.lim.Tokens(); tokens < -0.5 {
		t.Errorf("reservation not returned: %v tokens", tokens)
	}
}

func TestRateTransport(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	l := newSyncLimits(map[string]Registry{host: Registry{RPS: 20, Burst: 1}.withDefaults()})
	c := &http.Client{Transport: &rateTransport{next: http.DefaultTransport, limits: l}}
	start := time.Now()
	for range 5 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("5 requests at 20/s, burst 1, took %s; want at least 200ms", d)
	}
	// Another host is not limited.
	u, _ := url.Parse(srv.URL)
	u.Host = "localhost:" + u.Port()
	start = time.Now()
	for range 5 {
		resp, err := c.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("an unlimited host waited %s", d)
	}
}

func TestSyncLimitsSlots(t *testing.T) {
	l := newSyncLimits(map[string]Registry{
		"a.example.com": Registry{Concurrency: 2}.withDefaults(),
		"b.example.com": Registry{Concurrency: 3}.withDefaults(),
	})
	if got := l.concurrency("a.example.com", "b.example.com"); got != 2 {
		t.Errorf("concurrency(a, b) = %d, want 2", got)
	}
	if got := l.concurrency("", "b.example.com"); got != 3 {
		t.Errorf("concurrency(store, b) = %d, want 3", got)
	}
	if got := l.concurrency("", "c.example.com"); got != DefaultConcurrency {
		t.Errorf("concurrency(store, unlisted) = %d, want %d", got, DefaultConcurrency)
	}
	// Transfers from a to b and from b to a, many at once: never more
	// than a's 2 hold a's slots, and none waits on another forever.
	var inA, maxA atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			regs := []string{"a.example.com", "b.example.com"}
			if i%2 == 1 {
				regs[0], regs[1] = regs[1], regs[0]
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			release, err := l.acquire(ctx, append(regs, regs[0], "")...)
			if err != nil {
				t.Error(err)
				return
			}
			now := inA.Add(1)
			for {
				m := maxA.Load()
				if now <= m || maxA.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inA.Add(-1)
			release()
		}()
	}
	wg.Wait()
	if m := maxA.Load(); m != 2 {
		t.Errorf("at most %d transfers held a's slots at once, want 2", m)
	}
	// A waiter whose context ends gets an error and holds nothing.
	r1, _ := l.acquire(t.Context(), "a.example.com")
	r2, _ := l.acquire(t.Context(), "a.example.com")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, "b.example.com", "a.example.com"); err == nil {
		t.Error("acquire past the deadline succeeded")
	}
	r1()
	r2()
	if n := len(l.slot("b.example.com")); n != 0 {
		t.Errorf("a failed acquire kept %d of b's slots", n)
	}
}
