package storage

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// gcDrivers are the backends the mark/sweep tests run on; each returns a
// driver and a function that makes everything stored so far look old
// enough to collect (past any grace, for a collector with a tiny one).
func gcDrivers() map[string]func(t *testing.T) storagedriver.Driver {
	return map[string]func(t *testing.T) storagedriver.Driver{
		"inmemory":   func(*testing.T) storagedriver.Driver { return inmemory.New() },
		"filesystem": func(t *testing.T) storagedriver.Driver { return newFS(t) },
		"s3":         func(t *testing.T) storagedriver.Driver { return s3test.NewDriver(t) },
	}
}

type fsDriver struct {
	*filesystem.Driver
	root string
}

func newFS(t *testing.T) *fsDriver {
	root := t.TempDir()
	d, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return &fsDriver{d, root}
}

// age sets every file of the filesystem root back by d: what a long pause
// would do, without waiting for it.
func (f *fsDriver) age(t *testing.T, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	err := filepath.Walk(f.root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gcStore is a store with a tiny grace, for tests that wait out the
// mtime resolution instead of aging files.
func gcStore(drv storagedriver.Driver) *Store { return New(drv, WithGCGrace(time.Millisecond)) }

// waitOld waits until what was stored so far is older than a tiny grace
// even on storage with whole-second mtimes (the collector's clock file then
// lands a second later, and mtimeSlack is allowed on each side).
func waitOld() { time.Sleep(2*mtimeSlack + 100*time.Millisecond) }

// putString uploads content as a blob into repo (putBlob for text).
func putString(t *testing.T, s *Store, repo, content string) digest.Digest {
	t.Helper()
	return putBlob(t, s, repo, []byte(content))
}

func desc(mt string, d digest.Digest) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Digest: d, Size: 1}
}

// imageJSON is an OCI image manifest over config and layers, with subject
// when not "".
func imageJSON(config digest.Digest, subject digest.Digest, layers ...digest.Digest) []byte {
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeOCIManifest,
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
	}
	var ls []v1.Descriptor
	for _, l := range layers {
		ls = append(ls, desc("application/vnd.oci.image.layer.v1.tar", l))
	}
	m["layers"] = ls
	if subject != "" {
		m["subject"] = desc(MediaTypeOCIManifest, subject)
		m["artifactType"] = "application/vnd.example.sig"
	}
	b, _ := json.Marshal(m)
	return b
}

func indexJSON(children ...digest.Digest) []byte {
	var ms []v1.Descriptor
	for _, c := range children {
		ms = append(ms, desc(MediaTypeOCIManifest, c))
	}
	b, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex, "manifests": ms})
	return b
}

// putManifest puts payload into repo as ref (a tag, or "" for by digest).
func putManifest(t *testing.T, s *Store, repo, ref string, payload []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(payload)
	if ref == "" {
		ref = d.String()
	}
	if _, err := s.PutManifest(context.Background(), repo, ref, "", payload, nil); err != nil {
		t.Fatalf("put manifest %s:%s: %v", repo, ref, err)
	}
	return d
}

// image uploads config and layers into repo and puts an image over them.
func image(t *testing.T, s *Store, repo, tag, config string, layers ...string) (m, c digest.Digest, ls []digest.Digest) {
	t.Helper()
	c = putString(t, s, repo, config)
	for _, l := range layers {
		ls = append(ls, putString(t, s, repo, l))
	}
	return putManifest(t, s, repo, tag, imageJSON(c, "", ls...)), c, ls
}

