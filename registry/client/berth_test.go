package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBerthRoundTrip: push an image, read it back every way, delete it.
func TestBerthRoundTrip(t *testing.T) {
	ctx := t.Context()
	host := startBerth(t, nil)
	c := New()
	if err := c.Ping(ctx, host); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ref := mustRef(t, host+"/team/app:v1")
	img := newImage(t, 1, nil, "", 1000, 2000)
	img.push(t, c, ref)

	m, err := c.ManifestGet(ctx, ref)
	if err != nil {
		t.Fatalf("ManifestGet by tag: %v", err)
	}
	want := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: img.Digest, Size: int64(len(img.Manifest))}
	if m.Descriptor.MediaType != want.MediaType || m.Descriptor.Digest != want.Digest || m.Descriptor.Size != want.Size || !bytes.Equal(m.Payload, img.Manifest) {
		t.Errorf("ManifestGet = %+v", m.Descriptor)
	}
	if _, err := c.ManifestGet(ctx, ref.WithDigest(img.Digest)); err != nil {
		t.Errorf("ManifestGet by tag and digest: %v", err)
	}
	byDigest := Reference{Registry: ref.Registry, Repository: ref.Repository, Digest: img.Digest}
	desc, err := c.ManifestHead(ctx, byDigest)
	if err != nil || desc.Digest != want.Digest || desc.Size != want.Size || desc.MediaType != want.MediaType {
		t.Errorf("ManifestHead = %+v, %v; want %+v", desc, err, want)
	}
	for i, l := range img.Layers {
		d := digest.FromBytes(l)
		if n, err := c.BlobHead(ctx, ref, d); err != nil || n != int64(len(l)) {
			t.Errorf("BlobHead layer %d = %d, %v", i, n, err)
		}
		if got := readBlob(t, c, ref, d, int64(len(l))); !bytes.Equal(got, l) {
			t.Errorf("layer %d differs", i)
		}
	}
	if tags, err := c.Tags(ctx, ref); err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("Tags = %q, %v", tags, err)
	}
	if repos, err := c.Catalog(ctx, host); err != nil || !slices.Equal(repos, []string{"team/app"}) {
		t.Errorf("Catalog = %q, %v", repos, err)
	}

	if err := c.ManifestDelete(ctx, byDigest); err != nil {
		t.Fatalf("ManifestDelete: %v", err)
	}
	_, err = c.ManifestGet(ctx, byDigest)
	var re *ResponseError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &re) || !re.HasCode("MANIFEST_UNKNOWN") {
		t.Errorf("ManifestGet after delete: %v, want ErrNotFound with MANIFEST_UNKNOWN", err)
	}
	if _, err := c.BlobHead(ctx, ref, digest.FromString("nothing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("BlobHead unknown blob: %v, want ErrNotFound", err)
	}
	if _, err := c.Tags(ctx, mustRef(t, host+"/no/such")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tags of an unknown repository: %v, want ErrNotFound", err)
	}
}

// TestBerthRangeResume: a download cut short resumes from its offset, and
// only the missing bytes are served again.
func TestBerthRangeResume(t *testing.T) {
	ctx := t.Context()
	rec := newRecorder()
	host := startBerth(t, rec.wrap)
	c := New()
	ref := mustRef(t, host+"/resume:latest")
	blob := randomBytes(300_000, 7)
	d := digest.FromBytes(blob)
	if err := c.BlobPut(ctx, ref, blobDesc(blob, ""), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}

	for _, offset := range []int64{0, 1, 123_456, int64(len(blob)) - 1, int64(len(blob))} {
		rec.reset()
		rc, size, err := c.BlobGet(ctx, ref, d, offset)
		if err != nil {
			t.Fatalf("BlobGet from %d: %v", offset, err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read from %d: %v", offset, err)
		}
		if size != int64(len(blob)) {
			t.Errorf("from %d: size %d, want the whole blob's %d", offset, size, len(blob))
		}
		if !bytes.Equal(got.Bytes(), blob[offset:]) {
			t.Errorf("from %d: got %d bytes, not the blob's tail", offset, got.Len())
		}
		if n := rec.servedBlobBytes(); n != int64(len(blob))-offset {
			t.Errorf("from %d: server sent %d bytes, want %d", offset, n, int64(len(blob))-offset)
		}
		// The first part and the resumed rest verify together.
		whole := append(slices.Clone(blob[:offset]), got.Bytes()...)
		if digest.FromBytes(whole) != d {
			t.Errorf("from %d: resumed content does not hash to %s", offset, d)
		}
	}

	// A server that ignores Range: fine from 0, an error from elsewhere.
	noRange := startBerth(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range")
			h.ServeHTTP(w, r)
		})
	})
	ref2 := mustRef(t, noRange+"/resume:latest")
	if err := c.BlobPut(ctx, ref2, blobDesc(blob, ""), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.BlobGet(ctx, ref2, d, 10); !errors.Is(err, ErrRangeIgnored) {
		t.Errorf("BlobGet from 10 on a server ignoring Range: %v, want ErrRangeIgnored", err)
	}
	if got := readBlob(t, c, ref2, d, int64(len(blob))); !bytes.Equal(got, blob) {
		t.Error("BlobGet from 0 on a server ignoring Range: wrong content")
	}
}

