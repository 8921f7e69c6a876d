package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/repometa"
)

// Page sizes.
const (
	reposPerPage = 50
	tagsPerPage  = 50
	searchMax    = 100  // default results of the search API and page
	searchCap    = 1000 // most the search API returns
)

// pager is the navigation of a paged list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // URLs; "" at either end
}

// paginate cuts [0,total) into pages of per and says which part page
// shows, with links made by link.
func paginate(r *http.Request, total, per int, link func(page int) string) (lo, hi int, p pager) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	p.Pages = max(1, (total+per-1)/per)
	p.Page = min(max(page, 1), p.Pages)
	p.Total = total
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.Next = link(p.Page + 1)
	}
	lo = (p.Page - 1) * per
	return lo, min(lo+per, total), p
}

type repoRow struct {
	Name   string
	Tags   int
	Size   int64
	Pushed time.Time
	Known  bool
}

type reposData struct {
	Q, Sort string
	Sorts   []string
	Rows    []repoRow
	Pager   pager
}

// repositories is the front page: the repositories the viewer may pull,
// filtered by q (a part of the name), sorted, paged.
func (h *Handler) repositories(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	sortBy := r.URL.Query().Get("sort")
	if sortBy != "size" && sortBy != "pushed" {
		sortBy = "name"
	}
	infos, err := h.store.RepoInfos(r.Context())
	if err != nil {
		return err
	}
	infos = h.sortedRepos(infos, sortBy)
	rows := make([]*repometa.RepoInfo, 0, len(infos))
	for _, ri := range infos {
		if (q == "" || strings.Contains(strings.ToLower(ri.Name), q)) && v.MayPull(ri.Name) {
			rows = append(rows, ri)
		}
	}
	lo, hi, p := paginate(r, len(rows), reposPerPage, func(page int) string {
		return h.prefix + Path + "?" + query("q", q, "sort", sortBy, "page", strconv.Itoa(page))
	})
	d := reposData{Q: q, Sort: sortBy, Sorts: []string{"name", "size", "pushed"}, Pager: p}
	for _, ri := range rows[lo:hi] {
		d.Rows = append(d.Rows, repoRow{Name: ri.Name, Tags: len(ri.Tags), Size: ri.Size, Pushed: ri.Pushed, Known: ri.Known})
	}
	return h.render(w, r, v, http.StatusOK, "repositories", "Repositories", d)
}

// sortedRepos returns infos (a RepoInfos answer, by name) in the order
// sortBy. The other orders are made once per RepoInfos answer, which the
// store reuses until the index or its metadata change, and not per request.
func (h *Handler) sortedRepos(infos []*repometa.RepoInfo, sortBy string) []*repometa.RepoInfo {
	var cmp func(a, b *repometa.RepoInfo) int
	switch sortBy {
	case "size":
		cmp = func(a, b *repometa.RepoInfo) int { return cmpDesc(a.Size, b.Size) }
	case "pushed":
		cmp = func(a, b *repometa.RepoInfo) int { return b.Pushed.Compare(a.Pushed) }
	default:
		return infos
	}
	h.sortMu.Lock()
	defer h.sortMu.Unlock()
	if c, ok := h.sorted[sortBy]; ok && len(c.of) == len(infos) && (len(infos) == 0 || &c.of[0] == &infos[0]) {
		return c.rows
	}
	rows := slices.Clone(infos)
	slices.SortStableFunc(rows, cmp)
	if h.sorted == nil {
		h.sorted = map[string]sortedRepos{}
	}
	h.sorted[sortBy] = sortedRepos{of: infos, rows: rows}
	return rows
}

// sortedRepos is a RepoInfos answer (of) in another order (rows).
type sortedRepos struct{ of, rows []*repometa.RepoInfo }

func cmpDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// query encodes key, value pairs in the order given, leaving out empty
// values.
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// repoParam is the repository a page is about: a valid name the viewer
// may pull. Anything else is the same 404, so that a page never tells a
// viewer without access that a repository exists.
func (h *Handler) repoParam(r *http.Request, v *viewer) (string, error) {
	name := r.URL.Query().Get("repo")
	if storage.CheckName(name) != nil {
		return "", pageError(http.StatusBadRequest, "%q is not a valid repository name.", name)
	}
	if !v.MayPull(name) {
		if v.User == "" && v.CanLogin {
			return "", pageError(http.StatusNotFound, "No repository %s that you may see; log in to see more.", name)
		}
		return "", pageError(http.StatusNotFound, "No repository %s that you may see.", name)
	}
	return name, nil
}

