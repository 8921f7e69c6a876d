package foreign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
)

// Observer hears how the download from one URL goes; any func may be nil.
type Observer struct {
	Start func()      // a download from a URL begins
	Write func(n int) // n more bytes arrived
	Done  func(error) // that download ended
}

// maxRedirects bounds the redirects one GET follows.
const maxRedirects = 5

// httpClient GETs layers: redirects stay http or https and few, and a
// server that accepts the connection but never answers is given up on.
// The body's length is bounded by store.Ingest (the descriptor's size).
var httpClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %q, not http or https", req.URL.Scheme)
		}
		return nil
	},
}

// Fetch brings the foreign layer b into s from the URLs of its descriptor,
// tried in turn: http and https only, and only those allow matches when
// allow is set. Each download is verified against the digest and size. It
// returns "" once one URL gave the layer (or it was there already), else
// why none did (each URL refused or unreachable). err is for content
// that does not match the digest (errdefs.ErrCorrupt) or a cancelled ctx,
// which stop it.
func Fetch(ctx context.Context, s *store.Store, b v1.Descriptor, allow *regexp.Regexp, obs Observer) (string, error) {
	if s.HasBlob(b.Digest, b.Size) {
		return "", nil
	}
	var why []string
	for _, raw := range b.URLs {
		if reason := refused(raw, allow); reason != "" {
			why = append(why, reason)
			continue
		}
		fetch := func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
			return get(ctx, raw, offset)
		}
		if obs.Start != nil {
			obs.Start()
		}
		_, err := s.Ingest(ctx, b, fetch, store.IngestObserver{Write: obs.Write})
		if obs.Done != nil {
			obs.Done(err)
		}
		if err == nil {
			return "", nil
		}
		if errors.Is(err, errdefs.ErrCorrupt) || ctx.Err() != nil {
			return "", fmt.Errorf("foreign layer %s from %s: %w", b.Digest, raw, err)
		}
		why = append(why, fmt.Sprintf("URL %s is unreachable: %v", raw, err))
	}
	if len(why) == 0 {
		why = append(why, "no URL")
	}
	return strings.Join(why, "; "), nil
}

// refused says why the URL raw may not be fetched, or "".
func refused(raw string, allow *regexp.Regexp) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Sprintf("URL %q is not http or https", raw)
	case allow != nil && !allow.MatchString(raw):
		return fmt.Sprintf("URL %s is not allowed (--foreign-urls %s)", raw, allow)
	}
	return ""
}

// NotInRegistry is the reason a layer is absent when its URLs gave why
// and the registry does not hold it either.
func NotInRegistry(why string) string {
	return why + "; and the registry does not hold it"
}

// Warning is the one-line warning that the image ref was stored without
// its foreign layer b, for the reason why.
func Warning(ref string, b v1.Descriptor, why string) string {
	return fmt.Sprintf("foreign layer %s of %s not stored (URLs %s): %s; the image is stored without it (a container of it cannot be made; verify --repair fetches it later)",
		b.Digest, ref, strings.Join(b.URLs, ", "), why)
}

// get GETs raw from offset (a Range request; a server that ignores it
// sends everything, from 0).
func get(ctx context.Context, raw string, offset int64) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		return resp.Body, offset, nil
	case resp.StatusCode == http.StatusOK:
		return resp.Body, 0, nil
	}
	resp.Body.Close()
	return nil, 0, fmt.Errorf("HTTP %s", resp.Status)
}
