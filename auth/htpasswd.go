package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/berth-registry/berth/internal/watchfile"
	"golang.org/x/crypto/bcrypt"
)

// How long, and for how many callers, a verified password is remembered.
const (
	verifiedTTL = 5 * time.Minute
	maxVerified = 4096
)

// Users is an htpasswd file of bcrypt entries ("name:$2y$..."), re-read
// when it changes. Other hash schemes (MD5 "$apr1$", SHA1 "{SHA}", crypt,
// plain text) are refused: the file does not load.
type Users struct {
	file *watchfile.File[htpasswd]

	mu       sync.Mutex
	key      [32]byte // HMAC key of the verified-password cache
	verified map[[32]byte]verifiedEntry
	now      func() time.Time
	// onBcrypt, when set (by tests), is called as each bcrypt comparison
	// starts and its result when it ends: how many comparisons a client
	// can cause, and how many at once, is what the failed-login limiter
	// bounds.
	onBcrypt func() (done func())
}

type htpasswd struct {
	hashes map[string][]byte
	dummy  []byte // a hash of the same cost, compared against for unknown users
}

type verifiedEntry struct {
	hash    string // the entry it was verified against
	expires time.Time
}

// OpenHtpasswd reads the htpasswd file at path. A missing, unreadable or
// invalid file is an error: users are never created implicitly.
func OpenHtpasswd(path string, log *slog.Logger) (*Users, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := watchfile.Open(path, "every login is refused", parseHtpasswd, log)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	u := &Users{file: f, verified: map[[32]byte]verifiedEntry{}, now: time.Now}
	if _, err := rand.Read(u.key[:]); err != nil {
		return nil, err
	}
	return u, nil
}

// parseHtpasswd reads "name:hash" lines; blank lines and lines starting
// with "#" are skipped.
func parseHtpasswd(b []byte) (htpasswd, error) {
	h := htpasswd{hashes: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	cost := bcrypt.DefaultCost
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return h, fmt.Errorf("line %d: want name:hash", n)
		case !validUserName(name):
			return h, fmt.Errorf("line %d: invalid user name %q", n, name)
		case h.hashes[name] != nil:
			return h, fmt.Errorf("line %d: user %q listed twice", n, name)
		}
		if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
			return h, fmt.Errorf("line %d: user %q: not a bcrypt hash; only bcrypt is accepted (htpasswd -B)", n, name)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return h, fmt.Errorf("line %d: user %q: invalid bcrypt hash", n, name)
		}
		if len(h.hashes) == 0 {
			cost = c
		}
		h.hashes[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return h, err
	}
	// The dummy hash makes a wrong user name cost as much as a wrong
	// password, so timing does not tell which names exist.
	var err error
	h.dummy, err = bcrypt.GenerateFromPassword([]byte("berth-no-such-user"), cost)
	return h, err
}

// validUserName accepts printable names without ":" or spaces.
func validUserName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Verify reports whether password is user's. Unknown users take as long
// as wrong passwords. A successful check is remembered for a few minutes
// (until the entry changes), so repeated requests cost one bcrypt run.
//
// While the file cannot be read (removed, replaced by a directory,
// permission denied) no password is right: see watchfile.File.
func (u *Users) Verify(user, password string) bool {
	h, err := u.file.Get()
	if err != nil {
		return false
	}
	hash, ok := h.hashes[user]
	if ok && u.recentlyVerified(user, password, hash) {
		return true
	}
	if !ok {
		u.compare(h.dummy, password)
		return false
	}
	if !u.compare(hash, password) {
		return false
	}
	u.remember(user, password, hash)
	return true
}

// compare runs bcrypt.
func (u *Users) compare(hash []byte, password string) bool {
	if u.onBcrypt != nil {
		defer u.onBcrypt()()
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// cached reports whether user and password were verified recently against
// the current entry, without running bcrypt.
func (u *Users) cached(user, password string) bool {
	hash, ok := u.hash(user)
	return ok && u.recentlyVerified(user, password, hash)
}

// Binding identifies user's current entry (a digest of its hash): tokens
// bound to it stop working when the user is removed or the password
// changes. ok is false for an unknown user.
func (u *Users) Binding(user string) (binding string, ok bool) {
	hash, ok := u.hash(user)
	if !ok {
		return "", false
	}
	sum := sha256.Sum256(append([]byte("berth-binding\x00"), hash...))
	return base64.RawURLEncoding.EncodeToString(sum[:16]), true
}

// Has reports whether user is listed.
func (u *Users) Has(user string) bool {
	_, ok := u.hash(user)
	return ok
}

// hash is user's entry; ok is false for an unknown user, and for every
// user while the file cannot be read.
func (u *Users) hash(user string) (hash []byte, ok bool) {
	h, err := u.file.Get()
	if err != nil {
		return nil, false
	}
	hash, ok = h.hashes[user]
	return hash, ok
}

func (u *Users) cacheKey(user, password string) [32]byte {
	m := hmac.New(sha256.New, u.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (u *Users) recentlyVerified(user, password string, hash []byte) bool {
	k := u.cacheKey(user, password)
	u.mu.Lock()
	e, ok := u.verified[k]
	u.mu.Unlock()
	return ok && u.now().Before(e.expires) &&
		subtle.ConstantTimeCompare([]byte(e.hash), hash) == 1
}

func (u *Users) remember(user, password string, hash []byte) {
	k := u.cacheKey(user, password)
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.verified) >= maxVerified {
		for key, e := range u.verified {
			if !now.Before(e.expires) {
				delete(u.verified, key)
			}
		}
		if len(u.verified) >= maxVerified {
			clear(u.verified)
		}
	}
	u.verified[k] = verifiedEntry{hash: string(hash), expires: now.Add(verifiedTTL)}
}

// errBadCredentials is what a failed login says, whatever failed: the
// user name or the password.
var errBadCredentials = errors.New("invalid user name or password")

// errUsersUnavailable is what a login says while the htpasswd file cannot
// be read: every login is refused until it is back.
var errUsersUnavailable = errors.New("logins are refused: the user list is unavailable")
