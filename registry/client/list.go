package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxPages bounds how many pages a list follows: a registry whose Link
// headers loop must not keep the client busy forever.
const maxPages = 100000

// Ping checks that registry answers the API and that the client's
// credentials for it are good (GET /v2/, answering its challenge, as docker
// login does). Errors: ErrUnauthorized, ErrUnavailable, ErrNotFound (not a
// registry).
func (c *Client) Ping(ctx context.Context, registry string) error {
	req, err := c.request(ctx, http.MethodGet, c.url(registry, "/v2/", nil), nil, registry)
	if err != nil {
		return err
	}
	resp, err := c.expect(req, http.StatusOK)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

// Tags lists the tags of ref's repository, following Link pages on the
// registry's origin. Errors: ErrNotFound (unknown repository),
// ErrUnauthorized, ErrDenied, ErrUnavailable, ErrCrossOrigin (a Link off the
// registry), ErrTooLarge (past WithListLimits).
func (c *Client) Tags(ctx context.Context, ref Reference) ([]string, error) {
	if err := validRepo(ref); err != nil {
		return nil, err
	}
	var tags []string
	err := c.pages(ctx, c.repoURL(ref, "/tags/list", c.pageQuery()), ref.Registry, []string{pullScope(ref.Repository)},
		func(body []byte) (int, error) {
			var page struct {
				Tags []string `json:"tags"`
			}
			err := json.Unmarshal(body, &page)
			tags = append(tags, page.Tags...)
			return len(page.Tags), err
		})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// Catalog lists the repositories of registry, following Link pages on the
// registry's origin. Errors: ErrUnauthorized, ErrDenied, ErrUnsupported or
// ErrNotFound (no catalog), ErrUnavailable, ErrCrossOrigin, ErrTooLarge.
func (c *Client) Catalog(ctx context.Context, registry string) ([]string, error) {
	var repos []string
	err := c.pages(ctx, c.url(registry, "/v2/_catalog", c.pageQuery()), registry, []string{catalogScope()},
		func(body []byte) (int, error) {
			var page struct {
				Repositories []string `json:"repositories"`
			}
			err := json.Unmarshal(body, &page)
			repos = append(repos, page.Repositories...)
			return len(page.Repositories), err
		})
	if err != nil {
		return nil, err
	}
	return repos, nil
}

// Referrers lists the manifests in ref's repository whose subject is d,
// only those of artifactType when it is not empty. It uses the referrers
// API, and, when the registry answers that with 404, the referrers tag
// schema (an index tagged "sha256-<hex>"); no such tag is an empty list.
// Errors: ErrUnauthorized, ErrDenied, ErrUnavailable, ErrCrossOrigin,
// ErrTooLarge.
func (c *Client) Referrers(ctx context.Context, ref Reference, d digest.Digest, artifactType string) (*v1.Index, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("subject %q: %w", d, err)
	}
	if err := validRepo(ref); err != nil {
		return nil, err
	}
	idx := &v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{}}
	var q url.Values
	if artifactType != "" {
		q = url.Values{"artifactType": {artifactType}}
	}
	filtered := true
	err := c.pagesWith(ctx, c.repoURL(ref, "/referrers/"+d.String(), q), ref.Registry, []string{pullScope(ref.Repository)},
		v1.MediaTypeImageIndex, func(h http.Header, body []byte) (int, error) {
			var page v1.Index
			if err := json.Unmarshal(body, &page); err != nil {
				return 0, err
			}
			idx.Manifests = append(idx.Manifests, page.Manifests...)
			if !strings.Contains(h.Get("OCI-Filters-Applied"), "artifactType") {
				filtered = false
			}
			return len(page.Manifests), nil
		})
	if errors.Is(err, ErrNotFound) {
		return c.referrersByTag(ctx, ref, d, artifactType)
	}
	if err != nil {
		return nil, err
	}
	if !filtered {
		idx.Manifests = filterArtifactType(idx.Manifests, artifactType)
	}
	return idx, nil
}

// referrersByTag reads the referrers tag schema's index for subject d.
func (c *Client) referrersByTag(ctx context.Context, ref Reference, d digest.Digest, artifactType string) (*v1.Index, error) {
	idx := &v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{}}
	m, err := c.ManifestGet(ctx, ref.WithTag(referrersTag(d)))
	if errors.Is(err, ErrNotFound) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	var tagged v1.Index
	if err := json.Unmarshal(m.Payload, &tagged); err != nil {
		return nil, fmt.Errorf("referrers tag %s: %w", referrersTag(d), err)
	}
	idx.Manifests = append(idx.Manifests, filterArtifactType(tagged.Manifests, artifactType)...)
	return idx, nil
}

func filterArtifactType(descs []v1.Descriptor, artifactType string) []v1.Descriptor {
	if artifactType == "" {
		return descs
	}
	out := descs[:0:0]
	for _, d := range descs {
		if d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out
}

func (c *Client) pageQuery() url.Values {
	if c.pageSize <= 0 {
		return nil
	}
	return url.Values{"n": {strconv.Itoa(c.pageSize)}}
}

// pages GETs u and every page its Link headers lead to, handing each JSON
// body to page, which returns how many entries it held.
func (c *Client) pages(ctx context.Context, u *url.URL, registry string, scopes []string, page func([]byte) (int, error)) error {
	return c.pagesWith(ctx, u, registry, scopes, "application/json", func(_ http.Header, b []byte) (int, error) { return page(b) })
}

// pagesWith is pages with an Accept header and the page's headers. A Link
// is followed only on the registry's origin (see follow), and the whole
// listing is bounded by the client's list limits: pages are bounded one by
// one and in number, but only a bound on the sum keeps a registry that
// keeps paging from filling the memory.
func (c *Client) pagesWith(ctx context.Context, u *url.URL, registry string, scopes []string, accept string, page func(http.Header, []byte) (int, error)) error {
	seen := map[string]bool{}
	var entries int
	var size int64
	for n := 0; u != nil; n++ {
		if n >= maxPages || seen[u.String()] {
			return fmt.Errorf("GET %s: Link headers loop", redactURL(u.String()))
		}
		seen[u.String()] = true
		req, err := c.request(ctx, http.MethodGet, u, nil, registry, scopes...)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		resp, err := c.expect(req, http.StatusOK)
		if err != nil {
			return err
		}
		limit := min(maxJSON, c.listBytes-size)
		body, err := readCapped(resp.Body, limit)
		resp.Body.Close()
		if err != nil {
			if errors.Is(err, ErrTooLarge) && limit < maxJSON {
				err = fmt.Errorf("listing of more than %d bytes in all: %w", c.listBytes, ErrTooLarge)
			}
			return fmt.Errorf("GET %s: %w", redactURL(u.String()), err)
		}
		size += int64(len(body))
		got, err := page(resp.Header, body)
		if err != nil {
			return fmt.Errorf("GET %s: %w", redactURL(u.String()), err)
		}
		if entries += got; entries > c.listEntries {
			return fmt.Errorf("GET %s: listing of more than %d entries: %w", redactURL(u.String()), c.listEntries, ErrTooLarge)
		}
		u = nil
		if next := nextLink(resp.Header); next != "" {
			if u, err = c.follow(resp, registry, "Link", next); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextLink returns the target of the rel="next" Link (RFC 8288), or "".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			params := v
			if i := strings.Index(v, ",<"); i >= 0 {
				params, v = v[:i], v[i+1:]
			} else if i := strings.Index(v, ", <"); i >= 0 {
				params, v = v[:i], v[i+1:]
			} else {
				v = ""
			}
			for _, p := range strings.Split(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}
