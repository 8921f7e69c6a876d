package disttest

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // access controllers register themselves
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // so do storage drivers
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
)

// Auth is how Distribution authenticates requests.
type Auth int

// The ways Distribution can authenticate.
const (
	NoAuth   Auth = iota // every request is allowed
	Htpasswd             // basic auth for Options.Users
	Token                // bearer tokens from a TokenServer
)

// Options configure a Distribution registry.
type Options struct {
	Root  string            // filesystem root directory; "" keeps everything in memory
	Auth  Auth              // NoAuth unless set
	Users map[string]string // name → password, for Htpasswd and Token
	// Extra is YAML appended to the configuration: top-level sections
	// other than version, storage, http and auth (e.g. validation).
	Extra string
}

// Registry is a Distribution App, not yet served.
type Registry struct {
	http.Handler              // Distribution's App
	Token        *TokenServer // with Auth Token; else nil
}

// Server is a Registry served over plain HTTP on loopback.
type Server struct {
	*httptest.Server
	Host  string       // 127.0.0.1:port
	Token *TokenServer // with Auth Token; else nil
}

// Start serves New(t, o) on loopback until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	reg := New(t, o)
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &Server{Server: srv, Host: srv.Listener.Addr().String(), Token: reg.Token}
}

// New builds Distribution's App for o, shut down when the test ends. A
// configuration Distribution refuses fails the test.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	// Distribution logs through logrus' standard logger; test output
	// should carry only the tests' own findings.
	logrus.SetOutput(io.Discard)
	reg := &Registry{}
	storage := "  inmemory: {}\n"
	if o.Root != "" {
		storage = fmt.Sprintf("  filesystem:\n    rootdirectory: %q\n", o.Root)
	}
	cfg := "version: 0.1\nstorage:\n" + storage + "  delete:\n    enabled: true\n" +
		"  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  secret: disttest\n"
	switch o.Auth {
	case NoAuth:
	case Htpasswd:
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: disttest\n    path: %q\n", htpasswdFile(t, o.Users))
	case Token:
		reg.Token = startTokenServer(t, o.Users)
		cfg += fmt.Sprintf("auth:\n  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    jwks: %q\n",
			reg.Token.realm, tokenService, tokenIssuer, reg.Token.jwksFile)
	default:
		t.Fatalf("disttest: unknown Auth %d", o.Auth)
	}
	parsed, err := configuration.Parse(strings.NewReader(cfg + o.Extra))
	if err != nil {
		t.Fatalf("distribution: configuration: %v", err)
	}
	app, err := newApp(t, parsed)
	if err != nil {
		t.Fatalf("distribution: %v", err)
	}
	t.Cleanup(func() { _ = app.Shutdown() })
	reg.Handler = app
	return reg
}

// newApp turns NewApp's panics on a bad configuration into errors.
func newApp(t testing.TB, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handlers.NewApp: %v", p)
		}
	}()
	return handlers.NewApp(t.Context(), cfg), nil
}

// htpasswdFile writes users with bcrypt hashes, as Distribution reads them.
func htpasswdFile(t testing.TB, users map[string]string) string {
	t.Helper()
	var lines strings.Builder
	for _, u := range slices.Sorted(maps.Keys(users)) {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&lines, "%s:%s\n", u, h)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
