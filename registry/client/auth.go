package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// authTransport answers registries' auth challenges. A 401 with a Bearer
// challenge gets a token from the challenge's realm for the request's scopes
// (plus the challenge's), a Basic challenge gets the credential, and the
// request is sent once more. Challenges are remembered per host and tokens
// cached per (host, scopes) until they expire, so later requests carry
// credentials from the start and a body that cannot be replayed is sent only
// once.
type authTransport struct {
	next    http.RoundTripper
	tokens  *http.Client // to the token server: no auth transport
	creds   CredentialStore
	plainOK func(host string) bool
	now     func() time.Time

	mu         sync.Mutex
	challenges map[string]challenge   // by API host
	cache      map[string]*tokenEntry // by host and scopes
	credCache  map[string]Credential  // by registry: a helper runs once per client, not per request
	// widened maps a request's scopes (by host and scopes) to those its
	// challenge asked for on top, so that the next such request presents
	// the wider token at once.
	widened map[string][]string
}

type tokenEntry struct {
	mu      sync.Mutex // held while fetching, so concurrent requests fetch once
	token   string
	expires time.Time
}

func newAuthTransport(next http.RoundTripper, tokens *http.Client, creds CredentialStore, plainOK func(string) bool) *authTransport {
	return &authTransport{
		next: next, tokens: tokens, creds: creds, plainOK: plainOK, now: time.Now,
		challenges: make(map[string]challenge),
		cache:      make(map[string]*tokenEntry),
		credCache:  make(map[string]Credential),
		widened:    make(map[string][]string),
	}
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sc, ok := scopeFrom(req.Context())
	if !ok || !sameOrigin(req.URL, sc.origin) || req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req) // not ours (a redirect to storage, a token request)
	}
	host := sc.key()
	sent := ""
	asked := host + " " + strings.Join(mergeScopes(sc.scopes), " ")
	t.mu.Lock()
	known, isKnown := t.challenges[host]
	if wide, ok := t.widened[asked]; ok {
		sc.scopes = wide
	}
	t.mu.Unlock()
	if isKnown {
		authz, err := t.authorization(req.Context(), sc, known, "")
		if err != nil {
			closeBody(req)
			return nil, err
		}
		if authz != "" {
			r := req.Clone(req.Context())
			r.Header.Set("Authorization", authz)
			req, sent = r, authz
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	ch := pick(parseChallenges(resp.Header))
	if ch == nil {
		return resp, nil
	}
	t.mu.Lock()
	t.challenges[host] = challenge{scheme: ch.scheme, params: withoutScope(ch.params)}
	t.mu.Unlock()
	if !replayable(req) {
		// The next request will carry credentials from the start, and not
		// the token just refused.
		t.forget(host, sent)
		return resp, nil
	}
	wide := mergeScopes(append(slices.Clone(sc.scopes), strings.Fields(ch.params["scope"])...))
	if !slices.Equal(wide, mergeScopes(sc.scopes)) {
		t.mu.Lock()
		t.widened[asked] = wide
		t.mu.Unlock()
	}
	sc.scopes = wide
	authz, err := t.authorization(req.Context(), sc, *ch, sent)
	if err != nil {
		drain(resp.Body)
		return nil, err
	}
	if authz == "" || authz == sent {
		return resp, nil // nothing new to present
	}
	r, err := rewind(req)
	if err != nil {
		drain(resp.Body)
		return nil, err
	}
	drain(resp.Body)
	r.Header.Set("Authorization", authz)
	return t.next.RoundTrip(r)
}

// authorization is the Authorization header answering ch for sc, or "" when
// there is nothing to present (Basic without credentials). stale is a
// header the registry just refused: a cached token equal to it is replaced.
func (t *authTransport) authorization(ctx context.Context, sc requestScope, ch challenge, stale string) (string, error) {
	switch ch.scheme {
	case "basic":
		cred, err := t.credential(sc.registry)
		if err != nil {
			return "", err
		}
		if cred.Username == "" && cred.Password == "" {
			return "", nil
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.Username+":"+cred.Password)), nil
	case "bearer":
		scopes := mergeScopes(sc.scopes)
		key := sc.key() + " " + strings.Join(scopes, " ")
		t.mu.Lock()
		e := t.cache[key]
		if e == nil {
			e = &tokenEntry{}
			t.cache[key] = e
		}
		t.mu.Unlock()
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.token != "" && t.now().Before(e.expires) && "Bearer "+e.token != stale {
			return "Bearer " + e.token, nil
		}
		tok, expires, err := t.fetchToken(ctx, sc, ch.params["realm"], ch.params["service"], scopes)
		if err != nil {
			e.token = ""
			return "", err
		}
		e.token, e.expires = tok, expires
		return "Bearer " + tok, nil
	}
	return "", nil
}

// credential looks registry's credential up once per client; failures
// are not remembered.
func (t *authTransport) credential(registry string) (Credential, error) {
	t.mu.Lock()
	cred, ok := t.credCache[registry]
	t.mu.Unlock()
	if ok {
		return cred, nil
	}
	cred, err := t.creds.Get(registry)
	if err != nil {
		return Credential{}, fmt.Errorf("credentials for %s: %w", registry, err)
	}
	t.mu.Lock()
	t.credCache[registry] = cred
	t.mu.Unlock()
	return cred, nil
}

// forget drops cached tokens of host equal to the refused authorization.
func (t *authTransport) forget(host, refused string) {
	if refused == "" {
		return
	}
	t.mu.Lock()
	entries := make([]*tokenEntry, 0, len(t.cache))
	for k, e := range t.cache {
		if strings.HasPrefix(k, host+" ") {
			entries = append(entries, e)
		}
	}
	t.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		if "Bearer "+e.token == refused {
			e.token = ""
		}
		e.mu.Unlock()
	}
}

