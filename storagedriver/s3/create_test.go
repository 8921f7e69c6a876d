package s3_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// counted is a driver whose S3 requests pass through a proxy that notes
// each as "METHOD ?query-keys", and the server and root it is on.
type counted struct {
	d    *s3.Driver
	srv  *s3test.Server
	root string
	mu   sync.Mutex
	seen []string
}

func newCounted(t *testing.T, opts ...func(*s3.Params)) *counted {
	t.Helper()
	srv, root := s3test.NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &counted{srv: srv, root: root}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keys []string
		for k := range r.URL.Query() {
			if k != "x-id" { // the SDK's name of the operation
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		c.mu.Lock()
		c.seen = append(c.seen, strings.TrimSpace(r.Method+" "+strings.Join(keys, ",")))
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	p := srv.Params(s3test.Bucket, root)
	p.RegionEndpoint = proxy.URL
	for _, o := range opts {
		o(&p)
	}
	if c.d, err = s3.New(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return c
}

// take returns the requests seen since the last take.
func (c *counted) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.seen
	c.seen = nil
	return s
}

// TestCreateWritesInPlace proves Create's writers: invisible until Commit,
// several at one path at once without disturbing each other or a pending
// write there, the last Commit wins, Close discards its parts, and a small
// one costs S3 a single PutObject.
func TestCreateWritesInPlace(t *testing.T) {
	c := newCounted(t)
	d, ctx := c.d, t.Context()
	const p = "/b/data"
	pending, err := d.Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pending.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	if err := pending.Close(); err != nil {
		t.Fatal(err)
	}

	big := noise(1, 3*s3.MinChunkSize+123) // three full parts and a short last one
	a, err := d.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("small")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("Stat before any Commit: %v, want ErrPathNotFound", err)
	}
	c.take()
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); len(got) != 1 || got[0] != "PUT" {
		t.Errorf("Commit of a small Create writer: S3 requests %q, want one PutObject", got)
	}
	if got, err := d.GetContent(ctx, p); err != nil || string(got) != "small" {
		t.Fatalf("after the small Commit: %q, %v", got, err)
	}
	if _, err := a.(io.ReaderFrom).ReadFrom(bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || string(got) != "small" {
		t.Fatalf("with the big writer's parts uploaded: %q, %v; want the committed %q", got, err, "small")
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("after the big Commit: %d bytes, %v; want the %d written", len(got), err, len(big))
	}

	// Close without Commit publishes nothing and leaves no upload.
	e, err := d.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(noise(2, 2*s3.MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("after a Close: %d bytes, %v; want the committed %d", len(got), err, len(big))
	}
	// Cancel likewise.
	f, err := d.Create(ctx, "/b/other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(noise(3, s3.MinChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "/b/other"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("Stat after Cancel: %v, want ErrPathNotFound", err)
	}

	// The pending write at p went through all of it untouched, and its
	// multipart upload is the only one left.
	if ups := c.srv.Uploads(t, s3test.Bucket, c.root+"/"); len(ups) != 0 {
		t.Errorf("multipart uploads left: %q", ups)
	}
	w, err := d.Writer(ctx, p, true)
	if err != nil {
		t.Fatalf("resume the pending write: %v", err)
	}
	if w.Size() != int64(len("pending")) {
		t.Fatalf("pending write resumed at %d, want %d", w.Size(), len("pending"))
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || string(got) != "pending" {
		t.Fatalf("pending write committed: %q, %v", got, err)
	}
}

// TestPatchCosts follows an upload in chunks of at least MinChunkSize,
// each written by a writer of its own with the caller's state, as
// registry/storage's PATCHes do: every chunk after the first costs S3 at
// most three requests (the record's HEAD, the chunk as a part, the
// record), none fetches a tail, the state comes back to the next writer,
// and the commit holds every byte.
func TestPatchCosts(t *testing.T) {
	c := newCounted(t, func(p *s3.Params) { p.ChunkSize = 2 * s3.MinChunkSize })
	d, ctx := c.d, t.Context()
	const p = "/r/_uploads/u/data"
	w, err := d.Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := range 4 {
		c.take()
		w, err := d.Writer(ctx, p, true)
		if err != nil {
			t.Fatal(err)
		}
		if w.Size() != int64(len(all)) {
			t.Fatalf("chunk %d: resumed at %d, want %d", i, w.Size(), len(all))
		}
		k := w.(storagedriver.StateKeeper)
		if want := []byte(strings.Repeat("s", i)); i > 0 && !bytes.Equal(k.State(), want) {
			t.Fatalf("chunk %d: state %q, want %q", i, k.State(), want)
		}
		chunk := noise(uint64(10+i), s3.MinChunkSize+1000*i)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if !k.SetState([]byte(strings.Repeat("s", i+1))) {
			t.Fatal("SetState refused")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		all = append(all, chunk...)
		got := c.take()
		want := 3
		if i == 0 {
			want = 4 // and the multipart upload's creation
		}
		t.Logf("chunk %d: %q", i, got)
		if len(got) > want || slices.Contains(got, "GET") {
			t.Errorf("chunk %d: S3 requests %q, want at most %d and no GET", i, got, want)
		}
	}
	w, err = d.Writer(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || !bytes.Equal(got, all) {
		t.Fatalf("committed %d bytes, %v; want the %d written", len(got), err, len(all))
	}
}

// TestOpenSizedOneGet proves OpenSized and ExpectRange: a range read costs
// one GET for exactly its bytes, reading on past it one more, and a
// missing object shows at the first Read.
func TestOpenSizedOneGet(t *testing.T) {
	c := newCounted(t)
	d, ctx := c.d, t.Context()
	content := noise(7, 1<<20)
	if err := d.PutContent(ctx, "/o/blob", content); err != nil {
		t.Fatal(err)
	}
	c.take()
	f, err := d.OpenSized(ctx, "/o/blob", int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.(storagedriver.RangeExpecter).ExpectRange(1000, 5096)
	if _, err := f.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	if _, err := io.ReadFull(f, got); err != nil || !bytes.Equal(got, content[1000:5096]) {
		t.Fatalf("range read: %v, same bytes %v", err, bytes.Equal(got, content[1000:5096]))
	}
	if reqs := c.take(); len(reqs) != 1 || reqs[0] != "GET" {
		t.Errorf("range read: S3 requests %q, want one GET", reqs)
	}
	rest, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(rest, content[5096:]) {
		t.Fatalf("reading on: %d bytes, %v; want %d", len(rest), err, len(content)-5096)
	}
	if reqs := c.take(); len(reqs) != 1 {
		t.Errorf("reading on past the range: S3 requests %q, want one GET", reqs)
	}

	g, err := d.OpenSized(ctx, "/o/missing", 10)
	if err != nil {
		t.Fatalf("OpenSized of a missing object: %v, want no error before the first Read", err)
	}
	defer g.Close()
	if _, err := g.Read(make([]byte, 10)); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("Read of a missing object: %v, want ErrPathNotFound", err)
	}
}
