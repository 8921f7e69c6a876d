package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	berths3 "github.com/berth-registry/berth/storagedriver/s3"
)

// Issue 11's stress proof through HTTP: two "registry serve" nodes over one
// storage, the collector running in a loop on node A only, and the push
// storm of the crash tests (16 clients, shared base layers HEADed and
// skipped or mounted, unchanged layers of deleted images HEADed and
// skipped, tag moves, deletes) sending its requests to A and B in turn. No push may fail with BLOB_UNKNOWN or MANIFEST_BLOB_UNKNOWN;
// every tag still present at the end must pull whole; and once the storm
// stops and "registry gc" has run twice, no unreferenced blob older than
// the grace may remain.

// stormGrace is storage.gc.grace of both nodes.
const stormGrace = 3 * time.Second

// TestGCStormFilesystem runs the GC storm over one filesystem root.
func TestGCStormFilesystem(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	gcStorm(t, filesystemStorage(root), drv)
}

// TestGCStormS3 runs the GC storm over one versitygw bucket.
func TestGCStormS3(t *testing.T) {
	srv, dir := s3test.NewRoot(t)
	p := srv.Params(s3test.Bucket, dir)
	drv, err := berths3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	gcStorm(t, s3Storage(p), drv)
}

// stormDuration is BERTH_GCSTORM_DURATION, or 30s, or 8s in -short.
func stormDuration(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("BERTH_GCSTORM_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("BERTH_GCSTORM_DURATION=%q: want a positive duration", s)
		}
		return d
	}
	if testing.Short() {
		return 8 * time.Second
	}
	return 30 * time.Second
}

// collectedBlobs matches the summary node A logs after each collection.
var collectedBlobs = regexp.MustCompile(`(\d+) blobs \((\d+) bytes\)`)