// tokenAnswer is a token server's JSON answer; "access_token" is the
// OAuth2 name of the same thing.
type tokenAnswer struct {
	Token       string    `json:"token"`
	AccessToken string    `json:"access_token"`
	ExpiresIn   int64     `json:"expires_in"`
	IssuedAt    time.Time `json:"issued_at"`
}

// fetchToken gets a token for sc's scopes from realm. An identity token is
// exchanged with the OAuth2 refresh_token grant (POST); otherwise a GET,
// with basic auth when there is a credential, and for a server that does not
// offer GET (404, 405) the OAuth2 password grant (POST).
//
// The realm is the registry's word, and may name another host (Docker Hub's
// is auth.docker.io): the registry's credentials go there, so it must be
// HTTPS, or plain HTTP only when the registry itself is spoken to over plain
// HTTP and the realm's host is allowed it too (loopback, WithInsecure); a
// registry reached over HTTPS cannot send them down to plain HTTP. The
// token is cached under the registry's origin and presented only there.
func (t *authTransport) fetchToken(ctx context.Context, sc requestScope, realm, service string, scopes []string) (string, time.Time, error) {
	if realm == "" {
		return "", time.Time{}, fmt.Errorf("%w: bearer challenge without a realm", ErrUnauthorized)
	}
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", time.Time{}, fmt.Errorf("%w: token realm %q is not an HTTP URL", ErrUnauthorized, realm)
	}
	if u.Scheme == "http" && (sc.origin.Scheme != "http" || !t.plainOK(u.Host)) {
		return "", time.Time{}, fmt.Errorf("token realm %s of registry %s://%s: %w",
			redactURL(realm), sc.origin.Scheme, sc.origin.Host, ErrInsecure)
	}
	cred, err := t.credential(sc.registry)
	if err != nil {
		return "", time.Time{}, err
	}
	var resp *http.Response
	if cred.IdentityToken != "" {
		resp, err = t.postToken(ctx, u, service, scopes, url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {cred.IdentityToken},
		})
	} else {
		resp, err = t.getToken(ctx, u, service, scopes, cred)
		if err == nil && cred.Username != "" &&
			(resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
			drain(resp.Body)
			resp, err = t.postToken(ctx, u, service, scopes, url.Values{
				"grant_type": {"password"},
				"username":   {cred.Username},
				"password":   {cred.Password},
			})
		}
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token from %s: %w", redactURL(realm), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, tokenError(resp)
	}
	b, err := readCapped(resp.Body, maxErrorBody)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token from %s: %w", redactURL(realm), err)
	}
	var ans tokenAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: token from %s: %w", ErrUnauthorized, redactURL(realm), err)
	}
	tok := ans.Token
	if tok == "" {
		tok = ans.AccessToken
	}
	if tok == "" {
		return "", time.Time{}, fmt.Errorf("%w: token server %s answered without a token", ErrUnauthorized, redactURL(realm))
	}
	return tok, t.expiry(ans), nil
}

// expiry is when a token stops being used: its lifetime (60s when the
// server gives none, per the token spec) less a tenth as a margin for clock
// skew and transit.
func (t *authTransport) expiry(ans tokenAnswer) time.Time {
	life := time.Duration(ans.ExpiresIn) * time.Second
	if life <= 0 {
		life = 60 * time.Second
	}
	issued := t.now()
	if !ans.IssuedAt.IsZero() && ans.IssuedAt.Before(issued) && issued.Sub(ans.IssuedAt) < life {
		issued = ans.IssuedAt
	}
	return issued.Add(life - life/10)
}

func (t *authTransport) getToken(ctx context.Context, realm *url.URL, service string, scopes []string, cred Credential) (*http.Response, error) {
	u := *realm
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	if cred.Username != "" {
		q.Set("account", cred.Username)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if cred.Username != "" || cred.Password != "" {
		req.SetBasicAuth(cred.Username, cred.Password)
	}
	return t.tokens.Do(req)
}

func (t *authTransport) postToken(ctx context.Context, realm *url.URL, service string, scopes []string, form url.Values) (*http.Response, error) {
	form.Set("client_id", "berth")
	if service != "" {
		form.Set("service", service)
	}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return t.tokens.Do(req)
}

// tokenError classifies a token server's refusal: 401/403 and 429/5xx keep
// their class; anything else (400 invalid_grant, 404) means the credentials
// did not get a token, which is ErrUnauthorized, not "image not found".
func tokenError(resp *http.Response) error {
	err := responseError(resp)
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized, s == http.StatusForbidden, s == http.StatusTooManyRequests, s >= 500:
		return fmt.Errorf("token server: %w", err)
	}
	return fmt.Errorf("%w: token server: %s", ErrUnauthorized, err.Error())
}

// mergeScopes joins the actions of scopes on the same resource and sorts
// them: "repository:a:pull" and "repository:a:push" are
// "repository:a:pull,push".
func mergeScopes(scopes []string) []string {
	actions := map[string][]string{}
	var order []string
	for _, s := range scopes {
		i := strings.LastIndexByte(s, ':')
		if i <= 0 {
			continue
		}
		res, acts := s[:i], strings.Split(s[i+1:], ",")
		if _, seen := actions[res]; !seen {
			order = append(order, res)
		}
		for _, a := range acts {
			if a != "" && !slices.Contains(actions[res], a) {
				actions[res] = append(actions[res], a)
			}
		}
	}
	out := make([]string, 0, len(order))
	for _, res := range order {
		acts := actions[res]
		slices.Sort(acts)
		out = append(out, res+":"+strings.Join(acts, ","))
	}
	slices.Sort(out)
	return out
}

func withoutScope(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		if k != "scope" && k != "error" {
			out[k] = v
		}
	}
	return out
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
