package retention_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// grace is the nodes' and the runs' garbage-collection grace: short, so
// that the real run and GC need not wait an hour after the pushes.
const grace = 10 * time.Millisecond

// settle waits until what the scenario wrote is older than grace plus the
// storage's mtime slack, so the handshakes take it for old.
func settle() { time.Sleep(1200 * time.Millisecond) }

// startNodes serves drvs (one per node, all over the same storage), each
// node with its own simulated clock.
func startNodes(t *testing.T, grace time.Duration, drvs ...storagedriver.Driver) ([]node, []*registry.App) {
	var nodes []node
	var apps []*registry.App
	for _, drv := range drvs {
		ck := &clock{t: epoch}
		app, err := registry.New(t.Context(), drv, registry.WithClock(ck.Now), registry.WithGCGrace(grace),
			registry.WithPullFlushInterval(time.Hour), registry.WithDelete(true))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app)
		t.Cleanup(srv.Close)
		nodes = append(nodes, node{host: strings.TrimPrefix(srv.URL, "http://"), clock: ck})
		apps = append(apps, app)
	}
	return nodes, apps
}

// setup starts two nodes on drvA and drvB, builds the scenario on them
// (build's minors and dates), waits for their pull records, and returns
// what the rules should delete.
func setup(t *testing.T, drvA, drvB storagedriver.Driver, minors, dates int) (nodes []node, s *scenario, wantTags, wantManifests []string) {
	t.Helper()
	nodes, apps := startNodes(t, grace, drvA, drvB)
	s = build(t, nodes, minors, dates)
	flush(t, apps)
	wantTags, wantManifests = s.want()
	return nodes, s, wantTags, wantManifests
}

// dryRunDeletes fails the test unless the dry run's report out deletes
// exactly wantTags and wantManifests.
func dryRunDeletes(t *testing.T, out string, wantTags, wantManifests []string) {
	t.Helper()
	gotTags, gotManifests := deletions(out)
	if !slices.Equal(gotTags, wantTags) || !slices.Equal(gotManifests, wantManifests) {
		t.Fatalf("dry run deletes tags %v\nmanifests %v\nwant tags %v\nmanifests %v\n%s", gotTags, gotManifests, wantTags, wantManifests, out)
	}
}

// keptTags lists, sorted, the tags of the scenario the rules keep.
func (s *scenario) keptTags() []string {
	var kept []string
	for tag, gone := range s.goneTag {
		if !gone {
			kept = append(kept, tag)
		}
	}
	sort.Strings(kept)
	return kept
}

