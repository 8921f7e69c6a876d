package foreign

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
)

// TestFetch: the URL policy, the reasons given when no URL gives the
// layer, a redirect off http, wrong content, and the first URL that works.
func TestFetch(t *testing.T) {
	data := []byte(strings.Repeat("foreign layer ", 1000))
	desc := v1.Descriptor{MediaType: v1.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // the type under test
		Digest: digest.FromBytes(data), Size: int64(len(data))}
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write(data)
		case "/bad":
			_, _ = w.Write([]byte("not the layer"))
		case "/ftp":
			http.Redirect(w, r, "ftp://example.com/layer", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(allow *regexp.Regexp, urls ...string) (string, error) {
		d := desc
		d.URLs = urls
		return Fetch(t.Context(), s, d, allow, Observer{})
	}

	why, err := fetch(regexp.MustCompile(`^https://download\.example\.com/`), "file:///etc/passwd", srv.URL+"/ok", srv.URL+"/missing", srv.URL+"/ftp")
	if err != nil || hits != 0 {
		t.Fatalf("refused URLs: %v, %d requests", err, hits)
	}
	for _, want := range []string{`"file:///etc/passwd" is not http or https`, srv.URL + "/ok is not allowed", srv.URL + "/ftp is not allowed"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q does not say %q", why, want)
		}
	}
	if why, err := fetch(nil, srv.URL+"/missing", srv.URL+"/ftp"); err != nil || !strings.Contains(why, "HTTP 404") || !strings.Contains(why, "not http or https") {
		t.Errorf("unreachable: %q, %v", why, err)
	}
	if why, err := fetch(nil); err != nil || why != "no URL" {
		t.Errorf("no URL: %q, %v", why, err)
	}
	if _, err := fetch(nil, srv.URL+"/bad", srv.URL+"/ok"); !errors.Is(err, errdefs.ErrCorrupt) || !strings.Contains(err.Error(), desc.Digest.String()) {
		t.Errorf("wrong content: %v, want ErrCorrupt naming the layer", err)
	}
	if s.HasBlob(desc.Digest, desc.Size) {
		t.Fatal("wrong content was stored")
	}
	if why, err := fetch(nil, srv.URL+"/missing", srv.URL+"/ok"); err != nil || why != "" || !s.HasBlob(desc.Digest, desc.Size) {
		t.Errorf("second URL good: %q, %v", why, err)
	}
}