// storedBlobs lists every blob in the blob store.
func storedBlobs(t *testing.T, s *Store) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	err := walk.Tree(context.Background(), s.driver, layout.BlobsRoot(), func(fi storagedriver.FileInfo) error {
		segs := walk.Split(fi.Path)
		if !fi.IsDir && segs[len(segs)-1] == "data" {
			out = append(out, walk.BlobDigestAt(segs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sorted(ds ...digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

// TestGCMarkSweep builds a root with shared layers, an index, referrers,
// untagged manifests, a moved and a deleted tag, and checks exactly which
// blobs each mode keeps, on every driver.
func TestGCMarkSweep(t *testing.T) {
	for name, newDriver := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := gcStore(newDriver(t))
			// a:v1 — a live image; base is shared with b.
			m1, c1, l1 := image(t, s, "a", "v1", "config1", "base", "app1")
			// a: a signature of v1 (a referrer, untagged) and of a dead image.
			sigc := putString(t, s, "a", "sigconfig")
			sig1 := putManifest(t, s, "a", "", imageJSON(sigc, m1, sigc))
			m2, c2, l2 := image(t, s, "a", "old", "config2", "base", "app2")
			sig2 := putManifest(t, s, "a", "", imageJSON(sigc, m2, sigc))
			if err := s.DeleteManifest(ctx, "a", "old"); err != nil {
				t.Fatal(err)
			}
			// b: an index tagged "multi" over two images; "moved" pointed at
			// m4 and then at m5.
			m3, c3, l3 := image(t, s, "b", "", "config3", "base", "arm")
			m4, c4, l4 := image(t, s, "b", "moved", "config4", "amd")
			ix := putManifest(t, s, "b", "multi", indexJSON(m3, m4))
			m5, c5, l5 := image(t, s, "b", "moved", "config5", "new")
			// c: a repository whose only image loses its tag.
			m6, c6, l6 := image(t, s, "c", "gone", "config6", "only-c")
			if err := s.DeleteManifest(ctx, "c", "gone"); err != nil {
				t.Fatal(err)
			}
			// d: a repository whose only image, sharing a live layer,
			// loses its tag: it must leave the catalog, the layer stay.
			md, _, _ := image(t, s, "d", "gone", "config d", "base")
			if err := s.DeleteManifest(ctx, "d", "gone"); err != nil {
				t.Fatal(err)
			}
			// An orphan blob (uploaded, never referenced).
			orphan := putString(t, s, "a", "orphan")
			waitOld()

			all := storedBlobs(t, s)
			// Without deleteuntagged every manifest stays and so does all it
			// references; only the orphan goes.
			r, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(slices.Clone(all), func(d digest.Digest) bool { return d == orphan })
			if got := storedBlobs(t, s); !slices.Equal(got, want) {
				t.Fatalf("keep untagged: blobs\n got %v\nwant %v", got, want)
			}
			if r.Blobs != 1 || r.Manifests != 0 || r.LayerLinks != 1 || r.Bytes != int64(len("orphan")) {
				t.Errorf("keep untagged: report %+v", r)
			}

			var deletions []string
			r, err = s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true,
				OnDelete: func(d Deletion) { deletions = append(deletions, d.String()) }})
			if err != nil {
				t.Fatal(err)
			}
			live := []digest.Digest{m1, c1, sig1, sigc, ix, m3, c3, m4, c4, m5, c5}
			live = append(append(append(append(live, l1...), l3...), l4...), l5...)
			if got, want := storedBlobs(t, s), sorted(live...); !slices.Equal(got, want) {
				t.Fatalf("delete untagged: blobs\n got %v\nwant %v\ndeleted %s", got, want, strings.Join(deletions, "\n"))
			}
			// Gone: manifests a@m2, its signature a@sig2, c@m6; blobs those
			// three, c2, app2 (base is shared), c6, only-c.
			gone := []digest.Digest{m2, sig2, m6, c2, l2[1], c6, l6[0], md, digest.FromString("config d")}
			for _, d := range gone {
				if slices.Contains(live, d) {
					t.Fatalf("test table: %s both live and gone", d)
				}
			}
			if r.Manifests != 4 || r.Blobs != 9 {
				t.Errorf("delete untagged: report %+v\n%s", r, strings.Join(deletions, "\n"))
			}
			// The emptied repository left the catalog; the others serve.
			if names, err := s.Catalog(ctx, -1, ""); err != nil || !slices.Equal(names, []string{"a", "b"}) {
				t.Errorf("catalog %v %v", names, err)
			}
			for _, ref := range []string{"v1", sig1.String()} {
				if _, err := s.GetManifest(ctx, "a", ref); err != nil {
					t.Errorf("a:%s: %v", ref, err)
				}
			}
			if refs, err := s.Referrers(ctx, "a", m1, ""); err != nil || len(refs) != 1 || refs[0].Digest != sig1 {
				t.Errorf("referrers of v1: %v %v", refs, err)
			}
			if refs, _ := s.Referrers(ctx, "a", m2, ""); len(refs) != 0 {
				t.Errorf("referrers of the deleted image remain: %v", refs)
			}
			for _, l := range append(l1, c1) {
				if _, err := s.StatBlob(ctx, "a", l); err != nil {
					t.Errorf("a's blob %s: %v", l, err)
				}
			}
			if _, err := s.StatBlob(ctx, "a", l2[1]); !errors.Is(err, ErrBlobUnknown) {
				t.Errorf("a's dead layer: %v", err)
			}
			// A second run finds nothing more.
			r, err = s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true})
			if err != nil || r.Blobs+r.Manifests+r.LayerLinks != 0 {
				t.Errorf("second run: %+v %v", r, err)
			}
		})
	}
}

