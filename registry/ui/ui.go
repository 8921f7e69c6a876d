package ui

import (
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage/repometa"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Path is where the UI is served, under http.prefix.
const Path = "/ui/"

// SearchPath is the search API, under http.prefix.
const SearchPath = "/berth/v1/search"

// Upstream is a pull-through cache's upstream, as the upstreams page
// shows it.
type Upstream struct {
	Prefix    string // repositories under it are cached; "" for every other one
	RemoteURL string
	TTL       time.Duration // 0: cached content never expires
}

// Options configure the UI. Users, Policy and Limiter are the objects the
// registry's access control uses, so that the UI decides exactly as the
// API does.
type Options struct {
	// AccessControl is false when the registry has no auth section:
	// everyone sees everything and may delete where deletes are enabled.
	AccessControl bool
	Users         *auth.Users   // who may log in; nil: anonymous browsing only
	Policy        *auth.Policy  // nil: logged-in users may do everything
	Limiter       *auth.Limiter // failed logins per address; nil: unlimited
	Upstreams     []Upstream
	// SessionTTL is how long a login lasts (DefaultSessionTTL when 0).
	SessionTTL time.Duration
	Log        *slog.Logger
}

// DefaultSessionTTL is how long a login lasts by default.
const DefaultSessionTTL = 12 * time.Hour

// Handler serves the UI and the search API in front of the registry: it
// answers under <prefix>/ui/ and <prefix>/berth/v1/search (and redirects
// <prefix>/ there) and passes every other request to the registry.
type Handler struct {
	app      *registry.App
	store    *repometa.Store
	opts     Options
	prefix   string
	pages    map[string]*template.Template
	static   http.Handler
	sessions *sessions
	key      [32]byte // CSRF tokens are HMACs under it
	log      *slog.Logger

	sortMu sync.Mutex
	sorted map[string]sortedRepos // by sort order: the last listing sorted so
}

// New wraps app with the UI.
func New(app *registry.App, opts Options) (*Handler, error) {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{app: app, store: app.Store(), opts: opts, prefix: app.Prefix(), log: opts.Log,
		sessions: newSessions(opts.SessionTTL)}
	if _, err := rand.Read(h.key[:]); err != nil {
		return nil, err
	}
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	h.static = http.StripPrefix(h.prefix+Path+"static/", http.FileServer(http.FS(sub)))
	return h, nil
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		pages[page] = t
	}
	return pages, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == h.prefix+SearchPath:
		setSecurityHeaders(w.Header())
		h.searchAPI(w, r)
	case p == h.prefix+"/" || p == h.prefix+"/ui" || (h.prefix != "" && p == h.prefix):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.app.ServeHTTP(w, r)
			return
		}
		setSecurityHeaders(w.Header())
		http.Redirect(w, r, h.prefix+Path, http.StatusSeeOther)
	case strings.HasPrefix(p, h.prefix+Path):
		setSecurityHeaders(w.Header())
		h.serveUI(w, r, strings.TrimPrefix(p, h.prefix+Path))
	default:
		h.app.ServeHTTP(w, r)
	}
}

// csp allows the UI's own script, style and requests only: no inline
// script or style, no frames, forms posting only to itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// route is one page: the methods it answers and its handler.
type route struct {
	post bool
	h    func(w http.ResponseWriter, r *http.Request, v *viewer) error
}

func (h *Handler) routes() map[string]route {
	return map[string]route{
		"":          {false, h.repositories},
		"tags":      {false, h.tags},
		"image":     {false, h.image},
		"search":    {false, h.searchPage},
		"upstreams": {false, h.upstreams},
		"usage":     {false, h.usage},
		"login":     {false, h.loginPage},
		"delete":    {true, h.delete},
		"logout":    {true, h.logout},
	}
}

func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request, page string) {
	if strings.HasPrefix(page, "static/") {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.fail(w, r, nil, pageError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method))
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.static.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	v := h.viewer(w, r)
	rt, ok := h.routes()[page]
	if page == "login" && r.Method == http.MethodPost {
		rt, ok = route{true, h.login}, true
	}
	var err error
	switch {
	case !ok:
		err = pageError(http.StatusNotFound, "There is no page %q here.", "/ui/"+page)
	case rt.post && r.Method != http.MethodPost:
		err = pageError(http.StatusMethodNotAllowed, "This address takes a form (POST) only.")
	case !rt.post && r.Method != http.MethodGet && r.Method != http.MethodHead:
		err = pageError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	case rt.post:
		if err = h.checkCSRF(r, v); err == nil {
			err = rt.h(w, r, v)
		}
	default:
		err = rt.h(w, r, v)
	}
	if err != nil {
		h.fail(w, r, v, err)
	}
}

// pageData is what every page's template gets.
type pageData struct {
	Title   string
	Prefix  string // http.prefix
	Viewer  *viewer
	CSRF    string
	Nav     string // the current section, for the navigation
	Flash   string
	Content any
}

// render writes page with content, status 200.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v *viewer, status int, page, title string, content any) error {
	t, ok := h.pages[page]
	if !ok {
		return errors.New("no template " + page)
	}
	d := pageData{Title: title, Prefix: h.prefix, Viewer: v, CSRF: h.csrfToken(v), Nav: page, Content: content,
		Flash: r.URL.Query().Get("done")}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", d); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
	return nil
}

// httpError is an error with the status and message a page shows.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func pageError(status int, format string, args ...any) error {
	return &httpError{status: status, msg: sprintf(format, args...)}
}

// fail renders the error page: the status of err (a registry error's
// status, 500 for anything unexpected, logged without its text shown).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	var he *httpError
	status, msg := http.StatusInternalServerError, "Something went wrong on the server; the error is logged."
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	default:
		st, code := registry.ErrorStatus(err)
		if st < 500 {
			status, msg = st, code+": "+err.Error()
		} else {
			h.log.ErrorContext(r.Context(), "ui request failed", "path", r.URL.Path, "err", err)
			status = st
		}
	}
	if v == nil {
		v = &viewer{}
	}
	if err := h.render(w, r, v, status, "error", http.StatusText(status), struct {
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg}); err != nil {
		http.Error(w, msg, status)
	}
}
