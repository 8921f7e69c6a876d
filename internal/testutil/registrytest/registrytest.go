package registrytest

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// Driver names a storage backend and makes a fresh, empty instance of it for
// one test. New may start what the backend needs (a server for S3) and
// register its teardown with t.Cleanup; it may skip the test through
// testutil.SkipOrFail when a prerequisite is missing.
type Driver struct {
	Name string
	New  func(t testing.TB) storagedriver.Driver
}

// Drivers lists every storage backend the end-to-end tests run against. A
// new backend is one more entry here.
func Drivers() []Driver {
	return []Driver{
		{Name: "inmemory", New: func(testing.TB) storagedriver.Driver { return inmemory.New() }},
		{Name: "filesystem", New: func(t testing.TB) storagedriver.Driver {
			// As the registry's server opens it: the owner of the
			// root's redo log.
			d, err := filesystem.New(t.TempDir(), filesystem.WithRedoLog())
			if err != nil {
				t.Fatalf("filesystem driver: %v", err)
			}
			return d
		}},
		// A root directory of the test's own on the test binary's one
		// versitygw (a real S3 server on loopback).
		{Name: "s3", New: func(t testing.TB) storagedriver.Driver { return s3test.NewDriver(t) }},
	}
}

// ForEachDriver runs fn as a subtest per driver, each with a fresh driver.
func ForEachDriver(t *testing.T, fn func(t *testing.T, drv storagedriver.Driver)) {
	for _, d := range Drivers() {
		t.Run(d.Name, func(t *testing.T) { fn(t, d.New(t)) })
	}
}

// Server is a registry serving plain HTTP on 127.0.0.1 (which docker treats
// as an insecure registry, so no TLS is needed for any client).
type Server struct {
	Host string // 127.0.0.1:port, for image references
	URL  string // http://127.0.0.1:port

	srv  *httptest.Server
	once sync.Once
}

// Start serves a registry over drv until the test ends (or Close). The
// server's log is kept and printed when the test fails. opts come after
// Start's own (a logger), so they can replace it.
func Start(t testing.TB, drv storagedriver.Driver, opts ...registry.Option) *Server {
	t.Helper()
	logs := &tailBuffer{max: 64 << 10}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]registry.Option{registry.WithLogger(logger)}, opts...)
	app, err := registry.New(t.Context(), drv, all...)
	if err != nil {
		t.Fatalf("registry.New on %s: %v", drv.Name(), err)
	}
	srv := httptest.NewUnstartedServer(app)
	srv.Config.ReadHeaderTimeout = 30 * time.Second
	srv.Start()
	s := &Server{
		Host: srv.Listener.Addr().String(),
		URL:  srv.URL,
		srv:  srv,
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("registry log (%s, last %d KiB):\n%s", drv.Name(), logs.max>>10, logs.String())
		}
	})
	return s
}

// Close stops the server, waiting for requests in flight. It is safe to call
// more than once; Start also registers it with t.Cleanup.
func (s *Server) Close() { s.once.Do(s.srv.Close) }

// tailBuffer keeps the last max bytes written to it (at line granularity
// where possible), safe for concurrent writers.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		drop := over
		if i := bytes.IndexByte(b.buf[over:], '\n'); i >= 0 {
			drop += i + 1
		}
		b.buf = append(b.buf[:0], b.buf[drop:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[... earlier lines cut ...]\n" + string(b.buf)
	}
	return string(b.buf)
}
