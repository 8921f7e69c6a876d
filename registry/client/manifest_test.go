package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// tamper replaces the bodies of manifest GETs with evil, keeping the
// registry's headers (Docker-Content-Digest among them).
func tamper(evil []byte) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || pathKind(r.URL.Path) != "manifests" {
				h.ServeHTTP(w, r)
				return
			}
			rec := &bufferedWriter{header: http.Header{}}
			h.ServeHTTP(rec, r)
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(evil)))
			w.WriteHeader(rec.status)
			_, _ = w.Write(evil)
		})
	}
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(s int)   { b.status = s }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// TestManifestDigestVerification: a manifest whose bytes are not what the
// reference's digest or the registry's Docker-Content-Digest says is
// refused.
func TestManifestDigestVerification(t *testing.T) {
	ctx := t.Context()
	img := newImage(t, 1, nil, "", 10)
	evil := bytes.Replace(img.Manifest, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":2 `), 1)
	var armed atomic.Bool
	host := startBerth(t, func(h http.Handler) http.Handler {
		bad := tamper(evil)(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() {
				bad.ServeHTTP(w, r)
			} else {
				h.ServeHTTP(w, r)
			}
		})
	})
	c := New()
	ref := mustRef(t, host+"/verify:1")
	img.push(t, c, ref)
	armed.Store(true)
	for name, r := range map[string]Reference{
		"by tag (Docker-Content-Digest)": ref,
		"by digest":                      {Registry: ref.Registry, Repository: ref.Repository, Digest: img.Digest},
	} {
		if _, err := c.ManifestGet(ctx, r); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("ManifestGet %s of tampered bytes: %v, want ErrDigestMismatch", name, err)
		}
	}
	other := ref.WithDigest(digest.FromString("another manifest"))
	other.Tag = ""
	if _, err := c.ManifestHead(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Errorf("ManifestHead of an unknown digest: %v", err)
	}
	if _, err := c.ManifestPut(ctx, other, v1.MediaTypeImageManifest, img.Manifest); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("ManifestPut under another digest: %v, want ErrDigestMismatch", err)
	}
}

// TestManifestTooLarge: a manifest past 4 MiB is not read whole.
func TestManifestTooLarge(t *testing.T) {
	huge := bytes.Repeat([]byte(" "), MaxManifestSize+1)
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", v1.MediaTypeImageManifest)
		_, _ = w.Write(huge)
	}))
	if _, err := New().ManifestGet(t.Context(), mustRef(t, host+"/big:1")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ManifestGet of %d bytes: %v, want ErrTooLarge", len(huge), err)
	}
}

// TestManifestMediaType: a registry that labels manifests application/json
// still yields the manifest's own media type.
func TestManifestMediaType(t *testing.T) {
	for _, tc := range []struct{ contentType, payload, want string }{
		{"application/vnd.oci.image.index.v1+json; charset=utf-8", `{}`, v1.MediaTypeImageIndex},
		{"application/json", `{"mediaType":"` + MediaTypeDockerManifest + `"}`, MediaTypeDockerManifest},
		{"", `{"schemaVersion":2,"manifests":[]}`, v1.MediaTypeImageIndex},
		{"text/plain", `{"schemaVersion":2,"config":{}}`, "text/plain"},
	} {
		if got := manifestMediaType(tc.contentType, []byte(tc.payload)); got != tc.want {
			t.Errorf("manifestMediaType(%q, %s) = %q, want %q", tc.contentType, tc.payload, got, tc.want)
		}
	}
}