// flush writes the nodes' pull records and repository metadata records
// now, so that their periodic flushers have nothing left to write while a
// test compares the storage before and after a dry run.
func flush(t *testing.T, apps []*registry.App) {
	for _, a := range apps {
		if err := a.FlushPulls(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := a.FlushMeta(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, drv storagedriver.Driver, dryRun bool) (string, *retention.Report) {
	t.Helper()
	var out strings.Builder
	s := storage.New(drv, storage.WithGCGrace(grace))
	r, err := retention.Run(t.Context(), s, compileRules(t), retention.Options{DryRun: dryRun, Grace: grace, Now: now, Out: &out})
	if err != nil {
		t.Fatalf("retention: %v\n%s", err, out.String())
	}
	return out.String(), r
}

// files lists every file under root with its size.
func files(t *testing.T, root string) map[string]int64 {
	out := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, root)] = fi.Size()
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// blobs walks the blob store: digest -> size.
func blobs(t *testing.T, root string) map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	for p, size := range files(t, filepath.Join(root, "docker/registry/v2/blobs")) {
		segs := strings.Split(strings.Trim(p, "/"), "/")
		if len(segs) == 4 && segs[3] == "data" {
			out[digest.Digest(segs[0]+":"+segs[2])] = size
		}
	}
	return out
}

func sum(m map[digest.Digest]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestRetention200Tags(t *testing.T) {
	root := t.TempDir()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	nodes, s, wantTags, wantManifests := setup(t, drv, drv, 20, 98)
	if len(s.tags) != 200 {
		t.Fatalf("scenario has %d tags, want 200", len(s.tags))
	}
	t.Logf("expected: %d of 200 tags and %d of %d manifests deleted", len(wantTags), len(wantManifests), len(s.images))

	before := files(t, root)
	out, rep := run(t, drv, true)
	if got := files(t, root); !equalMaps(got, before) {
		t.Fatalf("the dry run changed the storage: %s", mapDiff(before, got))
	}
	dryRunDeletes(t, out, wantTags, wantManifests)
	if rep.TagsDeleted != len(wantTags) || rep.ManifestsDeleted != len(wantManifests) || rep.Governed != 1 || rep.Repositories != 2 {
		t.Errorf("dry run report %+v", rep)
	}
	for _, reason := range []string{
		"keep   tag v1.20.0-rc.1 (", "): newest 10 by semver",
		"keep   tag latest (", "): matches ^latest$",
		"): not newest 10 by semver; not newest 3 by push time of tags ^20; does not match ^latest$; not pushed or pulled for 90d",
		"): newest 3 by push time of tags ^20", "): pushed or pulled within 90d",
		": untagged, not pushed or pulled for 30d", ": untagged, pushed or pulled within 30d",
		": referrer of deleted sha256:", ": referrer of kept sha256:", ": child of deleted sha256:", ": child of kept sha256:",
	} {
		if !strings.Contains(out, reason) {
			t.Errorf("the report has no %q", reason)
		}
	}
	if strings.Contains(out, "other/keep") {
		t.Errorf("the report names other/keep, which no rule governs")
	}

	settle()
	blobsBefore := blobs(t, root)
	out, _ = run(t, drv, false)
	gotTags, gotManifests := deletions(out)
	if !slices.Equal(gotTags, wantTags) || !slices.Equal(gotManifests, wantManifests) || strings.Contains(out, "spared") {
		t.Fatalf("the run deleted tags %v, manifests %v:\n%s", gotTags, gotManifests, out)
	}
	// Through the API: the tags left and the manifests left are the kept ones.
	c := client.New()
	ref := client.Reference{Registry: nodes[0].host, Repository: "team/app"}
	tags, err := c.Tags(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	wantLeft := s.keptTags()
	sort.Strings(tags)
	if !slices.Equal(tags, wantLeft) {
		t.Errorf("tags left %v, want %v", tags, wantLeft)
	}
	for d, img := range s.images {
		_, err := c.ManifestHead(t.Context(), client.Reference{Registry: nodes[0].host, Repository: img.repo, Digest: d})
		if img.gone != errors.Is(err, client.ErrNotFound) || !img.gone && err != nil {
			t.Errorf("manifest %s@%s (gone %v): HEAD: %v", img.repo, d, img.gone, err)
		}
	}
	// A kept image keeps its signature in the referrers API.
	last := s.tags["v1.19.3"]
	idx, err := c.Referrers(t.Context(), client.Reference{Registry: nodes[1].host, Repository: "team/app"}, last, "")
	if err != nil || len(idx.Manifests) != 1 {
		t.Errorf("referrers of v1.19.3: %v, %v", idx, err)
	}

	// Garbage collection frees exactly the blobs of the deleted images.
	gs := storage.New(drv, storage.WithGCGrace(grace))
	if _, err := gs.CollectGarbage(t.Context(), storage.GCOptions{Grace: grace}); err != nil {
		t.Fatal(err)
	}
	wantAfter := map[digest.Digest]int64{}
	for d, size := range blobsBefore {
		wantAfter[d] = size
	}
	for _, img := range s.images {
		if img.gone {
			for d := range img.blobs {
				delete(wantAfter, d)
			}
		}
	}
	after := blobs(t, root)
	if !equalMaps(after, wantAfter) {
		t.Errorf("after GC: %d blobs (%d bytes), want %d blobs (%d bytes)", len(after), sum(after), len(wantAfter), sum(wantAfter))
	}
	t.Logf("GC freed %d blobs, %d bytes (%d blobs, %d bytes before)", len(blobsBefore)-len(after), sum(blobsBefore)-sum(after), len(blobsBefore), sum(blobsBefore))

	// A second run finds nothing more to delete.
	out, rep = run(t, drv, true)
	if rep.TagsDeleted != 0 || rep.ManifestsDeleted != 0 {
		t.Errorf("second run: %+v\n%s", rep, out)
	}
}

// mapDiff says what differs between before and after, a line a key.
func mapDiff[V comparable](before, after map[string]V) string {
	var out []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			out = append(out, "removed "+k)
		} else if w != v {
			out = append(out, fmt.Sprintf("changed %s: %v -> %v", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