func gcStorm(t *testing.T, storage string, drv storagedriver.Driver) {
	ctx := t.Context()
	grace := stormGrace.String()
	cfgB := writeConfig(t, storage+"  gc:\n    grace: "+grace+"\n")
	cfgA := writeConfig(t, storage+"  gc:\n    enabled: true\n    interval: 1s\n    grace: "+grace+"\n    deleteuntagged: true\n")
	// Node A logs at info, for its collections' summaries.
	b, err := os.ReadFile(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgA, []byte(strings.Replace(string(b), "level: error", "level: info", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	a, nb := startNode(t, cfgA), startNode(t, cfgB)
	seed := testSeed(t)
	ws := newWorkers(seed)
	dur := stormDuration(t)
	start := time.Now()
	storm(newClient(a.URL, nb.URL), ws, nil, dur, func() {}, time.Millisecond)
	stormTime := time.Since(start)
	runs, collected, bytes := gcRuns(t, a)

	// Let the grace pass for what the storm wrote last, then wait for
	// node A's loop to collect twice more: three runs logged from now, of
	// which the first may have begun before. (Not "registry gc" beside the
	// loop: two collectors at once are safe for Berth, but versitygw's
	// posix backend races creating and removing the directories behind
	// their records, and answers 409 ExistingObjectIsDirectory.)
	time.Sleep(stormGrace + 2*time.Second)
	cutoff := time.Now().Add(-stormGrace)
	for r, _, _ := gcRuns(t, a); ; {
		time.Sleep(200 * time.Millisecond)
		if now, _, _ := gcRuns(t, a); now >= r+3 {
			break
		}
		if time.Since(cutoff) > 2*time.Minute {
			t.Fatalf("node A did not collect three times in two minutes; log:\n%s", a.log())
		}
	}
	allRuns, allCollected, _ := gcRuns(t, a)

	// The pushes: no blob unknown, nor any other failure of a push; a move
	// may find its old manifest's blobs collected (MANIFEST_BLOB_UNKNOWN)
	// and a delete its manifest collected (MANIFEST_UNKNOWN), as clients
	// reusing a stale manifest would.
	var pushes, moves, deletes, mounts, skips, blobUnknown, staleMoves, staleDeletes int
	for _, w := range ws {
		pushes += w.pushes
		moves += w.moves
		deletes += w.deletes
		mounts += w.mounts
		skips += w.skips
		for _, f := range w.failures {
			op, _, _ := strings.Cut(f, ": ")
			switch {
			case op == "push" && strings.Contains(f, "BLOB_UNKNOWN"):
				blobUnknown++
				t.Errorf("worker %d: %s", w.id, f)
			case op == "move" && strings.Contains(f, "MANIFEST_BLOB_UNKNOWN"):
				staleMoves++
			case op == "delete" && strings.Contains(f, "MANIFEST_UNKNOWN"):
				staleDeletes++
			default:
				t.Errorf("worker %d: %s", w.id, explain(f, a, nb))
			}
		}
	}

	// Every tag: present when the ledger says it must be, pointing to a
	// manifest it may point to, and whole; its manifests' blobs are the
	// live set.
	c := newClient(a.URL, nb.URL)
	live := map[digest.Digest]bool{}
	var tags, blobsPulled int
	for _, w := range ws {
		for _, repo := range w.repos {
			present, err := listTags(ctx, c, repo)
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range present {
				tags++
				te := w.tags[repo+":"+tag]
				d, payload, found, err := c.getManifest(ctx, repo, tag)
				if err != nil || !found {
					t.Errorf("%s:%s listed, then GET: found %v, %v", repo, tag, found, err)
					continue
				}
				if te == nil || !slices.Contains(te.allowed, d) {
					t.Errorf("%s:%s is %s, which no acknowledged or attempted push put there", repo, tag, d)
				}
				var m v1.Manifest
				if err := json.Unmarshal(payload, &m); err != nil {
					t.Errorf("%s:%s: %v", repo, tag, err)
					continue
				}
				live[d] = true
				for _, desc := range append([]v1.Descriptor{m.Config}, m.Layers...) {
					live[desc.Digest] = true
					blobsPulled++
					if found, err := c.checkBlob(ctx, repo, desc.Digest, desc.Size); err != nil || !found {
						t.Errorf("%s:%s blob %s: found %v, %v", repo, tag, desc.Digest, found, err)
					}
				}
			}
			for key, te := range w.tags {
				if te.sure && te.repo == repo && !slices.Contains(present, te.tag) {
					t.Errorf("tag %s acknowledged and never deleted, now absent", key)
				}
			}
		}
	}

	// The store: no unreferenced blob older than the grace.
	const blobs = "/docker/registry/v2/blobs"
	var stored, leftover int
	err = drv.(storagedriver.Walker).Walk(ctx, blobs, func(fi storagedriver.FileInfo) error {
		if fi.IsDir || path.Base(fi.Path) != "data" {
			return nil
		}
		stored++
		dir := path.Dir(fi.Path)
		d := digest.NewDigestFromEncoded(digest.Algorithm(path.Base(path.Dir(path.Dir(dir)))), path.Base(dir))
		if !live[d] && fi.ModTime.Add(time.Second).Before(cutoff) {
			leftover++
			t.Errorf("blob %s: referenced by no tag, written %v, still there after two collections", d, fi.ModTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storm of %v, %d clients over 2 nodes: %d pushes, %d tag moves, %d deletes, %d base layers mounted, %d skipped after HEAD; "+
		"%d BLOB_UNKNOWN; %d moves of a collected manifest, %d deletes of one",
		stormTime.Round(time.Millisecond), len(ws), pushes, moves, deletes, mounts, skips, blobUnknown, staleMoves, staleDeletes)
	t.Logf("node A collected %d times during the storm: %d blobs, %d bytes; %d times and %d blobs in all", runs, collected, bytes, allRuns, allCollected)
	t.Logf("end: %d tags pulled whole (%d blobs re-hashed), %d blobs stored, %d live, %d unreferenced older than the grace",
		tags, blobsPulled, stored, len(live), leftover)
	if pushes == 0 || runs == 0 {
		t.Errorf("%d pushes, %d collections: the storm proved nothing", pushes, runs)
	}
	a.checkLog(t)
	nb.checkLog(t)
}

// gcRuns sums the collections node n has logged so far.
func gcRuns(t *testing.T, n *node) (runs, blobs int, bytes int64) {
	t.Helper()
	b, err := os.ReadFile(n.logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range collectedBlobs.FindAllSubmatch(b, -1) {
		runs++
		k, _ := strconv.Atoi(string(m[1]))
		nbytes, _ := strconv.ParseInt(string(m[2]), 10, 64)
		blobs += k
		bytes += nbytes
	}
	return runs, blobs, bytes
}

// listTags returns repo's tags; none when the repository is unknown.
func listTags(ctx context.Context, c *client, repo string) ([]string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/tags/list", nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("GET tags of %s: %s", repo, resp.Status)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET tags of %s: %w", repo, err)
	}
	return list.Tags, nil
}