// TestBerthChunkedUpload: a blob larger than the chunk size goes in PATCH
// chunks, each no smaller than the registry's OCI-Chunk-Min-Length.
func TestBerthChunkedUpload(t *testing.T) {
	ctx := t.Context()
	const chunk = 256 << 10
	blob := randomBytes(2*chunk+chunk/2, 3)
	d := digest.FromBytes(blob)
	for _, tc := range []struct {
		name       string
		size       int64 // of the descriptor
		minLength  int   // OCI-Chunk-Min-Length the server announces, 0 for none
		patches    int
		monolithic bool
	}{
		{"known size", int64(len(blob)), 0, 3, false},
		{"unknown size", -1, 0, 3, false},
		{"min length above chunk size", int64(len(blob)), chunk * 2, 2, false},
		{"at the threshold", int64(len(blob)), 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			var (
				mu         sync.Mutex
				patchSizes []int64
			)
			host := startBerth(t, func(h http.Handler) http.Handler {
				return rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && tc.minLength > 0 {
						w.Header().Set("OCI-Chunk-Min-Length", fmt.Sprint(tc.minLength))
					}
					if r.Method == http.MethodPatch {
						mu.Lock()
						patchSizes = append(patchSizes, r.ContentLength)
						mu.Unlock()
					}
					h.ServeHTTP(w, r)
				}))
			})
			cs := int64(chunk)
			if tc.monolithic {
				cs = int64(len(blob))
			}
			c := New(WithChunkSize(cs))
			ref := mustRef(t, host+"/chunky:latest")
			desc := v1.Descriptor{Digest: d, Size: tc.size}
			if err := c.BlobPut(ctx, ref, desc, bytes.NewReader(blob)); err != nil {
				t.Fatalf("BlobPut: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := rec.count("PATCH uploads"); got != tc.patches {
				t.Errorf("%d PATCH requests (sizes %v), want %d", got, patchSizes, tc.patches)
			}
			for i, n := range patchSizes {
				if i < len(patchSizes)-1 && n < int64(max(tc.minLength, chunk)) {
					t.Errorf("PATCH %d carried %d bytes, below the minimum", i, n)
				}
			}
			if got := rec.count("PUT uploads"); got != 1 {
				t.Errorf("%d PUT requests, want 1", got)
			}
			if got := readBlob(t, c, ref, d, int64(len(blob))); !bytes.Equal(got, blob) {
				t.Error("uploaded blob reads back differently")
			}
		})
	}
}

// TestBerthUploadDigestMismatch: content that is not the descriptor's is
// refused before the registry commits it, and the session is cancelled.
func TestBerthUploadDigestMismatch(t *testing.T) {
	ctx := t.Context()
	for _, chunkSize := range []int64{1 << 20, 1000} {
		t.Run(fmt.Sprint("chunk size ", chunkSize), func(t *testing.T) {
			rec := newRecorder()
			host := startBerth(t, rec.wrap)
			c := New(WithChunkSize(chunkSize))
			ref := mustRef(t, host+"/bad:latest")
			blob := randomBytes(5000, 9)
			wrong := v1.Descriptor{Digest: digest.FromString("something else"), Size: int64(len(blob))}
			err := c.BlobPut(ctx, ref, wrong, bytes.NewReader(blob))
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("BlobPut of wrong content: %v, want ErrDigestMismatch", err)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("a digest mismatch is reported as the registry being unavailable: %v", err)
			}
			if rec.count("DELETE uploads") != 1 {
				t.Errorf("%d DELETEs of the upload session, want 1", rec.count("DELETE uploads"))
			}
			for _, d := range []digest.Digest{wrong.Digest, digest.FromBytes(blob)} {
				if _, err := c.BlobHead(ctx, ref, d); !errors.Is(err, ErrNotFound) {
					t.Errorf("BlobHead %s after a refused upload: %v, want ErrNotFound", d, err)
				}
			}
			// Too short for its size.
			short := blobDesc(blob, "")
			short.Size++
			if err := c.BlobPut(ctx, ref, short, bytes.NewReader(blob)); err == nil {
				t.Error("BlobPut of content shorter than its size succeeded")
			}
		})
	}
}