type tagRow struct {
	repometa.TagInfo
	Pulled time.Time
}

type tagsData struct {
	Repo      string
	Rows      []tagRow
	Pager     pager
	MayDelete bool
}

// tags lists a repository's tags, paged, with when each was last pulled.
func (h *Handler) tags(w http.ResponseWriter, r *http.Request, v *viewer) error {
	name, err := h.repoParam(r, v)
	if err != nil {
		return err
	}
	info, err := h.store.RepoInfo(r.Context(), name)
	if err != nil {
		return err
	}
	lo, hi, p := paginate(r, len(info.Tags), tagsPerPage, func(page int) string {
		return h.prefix + Path + "tags?" + query("repo", name, "page", strconv.Itoa(page))
	})
	d := tagsData{Repo: name, Pager: p, MayDelete: v.MayDelete(name)}
	for _, t := range info.Tags[lo:hi] {
		pulled, err := h.store.LastPulled(r.Context(), name, t.Digest)
		if err != nil {
			return err
		}
		d.Rows = append(d.Rows, tagRow{TagInfo: t, Pulled: pulled})
	}
	return h.render(w, r, v, http.StatusOK, "tags", name, d)
}

type searchData struct {
	Q    string
	Hits []repometa.SearchHit
	More bool
}

// searchPage shows the search API's results for q.
func (h *Handler) searchPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := searchData{Q: q}
	if q != "" {
		var err error
		if d.Hits, d.More, err = h.store.Search(r.Context(), q, v.MayPull, searchMax); err != nil {
			return err
		}
	}
	return h.render(w, r, v, http.StatusOK, "search", "Search", d)
}

// searchResult is the search API's answer.
type searchResult struct {
	Query   string               `json:"query"`
	Results []repometa.SearchHit `json:"results"`
	More    bool                 `json:"more"` // more matched than n
}

// searchAPI serves GET /berth/v1/search?q=<terms>[&n=<count>]: JSON of the
// tags (or repositories not indexed yet) matching every term, among the
// repositories the caller may pull. The caller is the UI's session, HTTP
// basic credentials of the registry's users, or anonymous.
func (h *Handler) searchAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		apiError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method "+r.Method+" not allowed", nil)
		return
	}
	v, err := h.apiViewer(r)
	if err != nil {
		var ch *auth.Challenge
		if errors.As(err, &ch) {
			ch.SetHeaders(w.Header())
			apiError(w, ch.Status, ch.Code(), ch.Error(), nil)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
		apiError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error(), nil)
		return
	}
	q := r.URL.Query()
	n := searchMax
	if s := q.Get("n"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			apiError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n must be a positive number", nil)
			return
		}
		n = min(n, searchCap)
	}
	terms := strings.TrimSpace(q.Get("q"))
	if terms == "" {
		apiError(w, http.StatusBadRequest, "QUERY_INVALID", "q is required: one or more words to look for", nil)
		return
	}
	if len(terms) > 256 {
		apiError(w, http.StatusBadRequest, "QUERY_INVALID", "q is longer than 256 bytes", nil)
		return
	}
	hits, more, err := h.store.Search(r.Context(), terms, v.MayPull, n)
	if err != nil {
		h.log.ErrorContext(r.Context(), "search failed", "err", err)
		apiError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the repository index cannot be read; try again later", nil)
		return
	}
	if hits == nil {
		hits = []repometa.SearchHit{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, searchResult{Query: terms, Results: hits, More: more})
}

// apiViewer is the caller of the search API.
func (h *Handler) apiViewer(r *http.Request) (*viewer, error) {
	if r.Header.Get("Authorization") == "" {
		return h.viewer(nil, r), nil
	}
	user, password, ok := r.BasicAuth()
	if !ok || !h.opts.AccessControl || h.opts.Users == nil {
		return nil, errors.New("the search API takes the registry's user names and passwords (HTTP basic auth) or the UI's session")
	}
	if err := h.opts.Users.Login(r, h.opts.Limiter, user, password); err != nil {
		return nil, err
	}
	return &viewer{h: h, User: user, who: auth.Principal{Name: user, Authenticated: true}}, nil
}

func apiError(w http.ResponseWriter, status int, code, msg string, detail any) {
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	writeJSON(w, status, struct {
		Errors []entry `json:"errors"`
	}{[]entry{{code, msg, detail}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"code":"UNKNOWN","message":"encoding failed"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
