package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// allow reports whether a check from key may start now, ending it
// (failed or not) at once; wait is the 429's Retry-After.
func allow(t *testing.T, l *Limiter, key string, passwordOK bool) (ok bool, wait time.Duration) {
	t.Helper()
	c, err := l.begin(t.Context(), key)
	if err != nil {
		return false, challengeOf(t, err).RetryAfter
	}
	c.end(passwordOK)
	return true, 0
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := NewLimiter(3, 10*time.Second)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := allow(t, l, "a", false); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, wait := allow(t, l, "a", true)
	if ok || wait != 10*time.Second {
		t.Fatalf("after the burst: %v, wait %v; want refused for 10s", ok, wait)
	}
	if ok, _ := allow(t, l, "b", false); !ok {
		t.Fatal("another address was refused")
	}
	now = now.Add(5 * time.Second)
	if ok, wait := allow(t, l, "a", true); ok || wait != 5*time.Second {
		t.Fatalf("half way: %v, wait %v", ok, wait)
	}
	now = now.Add(5 * time.Second)
	if ok, _ := allow(t, l, "a", false); !ok {
		t.Fatal("still refused after an interval")
	}
	if ok, _ := allow(t, l, "a", true); ok {
		t.Fatal("a second failure right after the refill was allowed")
	}

	// Right passwords give their token back: any number pass, and the
	// failures that follow still have the whole burst.
	now = now.Add(time.Hour)
	for i := range 10 {
		if ok, _ := allow(t, l, "a", true); !ok {
			t.Fatalf("right password %d refused", i+1)
		}
	}
	for i := range 3 {
		if ok, _ := allow(t, l, "a", false); !ok {
			t.Fatalf("failure %d after right passwords refused", i+1)
		}
	}
	if ok, _ := allow(t, l, "a", true); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}

	var off *Limiter
	if ok, _ := allow(t, off, "a", false); !ok {
		t.Error("a nil limiter refused")
	}
}

// TestLimiterWaits: checks past maxLoginChecks wait for a running one;
// with the bucket empty they wait while a running check may still give its
// token back, and get 429 once none will; a cancelled wait returns the
// context's error.
func TestLimiterWaits(t *testing.T) {
	l := NewLimiter(maxLoginChecks+1, time.Hour)
	var running []*loginCheck
	for range maxLoginChecks {
		c, err := l.begin(t.Context(), "a")
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, c)
	}
	got := make(chan error, 1)
	go func() {
		c, err := l.begin(t.Context(), "a")
		c.end(false)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a check past maxLoginChecks started at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	running[0].end(true) // right password: its token comes back
	if err := <-got; err != nil {
		t.Fatalf("the waiting check: %v", err)
	}
	// Tokens: 1 left, one check running. The next takes the last token;
	// another waits on both.
	last, err := l.begin(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := l.begin(t.Context(), "a")
		c.end(false)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	running[1].end(true)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("a token handed back was not taken: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting check did not take the token handed back")
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, err := l.begin(ctx, "a")
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	last.end(false)
	// Empty and nothing running: 429 at once.
	if _, err := l.begin(t.Context(), "a"); challengeOf(t, err).Status != http.StatusTooManyRequests {
		t.Fatalf("empty bucket: %v", err)
	}
	if n := l.buckets["a"].waiting; n != 0 {
		t.Errorf("%d waiters counted after all left", n)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := NewLimiter(2, time.Hour)
	for i := range maxBuckets + 100 {
		allow(t, l, fmt.Sprint(i), false)
	}
	if n := len(l.buckets); n > maxBuckets+1 {
		t.Errorf("%d buckets, want at most %d", n, maxBuckets+1)
	}
	// Addresses that only logged in successfully are forgotten first.
	l = NewLimiter(2, time.Hour)
	for i := range maxBuckets + 100 {
		allow(t, l, fmt.Sprint(i), true)
	}
	if _, ok := l.buckets["\x00overflow"]; ok || len(l.buckets) > maxBuckets {
		t.Errorf("%d buckets after successful logins only; the overflow bucket is in use", len(l.buckets))
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5000":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:443":  "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if got := clientKey(r); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", addr, got, want)
		}
	}
}

// bcryptMeter counts the bcrypt comparisons of a Users and the most that
// ran at once.
type bcryptMeter struct {
	mu             sync.Mutex
	runs, now, max int
}

func meterBcrypt(u *Users) *bcryptMeter {
	m := &bcryptMeter{}
	u.onBcrypt = func() func() {
		m.mu.Lock()
		m.runs++
		m.now++
		m.max = max(m.max, m.now)
		m.mu.Unlock()
		return func() {
			m.mu.Lock()
			m.now--
			m.mu.Unlock()
		}
	}
	return m
}

func (m *bcryptMeter) read() (runs, most int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs, m.max
}