// TestGCDryRun deletes nothing and reports what a real run deletes.
func TestGCDryRun(t *testing.T) {
	ctx := context.Background()
	s := gcStore(inmemory.New())
	image(t, s, "a", "v1", "config1", "l1")
	image(t, s, "a", "v2", "config2", "l2")
	if err := s.DeleteManifest(ctx, "a", "v2"); err != nil {
		t.Fatal(err)
	}
	waitOld()
	before := storedBlobs(t, s)
	dry, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := storedBlobs(t, s); !slices.Equal(got, before) {
		t.Fatalf("dry run deleted: %v -> %v", before, got)
	}
	real, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Blobs != 3 || real.Blobs != 3 || dry.Bytes != real.Bytes || dry.Manifests != 1 || real.Manifests != 1 {
		t.Errorf("dry %+v, real %+v", dry, real)
	}
}

// TestGCGraceKeepsYoungContent: an unreferenced upload younger than the
// grace stays.
func TestGCGraceKeepsYoungContent(t *testing.T) {
	ctx := context.Background()
	s := New(inmemory.New())
	d := putString(t, s, "a", "fresh")
	r, err := s.CollectGarbage(ctx, GCOptions{})
	if err != nil || r.Blobs != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := s.StatBlob(ctx, "a", d); err != nil {
		t.Fatal(err)
	}
}

// TestGCUsedRecordsOfMissingBlobs: a HEAD of a blob whose link outlived it
// (Distribution's collector leaves links) leaves records; a run removes
// them, and the dangling link, once old.
func TestGCUsedRecordsOfMissingBlobs(t *testing.T) {
	ctx := context.Background()
	s := gcStore(inmemory.New())
	d := putString(t, s, "a", "blob")
	waitOld()
	if err := s.driver.Delete(ctx, layout.BlobDir(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatBlob(ctx, "a", d); !errors.Is(err, ErrBlobUnknown) {
		t.Fatalf("HEAD: %v", err)
	}
	for _, p := range []string{layout.UsedPath(d), layout.RelyingPath(d)} {
		if _, err := s.driver.Stat(ctx, p); err != nil {
			t.Fatalf("no record %s: %v", p, err)
		}
	}
	waitOld()
	r, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{layout.UsedPath(d), layout.RelyingPath(d), layout.LayerLinkPath("a", d)} {
		if _, err := s.driver.Stat(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("%s stays: %v (%+v)", p, err, r)
		}
	}
	if r.UsedRecords != 1 || r.LayerLinks != 1 {
		t.Errorf("report %+v", r)
	}
}

// TestGCReportsPartialRun: a run stopped part-way (here by its context,
// cancelled at its first deletion) returns its error and what it deleted
// before, so that the metrics count what is gone.
func TestGCReportsPartialRun(t *testing.T) {
	s := gcStore(inmemory.New())
	image(t, s, "a", "v1", "config1", "l1")
	image(t, s, "a", "v2", "config2", "l2")
	if err := s.DeleteManifest(context.Background(), "a", "v2"); err != nil {
		t.Fatal(err)
	}
	waitOld()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deleted []Deletion
	r, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true, OnDelete: func(d Deletion) {
		deleted = append(deleted, d)
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want the cancellation", err)
	}
	if r == nil || r.Duration <= 0 || len(deleted) == 0 {
		t.Fatalf("report %+v after %d deletions, want them counted with the duration", r, len(deleted))
	}
	counted := r.Manifests + r.Blobs + r.LayerLinks + r.UsedRecords
	if counted != len(deleted) {
		t.Errorf("report counts %d deletions (%+v), OnDelete was told of %d", counted, r, len(deleted))
	}
}
