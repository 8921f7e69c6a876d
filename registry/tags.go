package registry

import (
	"encoding/json"
	"net/http"
	"sort"
)

// maxCatalog is how many repositories one catalog page holds at most.
const maxCatalog = 1000

// tags serves GET /v2/<name>/tags/list[?n=&last=]: 200 with the tags in
// byte-wise order after last, at most n, and a Link to the next page when
// cut; 400 NAME_INVALID or PAGINATION_NUMBER_INVALID; 404 NAME_UNKNOWN.
func (a *App) tags(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	n, last, err := pagination(r)
	if err != nil {
		return err
	}
	all, err := a.tagList(r.Context(), name)
	if err != nil {
		return err
	}
	page := all[sort.Search(len(all), func(i int) bool { return all[i] > last }):]
	if m := a.opts.maxTags; m > 0 && n > m {
		n = m // as Distribution's tags.maxtags: fewer, with a Link to the rest
	}
	if n >= 0 && len(page) > n {
		page = page[:n]
		if n > 0 {
			nextLink(w, a.path("/v2/"+name+"/tags/list"), n, page[n-1])
		}
	}
	// {"name":...,"tags":[...]} as json.Marshal writes it, without its
	// reflection over thousands of strings.
	b := make([]byte, 0, 32+len(name)+len(page)*24)
	b = appendJSONString(append(b, `{"name":`...), name)
	b = append(b, `,"tags":[`...)
	for i, t := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, "]}"...))
	return nil
}

// appendJSONString appends s as json.Marshal encodes it: names and tags
// need no escaping and are copied between quotes; anything else goes
// through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' || c == ':') {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// catalog serves GET /v2/_catalog[?n=&last=]: 200 with repository names in
// byte-wise order after last, at most n (and never more than WithCatalogMax,
// default 1000), and a
// Link to the next page when cut; 400 PAGINATION_NUMBER_INVALID. Under
// access control it lists only what the caller may pull.
func (a *App) catalog(w http.ResponseWriter, r *http.Request) error {
	n, last, err := pagination(r)
	if err != nil {
		return err
	}
	if m := a.catalogMax(); n < 0 || n > m {
		n = m
	}
	names, err := a.listable(r, n+1, last)
	if err != nil {
		return err
	}
	if len(names) > n {
		names = names[:n]
		if n > 0 {
			nextLink(w, a.path("/v2/_catalog"), n, names[n-1])
		}
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// listable returns up to n repository names after last that the caller's
// grant lets it see, reading the catalog page by page.
func (a *App) listable(r *http.Request, n int, last string) ([]string, error) {
	g := grantOf(r.Context())
	if g == nil {
		return a.store.Catalog(r.Context(), n, last)
	}
	var names []string
	for len(names) < n {
		page, err := a.store.Catalog(r.Context(), maxCatalog, last)
		if err != nil {
			return nil, err
		}
		for _, name := range page {
			if g.MayList(name) && len(names) < n {
				names = append(names, name)
			}
		}
		if len(page) < maxCatalog {
			break
		}
		last = page[len(page)-1]
	}
	return names, nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
	return nil
}
