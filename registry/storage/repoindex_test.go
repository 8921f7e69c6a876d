package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/repoindex"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
)

// walked is the catalog as the walk of the layout sees it: the reference
// every index test compares against.
func walked(t *testing.T, s *Store) []string {
	t.Helper()
	var names []string
	if err := walk.Repositories(t.Context(), s.driver, layout.RepositoriesRoot(), &names); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	names = repoindex.ValidNames(names)
	sort.Strings(names)
	return names
}

// catalogPages reads the whole catalog n names at a time.
func catalogPages(t *testing.T, s *Store, n int) []string {
	t.Helper()
	var all []string
	last := ""
	for {
		page, err := s.Catalog(t.Context(), n, last)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > n {
			t.Fatalf("page of %d after %q, want at most %d", len(page), last, n)
		}
		all = append(all, page...)
		if len(page) < n {
			return all
		}
		last = page[len(page)-1]
	}
}

// longName is a valid name whose encoding exceeds one path segment, so
// its marker goes under long/.
var longName = strings.Repeat("ab/", 70) + "c"

// TestCatalogIndexMatchesWalk: on every driver, repositories made by
// image pushes, layer-only uploads and mounts, with names that sort
// differently once encoded ("a", "a-b", "a.c", "a/b", "a/b/c") and one
// whose marker is too long for a segment, list exactly as the walk does,
// whole and in pages of every size; a repository with only an upload in
// progress is in neither; deleting a repository's last manifest and last
// layer takes it out of both.
func TestCatalogIndexMatchesWalk(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			ctx := t.Context()
			s := New(td.new(t))
			for _, name := range []string{"a", "a-b", "a/b", "a/b/c", "z9", longName} {
				image(t, s, name, "v1", "config of "+name, "layer of "+name)
			}
			putString(t, s, "a.c", "only a layer")
			d := putString(t, s, "src", "mounted")
			if _, err := s.MountBlob(ctx, "mnt/dst", "src", d); err != nil {
				t.Fatal(err)
			}
			if _, err := s.StartUpload(ctx, "uploading/only"); err != nil {
				t.Fatal(err)
			}
			want := walked(t, s)
			if len(want) != 9 || slices.Contains(want, "uploading/only") {
				t.Fatalf("walk found %q", want)
			}
			if got, err := s.Catalog(ctx, -1, ""); err != nil || !slices.Equal(got, want) {
				t.Fatalf("catalog %q, %v\nwalk    %q", got, err, want)
			}
			for n := 1; n <= len(want)+1; n++ {
				if got := catalogPages(t, s, n); !slices.Equal(got, want) {
					t.Errorf("pages of %d: %q, want %q", n, got, want)
				}
			}
			if got, _ := s.Catalog(ctx, 2, "a-b"); !slices.Equal(got, []string{"a.c", "a/b"}) {
				t.Errorf("2 after a-b: %q", got)
			}

			// a.c loses its only layer; z9 its manifest, then its layers.
			if err := s.DeleteBlob(ctx, "a.c", digest.FromString("only a layer")); err != nil {
				t.Fatal(err)
			}
			m, _ := s.GetManifest(ctx, "z9", "v1")
			if err := s.DeleteManifest(ctx, "z9", m.Digest.String()); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Catalog(ctx, -1, ""); !slices.Contains(got, "z9") {
				t.Errorf("z9 still has layers, but the catalog lost it: %q", got)
			}
			for _, c := range []string{"config of z9", "layer of z9"} {
				if err := s.DeleteBlob(ctx, "z9", digest.FromString(c)); err != nil {
					t.Fatal(err)
				}
			}
			want = walked(t, s)
			if got, _ := s.Catalog(ctx, -1, ""); !slices.Equal(got, want) || slices.Contains(got, "a.c") || slices.Contains(got, "z9") {
				t.Errorf("after the deletes: catalog %q, walk %q", got, want)
			}
		})
	}
}

// TestCatalogConcurrentNodes: three stores on one storage, as three
// nodes: two push new repositories at once while the third lists the
// catalog. Every listing holds every repository whose manifest PUT had
// answered before the listing began, and at the end the catalog of each
// node is the walk.
func TestCatalogConcurrentNodes(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			nodes := []*Store{New(drv), New(drv), New(drv)} // the lister checks the namespaces only every 30 s: it reads markers
			per := 15
			if td.name == "s3" {
				per = 6
			}
			var mu sync.Mutex
			done := map[string]bool{} // repositories whose PUT answered
			var wg sync.WaitGroup
			for i, s := range nodes[:2] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range per {
						name := fmt.Sprintf("node%d/r%02d", i, j)
						if err := pushRetrying(t, s, name); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						done[name] = true
						mu.Unlock()
					}
				}()
			}
			stop := make(chan struct{})
			listed := make(chan int)
			go func() {
				n := 0
				defer func() { listed <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					before := make([]string, 0, len(done))
					for name := range done {
						before = append(before, name)
					}
					mu.Unlock()
					got, err := nodes[2].Catalog(t.Context(), -1, "")
					if err != nil {
						t.Error(err)
						return
					}
					for _, name := range before {
						if _, ok := slices.BinarySearch(got, name); !ok {
							t.Errorf("%s answered 201 before the listing began, but is not in it", name)
						}
					}
					n++
				}
			}()
			wg.Wait()
			close(stop)
			if n := <-listed; n == 0 {
				t.Error("the third node never listed")
			}
			want := walked(t, nodes[0])
			if len(want) != 2*per {
				t.Fatalf("walk found %d repositories, want %d", len(want), 2*per)
			}
			for i, s := range nodes {
				if got, err := s.Catalog(t.Context(), -1, ""); err != nil || !slices.Equal(got, want) {
					t.Errorf("node %d: %q, %v; want %q", i, got, err, want)
				}
			}
		})
	}
}

