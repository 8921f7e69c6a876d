package auth

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects a logger's output for the tests that check what is
// logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many lines hold s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	l := &logBuffer{}
	return l, slog.New(slog.NewTextHandler(l, nil))
}

// breakages are the ways a watched file stops being readable: each turns
// path into something that cannot be loaded.
var breakages = []struct {
	name     string
	asRoot   bool // root reads the file anyway
	breakIt  func(t *testing.T, path string)
	repairIt func(t *testing.T, path, content string)
}{
	{"deleted", true, func(t *testing.T, path string) { must(t, os.Remove(path)) },
		func(t *testing.T, path, content string) { writeAtomic(t, path, content) }},
	{"a directory", true, func(t *testing.T, path string) { must(t, os.Remove(path)); must(t, os.Mkdir(path, 0o700)) },
		func(t *testing.T, path, content string) { must(t, os.Remove(path)); writeAtomic(t, path, content) }},
	// A regular file whose reads fail (EIO), as on a failing disk: the
	// read error, not the stat, is what refuses.
	{"unreadable (I/O error)", true, func(t *testing.T, path string) {
		if fi, err := os.Stat("/proc/self/mem"); err != nil || !fi.Mode().IsRegular() {
			t.Skip("no /proc/self/mem to stand for an unreadable regular file")
		}
		must(t, os.Symlink("/proc/self/mem", path+".lnk"))
		must(t, os.Rename(path+".lnk", path))
	}, func(t *testing.T, path, content string) { writeAtomic(t, path, content) }},
	// Permission denied, and back by chmod alone: no new mtime, size or
	// inode tells that the file changed.
	{"permission denied", false, func(t *testing.T, path string) { must(t, os.Chmod(path, 0)) },
		func(t *testing.T, path, content string) { must(t, os.Chmod(path, 0o600)) }},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHtpasswdFailsClosed: while the htpasswd file is missing, not a
// regular file or unreadable, no login passes, not even one whose password
// was verified a moment ago, and refresh tokens stop working; the failure
// is logged once as an error; once the file is back, logins work again.
func TestHtpasswdFailsClosed(t *testing.T) {
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			if !b.asRoot && os.Geteuid() == 0 {
				t.Skip("root reads a file whatever its mode")
			}
			logs, log := newLogBuffer()
			content := bcryptLine(t, "alice", "pw-a")
			path := filepath.Join(t.TempDir(), "htpasswd")
			writeAtomic(t, path, content)
			u, err := OpenHtpasswd(path, log)
			must(t, err)
			basic, err := NewBasic("r", u, nil, NewLimiter(100, 0), log)
			must(t, err)
			login := func() error {
				r := httptest.NewRequest("GET", "/v2/", nil)
				r.SetBasicAuth("alice", "pw-a")
				_, err := basic.Authorize(t.Context(), r)
				return err
			}
			if err := login(); err != nil || !u.cached("alice", "pw-a") {
				t.Fatalf("login before the change: %v", err)
			}

			b.breakIt(t, path)
			for range 3 {
				if err := login(); err == nil {
					t.Fatal("a login passed while the htpasswd file cannot be read")
				}
			}
			if u.Verify("alice", "pw-a") || u.Has("alice") {
				t.Error("Verify or Has still see alice")
			}
			if _, ok := u.Binding("alice"); ok {
				t.Error("alice's refresh tokens still have a binding")
			}
			if n := logs.count("level=ERROR"); n != 1 {
				t.Errorf("%d error lines, want the failure logged once:\n%s", n, logs.buf.String())
			}

			if b.name == "deleted" {
				// Back, but not parseable: there is no previous content to
				// keep in force any more, so logins stay refused.
				writeAtomic(t, path, "alice:plaintext\n")
				if err := login(); err == nil {
					t.Fatal("a login passed against an htpasswd file that came back broken")
				}
			}
			b.repairIt(t, path, content)
			if err := login(); err != nil {
				t.Fatalf("login after the file came back: %v", err)
			}
		})
	}
}

// TestPolicyFailsClosed: a policy file that disappears or cannot be read
// denies everything (it never becomes "no policy", under which every
// authenticated user may do everything) until it is back.
func TestPolicyFailsClosed(t *testing.T) {
	alice := Principal{Name: "alice", Authenticated: true}
	del := Access{TypeRepository, "team/app", ActionDelete}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			if !b.asRoot && os.Geteuid() == 0 {
				t.Skip("root reads a file whatever its mode")
			}
			logs, log := newLogBuffer()
			path := filepath.Join(t.TempDir(), "policy.yml")
			writeAtomic(t, path, testPolicy)
			p, err := OpenPolicy(path, log)
			must(t, err)
			if !p.Allowed(alice, del) {
				t.Fatal("alice may not delete before the change")
			}

			b.breakIt(t, path)
			for _, a := range []Access{del, {TypeRepository, "public/a/docs", ActionPull}, Catalog} {
				if p.Allowed(alice, a) || p.Allowed(Principal{}, a) {
					t.Errorf("%s allowed while the policy file cannot be read", a)
				}
			}
			if p.AllowedEverywhere(alice, ActionPull) {
				t.Error("alice pulls everywhere while the policy file cannot be read")
			}
			if n := logs.count("level=ERROR"); n != 1 {
				t.Errorf("%d error lines, want the failure logged once:\n%s", n, logs.buf.String())
			}

			b.repairIt(t, path, testPolicy)
			if !p.Allowed(alice, del) {
				t.Fatal("alice may not delete after the file came back")
			}
		})
	}
}
