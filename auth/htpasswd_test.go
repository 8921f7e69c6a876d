package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcryptLine is an htpasswd line for user with a cheap bcrypt hash.
func bcryptLine(t testing.TB, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h) + "\n"
}

// writeAtomic replaces path with content, as an administrator's tool does.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func openUsers(t testing.TB, content string) (*Users, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeAtomic(t, path, content)
	u, err := OpenHtpasswd(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u, path
}

func TestHtpasswdParseErrors(t *testing.T) {
	good := bcryptLine(t, "alice", "pw")
	tests := []struct{ name, content, err string }{
		{"MD5 (apr1)", "bob:$apr1$abc$defghijklmnopqrstuvwx\n", `line 1: user "bob": not a bcrypt hash`},
		{"SHA1", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", `line 1: user "bob": not a bcrypt hash`},
		{"plain text", "bob:secret\n", `line 1: user "bob": not a bcrypt hash`},
		{"crypt", "bob:abJnggxhB/yWI\n", `line 1: user "bob": not a bcrypt hash`},
		{"broken bcrypt", "bob:$2y$10$tooShort\n", `line 1: user "bob": invalid bcrypt hash`},
		{"no colon", good + "bob\n", "line 2: want name:hash"},
		{"empty name", ":" + strings.SplitN(good, ":", 2)[1], `line 1: invalid user name ""`},
		{"space in name", "b ob:" + strings.SplitN(good, ":", 2)[1], `line 1: invalid user name "b ob"`},
		{"twice", good + good, `line 2: user "alice" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseHtpasswd([]byte(tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := OpenHtpasswd(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("a missing htpasswd file was accepted")
	}
	h, err := parseHtpasswd([]byte("# comment\n\n" + strings.TrimSuffix(good, "\n") + "\r\n"))
	if err != nil || len(h.hashes) != 1 {
		t.Errorf("comments, blank lines and CRLF: %v, %d users", err, len(h.hashes))
	}
}

func TestHtpasswdVerify(t *testing.T) {
	u, path := openUsers(t, bcryptLine(t, "alice", "pw-a")+bcryptLine(t, "bob", "pw-b"))
	for _, c := range []struct {
		user, pw string
		ok       bool
	}{
		{"alice", "pw-a", true}, {"alice", "pw-a", true}, // the second from the cache
		{"alice", "pw-b", false}, {"alice", "", false}, {"Alice", "pw-a", false},
		{"mallory", "pw-a", false}, {"", "", false}, {"bob", "pw-b", true},
	} {
		if got := u.Verify(c.user, c.pw); got != c.ok {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.pw, got, c.ok)
		}
	}
	if !u.cached("alice", "pw-a") || u.cached("alice", "pw-b") {
		t.Error("the cache does not hold exactly what was verified")
	}
	b1, _ := u.Binding("alice")

	// A new password: the old one stops working at once, cache or not, and
	// so do tokens bound to the old entry. bob leaves.
	writeAtomic(t, path, bcryptLine(t, "alice", "pw-a2"))
	if u.Verify("alice", "pw-a") || u.cached("alice", "pw-a") {
		t.Error("the old password still works after the change")
	}
	if !u.Verify("alice", "pw-a2") {
		t.Error("the new password does not work")
	}
	if b2, _ := u.Binding("alice"); b2 == b1 {
		t.Error("the binding did not change with the password")
	}
	if u.Verify("bob", "pw-b") || u.Has("bob") {
		t.Error("a removed user can still log in")
	}

	// A broken file keeps the last good content.
	writeAtomic(t, path, "alice:plaintext\n")
	if !u.Verify("alice", "pw-a2") {
		t.Error("a file that does not parse replaced the users")
	}
	// The cache expires.
	u.now = func() time.Time { return time.Now().Add(verifiedTTL + time.Second) }
	if u.cached("alice", "pw-a2") {
		t.Error("a verified password stays cached past its TTL")
	}
}

func TestHtpasswdCacheBounded(t *testing.T) {
	u, _ := openUsers(t, bcryptLine(t, "alice", "pw"))
	hash, _ := u.hash("alice")
	for i := range maxVerified + 10 {
		u.remember("alice", fmt.Sprint(i), hash)
	}
	if n := len(u.verified); n > maxVerified {
		t.Errorf("cache holds %d entries, more than %d", n, maxVerified)
	}
}

func FuzzParseHtpasswd(f *testing.F) {
	f.Add([]byte("alice:$2y$04$abcdefghijklmnopqrstuuJ8s7x7GvGQ7WbbQF9F.x/HmHnYBCx7a\n# c\n"))
	f.Add([]byte("bob:{SHA}x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHtpasswd(b)
		if err != nil {
			return
		}
		for name, hash := range h.hashes {
			if !validUserName(name) || !strings.HasPrefix(string(hash), "$2") {
				t.Fatalf("accepted %q:%q", name, hash)
			}
		}
	})
}