// TestBerthMount: a blob is mounted from a repository that has it; one
// that nobody has is not, and the upload the registry opened is cancelled.
func TestBerthMount(t *testing.T) {
	ctx := t.Context()
	rec := newRecorder()
	host := startBerth(t, rec.wrap)
	c := New()
	src, dst := mustRef(t, host+"/src:latest"), mustRef(t, host+"/dst:latest")
	blob := randomBytes(1000, 5)
	d := digest.FromBytes(blob)
	if err := c.BlobPut(ctx, src, blobDesc(blob, ""), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	ok, err := c.BlobMount(ctx, dst, src.Repository, d)
	if err != nil || !ok {
		t.Fatalf("BlobMount of a blob src has = %v, %v; want mounted", ok, err)
	}
	if n, err := c.BlobHead(ctx, dst, d); err != nil || n != int64(len(blob)) {
		t.Errorf("BlobHead in dst after mount = %d, %v", n, err)
	}
	rec.reset()
	unknown := digest.FromString("nobody has this")
	ok, err = c.BlobMount(ctx, dst, src.Repository, unknown)
	if err != nil || ok {
		t.Fatalf("BlobMount of an unknown blob = %v, %v; want not mounted, no error", ok, err)
	}
	if rec.count("DELETE uploads") != 1 {
		t.Errorf("the upload opened by a declined mount was not cancelled: %v", rec.counts)
	}
}

// TestBerthPagination: tags and catalog follow Link pages.
func TestBerthPagination(t *testing.T) {
	ctx := t.Context()
	rec := newRecorder()
	host := startBerth(t, rec.wrap)
	c := New(WithPageSize(3))
	img := newImage(t, 2, nil, "", 10)
	var wantTags, wantRepos []string
	for i := range 10 {
		tag := fmt.Sprintf("t%02d", i)
		img.push(t, c, mustRef(t, host+"/paged:"+tag))
		wantTags = append(wantTags, tag)
	}
	for i := range 5 {
		repo := fmt.Sprintf("repo%d", i)
		img.push(t, c, mustRef(t, host+"/"+repo+":x"))
		wantRepos = append(wantRepos, repo)
	}
	wantRepos = append([]string{"paged"}, wantRepos...)
	rec.reset()
	tags, err := c.Tags(ctx, mustRef(t, host+"/paged"))
	if err != nil || !slices.Equal(tags, wantTags) {
		t.Errorf("Tags = %q, %v; want %q", tags, err, wantTags)
	}
	if got := rec.count("GET tags"); got != 4 {
		t.Errorf("Tags took %d pages, want 4 of 3", got)
	}
	repos, err := c.Catalog(ctx, host)
	if err != nil || !slices.Equal(repos, wantRepos) {
		t.Errorf("Catalog = %q, %v; want %q", repos, err, wantRepos)
	}
	if got := rec.count("GET _catalog"); got != 2 {
		t.Errorf("Catalog took %d pages, want 2 of 3", got)
	}
}

// TestBerthChunkResume: a chunk whose PATCH fails transiently is resumed
// from where the registry stands, not restarted.
func TestBerthChunkResume(t *testing.T) {
	const chunk = 64 << 10
	blob := randomBytes(3*chunk+100, 4)
	d := digest.FromBytes(blob)
	for _, tc := range []struct {
		name    string
		lost    bool // the registry got the chunk, the answer was lost
		patches int
	}{
		{"answer lost", true, 4},
		{"chunk dropped", false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			var patches atomic.Int32
			host := startBerth(t, func(h http.Handler) http.Handler {
				return rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPatch || patches.Add(1) != 2 {
						h.ServeHTTP(w, r)
						return
					}
					if tc.lost {
						h.ServeHTTP(&bufferedWriter{header: http.Header{}}, r)
						w.WriteHeader(http.StatusBadGateway)
						return
					}
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				}))
			})
			c := New(WithChunkSize(chunk), fastRetry())
			ref := mustRef(t, host+"/resume/push:1")
			if err := c.BlobPut(t.Context(), ref, blobDesc(blob, ""), bytes.NewReader(blob)); err != nil {
				t.Fatalf("BlobPut: %v", err)
			}
			if got := rec.count("PATCH uploads"); got != tc.patches {
				t.Errorf("%d PATCHes, want %d", got, tc.patches)
			}
			if got := rec.count("GET uploads"); got != 1 {
				t.Errorf("%d upload status requests, want 1", got)
			}
			if got := readBlob(t, c, ref, d, int64(len(blob))); !bytes.Equal(got, blob) {
				t.Error("resumed upload reads back differently")
			}
		})
	}
}

// TestBerthUploadReaderError: the caller's reader failing is reported as
// such (not as the registry being unavailable) and cancels the upload.
func TestBerthUploadReaderError(t *testing.T) {
	broken := errors.New("disk on fire")
	for _, chunkSize := range []int64{1 << 20, 1000} {
		rec := newRecorder()
		host := startBerth(t, rec.wrap)
		c := New(WithChunkSize(chunkSize), fastRetry())
		blob := randomBytes(5000, 8)
		r := io.MultiReader(bytes.NewReader(blob[:2500]), iotest.ErrReader(broken))
		err := c.BlobPut(t.Context(), mustRef(t, host+"/broken:1"), blobDesc(blob, ""), r)
		if !errors.Is(err, broken) || errors.Is(err, ErrUnavailable) {
			t.Errorf("chunk size %d: BlobPut = %v, want the reader's error only", chunkSize, err)
		}
		if rec.count("DELETE uploads") != 1 {
			t.Errorf("chunk size %d: the upload was not cancelled: %v", chunkSize, rec.counts)
		}
	}
}