// pushRetrying pushes a one-layer image into name, again when versitygw
// refuses a pending tail with 409 ExistingObjectIsDirectory (a race of
// the test server between concurrent uploads, see TestGCStress).
func pushRetrying(t *testing.T, s *Store, name string) error {
	ctx := t.Context()
	push := func() error {
		var ds []digest.Digest
		for _, b := range [][]byte{[]byte("config " + name), []byte("layer")} {
			u, err := s.StartUpload(ctx, name)
			if err != nil {
				return err
			}
			d := digest.FromBytes(b)
			if _, err := u.Commit(ctx, d, bytes.NewReader(b), 0); err != nil {
				return err
			}
			ds = append(ds, d)
		}
		_, err := s.PutManifest(ctx, name, "v1", "", imageJSON(ds[0], "", ds[1]), nil)
		return err
	}
	for try := 1; ; try++ {
		err := push()
		if err == nil || try == 5 || !strings.Contains(err.Error(), "ExistingObjectIsDirectory") {
			return err
		}
		t.Logf("push %s: %.120s; again", name, err)
	}
}

// TestCatalogDistributionWrites: Distribution v3 (in-process, over HTTP)
// writes repositories into a root; Berth's first catalog builds the index
// from a walk and lists them. Distribution then creates more, at the top
// level and below a namespace Berth knows; Berth's next catalog (its check
// due) lists them, and a repository deleted behind its back leaves it. A
// scrub after all that finds the index sound.
func TestCatalogDistributionWrites(t *testing.T) {
	root := t.TempDir()
	dist := disttest.Start(t, disttest.Options{Root: root})
	for _, name := range []string{"dist/one", "other", "deep/er/repo"} {
		distPush(t, dist.Host, name)
	}
	s := New(mustFS(t, root), WithIndexCheck(-1))
	if got, err := s.Catalog(t.Context(), -1, ""); err != nil || !slices.Equal(got, []string{"deep/er/repo", "dist/one", "other"}) {
		t.Fatalf("first catalog: %q, %v", got, err)
	}
	image(t, s, "berth/app", "v1", "berth config", "berth layer")
	for _, name := range []string{"dist/two", "newtop", "deep/er/two/three"} {
		distPush(t, dist.Host, name)
	}
	if err := s.driver.Delete(t.Context(), layout.RepoDir("other")); err != nil {
		t.Fatal(err)
	}
	want := walked(t, s)
	if got, err := s.Catalog(t.Context(), -1, ""); err != nil || !slices.Equal(got, want) || len(want) != 6 {
		t.Errorf("after Distribution's pushes: %q, %v; walk %q", got, err, want)
	}
	if lines, _ := scrubAll(t, s, false); slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "index-") }) {
		t.Errorf("scrub found index problems: %q", lines)
	}
}

// distPush pushes a one-layer image to repo through Distribution.
func distPush(t *testing.T, host, repo string) {
	t.Helper()
	c := client.New()
	ref, err := client.ParseReference(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mt string, b []byte) v1.Descriptor {
		d := v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := c.BlobPut(t.Context(), ref, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: put(v1.MediaTypeImageConfig, []byte(`{"repo":"`+repo+`"}`)),
		Layers: []v1.Descriptor{put(v1.MediaTypeImageLayer, []byte("layer of "+repo))}}
	m.SchemaVersion = 2
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ref.Tag = "v1"
	if _, err := c.ManifestPut(t.Context(), ref, v1.MediaTypeImageManifest, payload); err != nil {
		t.Fatal(err)
	}
}

// TestCatalogGCEmptying: a collection with DeleteUntagged that leaves a
// repository without manifests removes it from the index with its links.
func TestCatalogGCEmptying(t *testing.T) {
	for name, newDriver := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := gcStore(newDriver(t))
			image(t, s, "keep", "v1", "keep config", "shared")
			image(t, s, "empty", "v1", "empty config", "shared")
			if err := s.DeleteManifest(ctx, "empty", "v1"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Catalog(ctx, -1, ""); !slices.Equal(got, []string{"empty", "keep"}) {
				t.Fatalf("before the collection: %q", got)
			}
			waitOld()
			if _, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Catalog(ctx, -1, ""); !slices.Equal(got, []string{"keep"}) || !slices.Equal(walked(t, s), got) {
				t.Errorf("after the collection: catalog %q, walk %q", got, walked(t, s))
			}
			if _, err := s.driver.Stat(ctx, repoindex.MarkerPath("empty")); err == nil {
				t.Error("the emptied repository's marker is still there")
			}
		})
	}
}