// TestLoginLimiterConcurrent: 100 wrong passwords sent at once from one
// address, on each path that checks a password, reach bcrypt at most
// burst times and at most maxLoginChecks at a time; the others get 429
// with Retry-After. The limiter is real, and so is bcrypt (at a cost that
// makes a comparison take milliseconds, so the requests overlap).
func TestLoginLimiterConcurrent(t *testing.T) {
	const burst, attempts = 10, 100
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-a"), 8)
	if err != nil {
		t.Fatal(err)
	}
	paths := []struct {
		name string
		try  func(users *Users, limiter *Limiter, remote, password string) (int, http.Header)
	}{
		{"basic auth", func(users *Users, limiter *Limiter, remote, password string) (int, http.Header) {
			b, err := NewBasic("r", users, nil, limiter, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/v2/", nil)
			r.RemoteAddr = remote
			r.SetBasicAuth("alice", password)
			h := http.Header{}
			if _, err := b.Authorize(r.Context(), r); err != nil {
				ch := challengeOf(t, err)
				ch.SetHeaders(h)
				return ch.Status, h
			}
			return http.StatusOK, h
		}},
		{"token GET", func(users *Users, limiter *Limiter, remote, password string) (int, http.Header) {
			r := httptest.NewRequest("GET", "/auth/token?service=svc&scope=repository:a:pull", nil)
			r.RemoteAddr = remote
			r.SetBasicAuth("alice", password)
			return serveToken(t, users, limiter, r)
		}},
		{"token POST password grant", func(users *Users, limiter *Limiter, remote, password string) (int, http.Header) {
			r := post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
			r.RemoteAddr = remote
			return serveToken(t, users, limiter, r)
		}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			users, _ := openUsers(t, "alice:"+string(hash)+"\n")
			meter := meterBcrypt(users)
			limiter := NewLimiter(burst, time.Minute)
			const attacker = "192.0.2.1:40000"

			var wg sync.WaitGroup
			start := make(chan struct{})
			codes := make([]int, attempts)
			retry := make([]string, attempts)
			for i := range attempts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					var h http.Header
					codes[i], h = p.try(users, limiter, attacker, fmt.Sprint("guess-", i))
					retry[i] = h.Get("Retry-After")
				}()
			}
			close(start)
			wg.Wait()

			runs, most := meter.read()
			count := map[int]int{}
			for i, c := range codes {
				count[c]++
				if c == http.StatusTooManyRequests && retry[i] == "" {
					t.Errorf("attempt %d: 429 without Retry-After", i)
				}
			}
			t.Logf("%d concurrent wrong passwords: %d bcrypt runs (at most %d at once), answers %v", attempts, runs, most, count)
			if runs > burst {
				t.Errorf("%d bcrypt runs, want at most the burst (%d)", runs, burst)
			}
			if most > maxLoginChecks {
				t.Errorf("%d bcrypt runs at once from one address, want at most %d", most, maxLoginChecks)
			}
			if count[http.StatusUnauthorized] != runs || count[http.StatusTooManyRequests] != attempts-runs {
				t.Errorf("answers %v: want one 401 per bcrypt run (%d), 429 for the rest", count, runs)
			}
			// The attacker's address is held back, even with the password;
			// another address is not.
			if c, _ := p.try(users, limiter, attacker, "pw-a"); c != http.StatusTooManyRequests {
				t.Errorf("the right password from the attacker's address: %d, want 429", c)
			}
			if c, _ := p.try(users, limiter, "198.51.100.7:1", "pw-a"); c != http.StatusOK {
				t.Errorf("the right password from another address: %d, want 200", c)
			}
		})
		// A client that opens with many parallel requests, each with the
		// right password: every one passes (more than the burst, since
		// right passwords give their token back), and those that waited
		// find the password verified, so bcrypt runs at most once per
		// check slot.
		t.Run(p.name+"/right password in parallel", func(t *testing.T) {
			users, _ := openUsers(t, "alice:"+string(hash)+"\n")
			meter := meterBcrypt(users)
			limiter := NewLimiter(burst, time.Minute)
			const n = 3 * burst
			var wg sync.WaitGroup
			start := make(chan struct{})
			codes := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					codes[i], _ = p.try(users, limiter, "192.0.2.2:1", "pw-a")
				}()
			}
			close(start)
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusOK {
					t.Errorf("request %d: %d, want 200", i, c)
				}
			}
			if runs, _ := meter.read(); runs > maxLoginChecks {
				t.Errorf("%d bcrypt runs for one password sent %d times at once, want at most %d", runs, n, maxLoginChecks)
			}
		})
	}
}

func serveToken(t *testing.T, users *Users, limiter *Limiter, r *http.Request) (int, http.Header) {
	t.Helper()
	key, err := GenerateKey(AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := NewTokenServer(TokenServerConfig{Issuer: "iss", Service: "svc", Realm: "svc", Key: key, Users: users, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, r)
	return rec.Code, rec.Header()
}