// TestVerifyReader: content is accepted only when it is exactly the
// digest's and size's, and the verdict comes at EOF.
func TestVerifyReader(t *testing.T) {
	content := randomBytes(10_000, 1)
	d := digest.FromBytes(content)
	size := int64(len(content))
	for _, tc := range []struct {
		name    string
		r       io.Reader
		d       digest.Digest
		size    int64
		wantErr bool
	}{
		{"good", bytes.NewReader(content), d, size, false},
		{"good, size unknown", bytes.NewReader(content), d, -1, false},
		{"good, one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), d, size, false},
		{"flipped byte", bytes.NewReader(append([]byte{content[0] ^ 1}, content[1:]...)), d, size, true},
		{"one byte short", bytes.NewReader(content[:size-1]), d, size, true},
		{"one byte long", bytes.NewReader(append(content, 0)), d, size, true},
		{"long, size unknown", bytes.NewReader(append(content, 0)), d, -1, true},
		{"wrong size announced", bytes.NewReader(content), d, size + 1, true},
		{"invalid digest", bytes.NewReader(content), "sha256:nope", size, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vr := VerifyReader(tc.r, tc.d, tc.size)
			got, err := io.ReadAll(vr)
			if tc.wantErr != (err != nil) {
				t.Fatalf("ReadAll: %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && tc.d == d && !errors.Is(err, ErrDigestMismatch) {
				t.Errorf("error %v does not wrap ErrDigestMismatch", err)
			}
			if err == nil && !bytes.Equal(got, content) {
				t.Error("content changed on the way")
			}
			if _, again := vr.Read(make([]byte, 1)); (err == nil) != (again == io.EOF) {
				t.Errorf("read after the verdict: %v", again)
			}
		})
	}
	// Bad content is not refused before EOF: the bytes stream.
	vr := VerifyReader(bytes.NewReader(bytes.Repeat([]byte{1}, 100)), d, -1)
	if n, err := vr.Read(make([]byte, 50)); n != 50 || err != nil {
		t.Errorf("first read of bad content = %d, %v; want 50, nil", n, err)
	}
}

// TestReferrers: the referrers API, filtered by artifact type; and the
// referrers tag schema when the API answers 404.
func TestReferrers(t *testing.T) {
	ctx := t.Context()
	const sbom, sig = "application/vnd.example.sbom", "application/vnd.example.sig"
	for _, tc := range []struct {
		name  string
		noAPI bool
	}{{"API", false}, {"tag schema fallback", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			host := startBerth(t, func(h http.Handler) http.Handler {
				return rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.noAPI && strings.Contains(r.URL.Path, "/referrers/") {
						http.NotFound(w, r)
						return
					}
					h.ServeHTTP(w, r)
				}))
			})
			c := New()
			ref := mustRef(t, host+"/art:1")
			subject := newImage(t, 1, nil, "", 10)
			subject.push(t, c, ref)
			if idx, err := c.Referrers(ctx, ref, subject.Digest, ""); err != nil || len(idx.Manifests) != 0 {
				t.Fatalf("Referrers before any = %+v, %v; want an empty index", idx, err)
			}
			subjDesc := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: subject.Digest, Size: int64(len(subject.Manifest))}
			var arts []testImage
			for i, at := range []string{sbom, sig, sbom} {
				a := newImage(t, uint64(10+i), subjDesc, at, 5)
				a.push(t, c, ref.WithTag("art"+strconv.Itoa(i)))
				arts = append(arts, a)
			}
			if tc.noAPI {
				// What a pusher does on such a registry: an index under the
				// subject's tag.
				var descs []v1.Descriptor
				for i, a := range arts {
					descs = append(descs, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: a.Digest,
						Size: int64(len(a.Manifest)), ArtifactType: []string{sbom, sig, sbom}[i]})
				}
				b, _ := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: descs})
				if _, err := c.ManifestPut(ctx, ref.WithTag(referrersTag(subject.Digest)), v1.MediaTypeImageIndex, b); err != nil {
					t.Fatal(err)
				}
			}
			for at, want := range map[string]int{"": 3, sbom: 2, sig: 1, "application/none": 0} {
				idx, err := c.Referrers(ctx, ref, subject.Digest, at)
				if err != nil {
					t.Fatalf("Referrers(%q): %v", at, err)
				}
				if len(idx.Manifests) != want {
					t.Errorf("Referrers(%q) lists %d, want %d", at, len(idx.Manifests), want)
				}
				for _, m := range idx.Manifests {
					if at != "" && m.ArtifactType != at {
						t.Errorf("Referrers(%q) lists a %q", at, m.ArtifactType)
					}
				}
			}
			if tc.noAPI && rec.count("GET manifests") == 0 {
				t.Error("the fallback read no tag")
			}
		})
	}
}

// TestResponseError: the registry's error codes reach the caller.
func TestResponseError(t *testing.T) {
	host := startBerth(t, nil)
	c := New()
	ref := mustRef(t, host+"/errs:1")
	_, err := c.ManifestPut(t.Context(), ref, v1.MediaTypeImageManifest, newImage(t, 1, nil, "", 10).Manifest)
	var re *ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest || !re.HasCode("MANIFEST_BLOB_UNKNOWN") {
		t.Fatalf("ManifestPut without blobs: %v, want 400 MANIFEST_BLOB_UNKNOWN", err)
	}
	if !strings.Contains(err.Error(), "MANIFEST_BLOB_UNKNOWN") || !strings.Contains(err.Error(), "PUT http://"+host+"/v2/errs/manifests/1") {
		t.Errorf("message %q", err)
	}
	for _, class := range []error{ErrNotFound, ErrUnauthorized, ErrDenied, ErrUnavailable, ErrUnsupported} {
		if errors.Is(err, class) {
			t.Errorf("a 400 is classed %v", class)
		}
	}
	for status, class := range map[int]error{404: ErrNotFound, 401: ErrUnauthorized, 403: ErrDenied, 405: ErrUnsupported, 429: ErrUnavailable, 503: ErrUnavailable} {
		if e := (&ResponseError{Status: status}); !errors.Is(e, class) {
			t.Errorf("status %d is not %v", status, class)
		}
	}
	down := New(fastRetry())
	if err := down.Ping(t.Context(), "127.0.0.1:1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping of a closed port: %v, want ErrUnavailable", err)
	}
}