// TestCatalogRepositoryDelete: DeleteRepository takes the repository out
// of the catalog of every node, keeps a nested repository in it, and a
// push into the name afterwards brings it back.
func TestCatalogRepositoryDelete(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			ctx := t.Context()
			drv := td.new(t)
			s, other := New(drv), New(drv)
			for _, name := range []string{"team/app", "team/app/nested", "keep"} {
				image(t, other, name, "v1", "config "+name, "layer")
			}
			if got, _ := s.Catalog(ctx, -1, ""); len(got) != 3 {
				t.Fatalf("before: %q", got)
			}
			if _, err := s.DeleteRepository(ctx, "team/app", nil); err != nil {
				t.Fatal(err)
			}
			want := []string{"keep", "team/app/nested"}
			for i, n := range []*Store{s, other} {
				if got, err := n.Catalog(ctx, -1, ""); err != nil || !slices.Equal(got, want) || !slices.Equal(walked(t, n), want) {
					t.Errorf("node %d after the delete: %q, %v; walk %q", i, got, err, walked(t, n))
				}
			}
			if lines, _ := scrubAll(t, s, false); len(lines) != 0 {
				t.Errorf("scrub after the delete: %q", lines)
			}
			// The other node still remembers the marker; its manifest PUT
			// checks storage and writes it again.
			image(t, other, "team/app", "v2", "config again", "layer again")
			if got, _ := s.Catalog(ctx, -1, ""); !slices.Equal(got, []string{"keep", "team/app", "team/app/nested"}) {
				t.Errorf("after a new push: %q", got)
			}
		})
	}
}

// TestScrubRepositoryIndex: on a built index, a marker lost and a marker
// without a repository are reported (nothing changes without repair);
// --repair fixes both, and the next scrub is clean.
func TestScrubRepositoryIndex(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			ctx := t.Context()
			s := New(td.new(t))
			image(t, s, "app", "v1", "config", "layer")
			image(t, s, "lost/marker", "v1", "config", "layer")
			if _, err := s.Catalog(ctx, -1, ""); err != nil { // builds and stamps the index
				t.Fatal(err)
			}
			if err := s.driver.Delete(ctx, repoindex.MarkerPath("lost/marker")); err != nil {
				t.Fatal(err)
			}
			if err := s.driver.PutContent(ctx, repoindex.MarkerPath("ghost"), []byte("ghost")); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"index-extra ghost: indexed, but no such repository",
				"index-missing lost/marker: not in the repository index",
			}
			for range 2 {
				if lines, sum := scrubAll(t, s, false); !slices.Equal(lines, want) || sum.Repaired != 0 {
					t.Fatalf("scrub: %q, %+v", lines, sum)
				}
			}
			lines, sum := scrubAll(t, s, true)
			if !slices.Equal(lines, []string{want[0] + " (removed)", want[1] + " (indexed)"}) || sum.Repaired != 2 {
				t.Errorf("scrub --repair: %q, %+v", lines, sum)
			}
			if lines, _ := scrubAll(t, s, false); len(lines) != 0 {
				t.Errorf("scrub after repair: %q", lines)
			}
			if got, _ := s.Repositories(ctx, -1, ""); !slices.Equal(got, []string{"app", "lost/marker"}) {
				t.Errorf("index after repair: %q", got)
			}
		})
	}
}

// TestIndexUnindexRace: the orders of a delete's unindex and a push into
// the same repository, on two nodes, all end with the marker there while
// the repository exists and gone when it does not.
func TestIndexUnindexRace(t *testing.T) {
	ctx := context.Background()
	drv := testDrivers[0].new(t)
	s, other := New(drv), New(drv)
	image(t, other, "app", "v1", "config", "layer")
	// The push's check saw the marker; a delete removes it after: the
	// delete's own check sees the repository and puts the marker back.
	if err := s.index.Remove(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Repositories(ctx, -1, ""); !slices.Equal(got, []string{"app"}) {
		t.Errorf("unindex of a live repository: %q", got)
	}
	// The repository goes: the marker goes for good.
	if err := drv.Delete(ctx, layout.RepoDir("app")); err != nil {
		t.Fatal(err)
	}
	if err := s.index.RemoveIfGone(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Repositories(ctx, -1, ""); len(got) != 0 {
		t.Errorf("unindex of a deleted repository: %q", got)
	}
	// A push after that, on the node that remembers the marker: a
	// manifest PUT checks storage, not memory, so the marker is back.
	image(t, other, "app", "v2", "config 2", "layer 2")
	if got, _ := s.Repositories(ctx, -1, ""); !slices.Equal(got, []string{"app"}) {
		t.Errorf("after a new push on the other node: %q", got)
	}
}
