package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/berth-registry/berth/auth"
)

// Cookie names. The session cookie holds a random id only; the session
// (user name, the htpasswd entry it logged in with) stays on the server.
const (
	sessionCookie = "berth_session"
	anonCookie    = "berth_csrf" // an anonymous browser's CSRF secret
)

// maxSessions bounds the sessions kept; the oldest go first.
const maxSessions = 10000

type session struct {
	user    string
	binding string // the user's htpasswd entry at login: a changed password ends the session
	expires time.Time
}

type sessions struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, m: map[string]*session{}}
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss != nil && time.Now().After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) add(user, binding string) string {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) >= maxSessions {
		var oldest string
		for k, v := range s.m {
			if now.After(v.expires) {
				delete(s.m, k)
			} else if oldest == "" || v.expires.Before(s.m[oldest].expires) {
				oldest = k
			}
		}
		if len(s.m) >= maxSessions {
			delete(s.m, oldest)
		}
	}
	s.m[id] = &session{user: user, binding: binding, expires: now.Add(s.ttl)}
	return id
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// viewer is who looks at a page and what the access policy lets them do.
type viewer struct {
	User      string // "" when anonymous
	CanLogin  bool   // the registry has users to log in with
	sessionID string
	csrfKey   string // what the CSRF token is bound to
	h         *Handler
	who       auth.Principal
	decide    func(auth.Access) bool // the policy's answers for who (allowed)
}

// MayPull reports whether the viewer may pull repository name: the access
// policy's answer, as the registry's authorizer gives it.
func (v *viewer) MayPull(name string) bool {
	return v.allowed(auth.Repository(name, auth.ActionPull)[0])
}

// MayDelete reports whether the viewer may delete in repository name and
// deletes are enabled.
func (v *viewer) MayDelete(name string) bool {
	return v.h.app.DeletesEnabled() && v.allowed(auth.Repository(name, auth.ActionDelete)[0])
}

// Admin reports whether the viewer holds registry:admin:* (the usage
// report).
func (v *viewer) Admin() bool { return v.allowed(auth.Admin) }

func (v *viewer) allowed(a auth.Access) bool {
	if v.h == nil {
		return false
	}
	if !v.h.opts.AccessControl {
		return true
	}
	if v.decide == nil { // one reading of the policy per request
		v.decide = v.h.opts.Policy.Decider(v.who)
	}
	return v.decide(a)
}

// viewer finds the session of r, if any, and makes sure an anonymous
// browser has its CSRF secret.
func (h *Handler) viewer(w http.ResponseWriter, r *http.Request) *viewer {
	v := &viewer{h: h, CanLogin: h.opts.AccessControl && h.opts.Users != nil}
	if c, err := r.Cookie(sessionCookie); err == nil && v.CanLogin {
		if s := h.sessions.get(c.Value); s != nil {
			if b, ok := h.opts.Users.Binding(s.user); ok && b == s.binding {
				v.User, v.sessionID, v.csrfKey = s.user, c.Value, "s:"+c.Value
				v.who = auth.Principal{Name: s.user, Authenticated: true}
				return v
			}
			h.sessions.remove(c.Value) // the user was removed or the password changed
		}
	}
	if c, err := r.Cookie(anonCookie); err == nil && len(c.Value) >= 32 {
		v.csrfKey = "a:" + c.Value
	} else if w != nil {
		secret := randomToken()
		http.SetCookie(w, h.cookie(r, anonCookie, secret, 0))
		v.csrfKey = "a:" + secret
	}
	return v
}

// cookie is a cookie of the UI: HttpOnly, SameSite=Strict, Secure under
// TLS, scoped to the UI's path. maxAge < 0 deletes it; 0 makes it last
// the browser's session.
func (h *Handler) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: h.prefix + Path, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// csrfToken is the token every form of v's pages carries: an HMAC of
// v's session id (or anonymous secret) under the server's key.
func (h *Handler) csrfToken(v *viewer) string {
	if v == nil || v.csrfKey == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.key[:])
	m.Write([]byte(v.csrfKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses a form that does not carry v's token, or that comes
// from another origin.
func (h *Handler) checkCSRF(r *http.Request, v *viewer) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return pageError(http.StatusForbidden, "This form was sent from another site (%s) and was refused.", o)
		}
	}
	want := h.csrfToken(v)
	got := r.PostFormValue("csrf")
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return pageError(http.StatusForbidden, "The form has expired or did not come from this page; reload the page and try again.")
	}
	return nil
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return h.render(w, r, v, http.StatusOK, "login", "Log in", loginData{Next: safeNext(h, r.URL.Query().Get("next"))})
}

type loginData struct {
	Next  string
	User  string
	Error string
}

// login checks the form's credentials against the registry's users and
// starts a session: a new id, so that one fixed before login is useless.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !v.CanLogin {
		return pageError(http.StatusNotFound, "This registry has no users to log in as; browse anonymously.")
	}
	user, password := r.PostFormValue("user"), r.PostFormValue("password")
	next := safeNext(h, r.PostFormValue("next"))
	if err := h.opts.Users.Login(r, h.opts.Limiter, user, password); err != nil {
		status := http.StatusUnauthorized
		var ch *auth.Challenge
		if errors.As(err, &ch) {
			status = ch.Status
			ch.SetHeaders(w.Header())
		}
		h.log.InfoContext(r.Context(), "ui login failed", "remote", r.RemoteAddr, "err", err)
		return h.render(w, r, v, status, "login", "Log in", loginData{Next: next, User: user, Error: err.Error()})
	}
	binding, _ := h.opts.Users.Binding(user)
	if v.sessionID != "" {
		h.sessions.remove(v.sessionID)
	}
	id := h.sessions.add(user, binding)
	http.SetCookie(w, h.cookie(r, sessionCookie, id, int(h.opts.SessionTTL/time.Second)))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if v.sessionID != "" {
		h.sessions.remove(v.sessionID)
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, h.prefix+Path, http.StatusSeeOther)
	return nil
}

// safeNext is where to go after login: a path of the UI only, never
// another site.
func safeNext(h *Handler, next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		len(u.Path) < len(h.prefix+Path) || u.Path[:len(h.prefix+Path)] != h.prefix+Path {
		return h.prefix + Path
	}
	return u.RequestURI()
}
