package storage_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// ops counts storage operations by name.
type ops struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *ops) StorageOp(_, op string, _ time.Duration, _ error) {
	o.mu.Lock()
	o.n[op]++
	o.mu.Unlock()
}

func (o *ops) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.n
	o.n = map[string]int{}
	return n
}

// TestNamespaceUsage: the usage of a namespace counts each digest linked
// in its repositories once, leaves out uploads in progress and the
// repositories of other namespaces, and agrees with an independent walk;
// it costs one Walk (on S3 a paged listing) and a Stat per blob whose size
// is not known yet, and nothing else.
func TestNamespaceUsage(t *testing.T) {
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		ctx := context.Background()
		count := &ops{n: map[string]int{}}
		s := storage.New(observed.Wrap(drv, count))
		blob := func(repo, content string) (digest.Digest, int) {
			d := digest.FromString(content)
			u, err := s.StartUpload(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Commit(ctx, d, strings.NewReader(content), 0); err != nil {
				t.Fatal(err)
			}
			return d, len(content)
		}
		image := func(repo, tag, config string, layers ...string) {
			cd, cn := blob(repo, config)
			var ls []string
			for _, l := range layers {
				ld, ln := blob(repo, l)
				ls = append(ls, `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+ld.String()+`","size":`+strconv.Itoa(ln)+`}`)
			}
			m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
				cd.String() + `","size":` + strconv.Itoa(cn) + `},"layers":[` + strings.Join(ls, ",") + `]}`
			if _, err := s.PutManifest(ctx, repo, tag, "", []byte(m), nil); err != nil {
				t.Fatal(err)
			}
		}
		image("ns/a", "v1", "config a1", "base", "a1")
		image("ns/a", "v1", "config a2", "base", "a2") // the tag moves: its index keeps both
		image("ns/b/c", "latest", "config c", "base", "c")
		image("ns", "v1", "config ns", "ns layer")
		image("nsx", "v1", "config nsx", "base", "outside")
		blob("ns/b/c", "uploaded, no manifest yet")
		if u, err := s.StartUpload(ctx, "ns/a"); err != nil {
			t.Fatal(err)
		} else if err := u.Append(ctx, strings.NewReader("in progress"), 0); err != nil {
			t.Fatal(err)
		}
		count.take()

		var sizes storage.BlobSizes
		u, err := s.NamespaceUsage(ctx, "ns", &sizes)
		if err != nil {
			t.Fatal(err)
		}
		first := count.take()
		w := registrytest.WalkUsage(t, drv, "ns/")
		if u.Bytes != w.Bytes || len(u.Blobs) != len(w.Blobs) || len(u.Tags) != len(w.Tags) {
			t.Fatalf("usage %d bytes, %d blobs, %d repositories; the walk finds %d, %d, %d", u.Bytes, len(u.Blobs), len(u.Tags), w.Bytes, len(w.Blobs), len(w.Tags))
		}
		// 4 manifests, 4 configs, base, a1, a2, c, ns layer and the lone blob.
		if len(u.Blobs) != 14 || len(u.Tags) != 3 || u.Tags["ns/a"] != 1 || u.Tags["ns/b/c"] != 1 {
			t.Fatalf("usage %+v", u)
		}
		if first[observed.OpWalk] != 1 || first[observed.OpStat] != 14 || len(first) != 2 {
			t.Errorf("first walk: %v, want 1 walk and 14 stats", first)
		}
		if _, err := s.NamespaceUsage(ctx, "ns", &sizes); err != nil {
			t.Fatal(err)
		}
		if again := count.take(); again[observed.OpWalk] != 1 || len(again) != 1 {
			t.Errorf("second walk: %v, want 1 walk and nothing else", again)
		}
		if u, err := s.NamespaceUsage(ctx, "none", nil); err != nil || u.Bytes != 0 || len(u.Tags) != 0 {
			t.Errorf("an empty namespace: %+v, %v", u, err)
		}
	})
}

// TestNamespaceUsageListsSizes: a walk that does not know many blob sizes
// lists the blob store's directories for them instead of a Stat per blob,
// and finds the same figures.
func TestNamespaceUsageListsSizes(t *testing.T) {
	defer storage.SetSizeListThreshold(0)()
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		ctx := context.Background()
		const blobs = 300
		for i := range blobs {
			content := []byte(strings.Repeat("x", i))
			d := digest.FromBytes(content)
			if err := drv.PutContent(ctx, "/docker/registry/v2/blobs/sha256/"+d.Encoded()[:2]+"/"+d.Encoded()+"/data", content); err != nil {
				t.Fatal(err)
			}
			if err := drv.PutContent(ctx, "/docker/registry/v2/repositories/bulk/r"+strconv.Itoa(i%3)+"/_layers/sha256/"+d.Encoded()+"/link", []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		count := &ops{n: map[string]int{}}
		u, err := storage.New(observed.Wrap(drv, count)).NamespaceUsage(ctx, "bulk", &storage.BlobSizes{})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(blobs * (blobs - 1) / 2); u.Bytes != want || len(u.Blobs) != blobs || len(u.Tags) != 3 {
			t.Fatalf("usage %d bytes, %d blobs, %d repositories; want %d, %d, 3", u.Bytes, len(u.Blobs), len(u.Tags), want, blobs)
		}
		n := count.take()
		if n[observed.OpWalk]+n[observed.OpStat] >= blobs/4*3 {
			t.Errorf("%v: not much cheaper than a Stat per blob", n)
		}
		t.Logf("%d blobs: %v", blobs, n)
	})
}
