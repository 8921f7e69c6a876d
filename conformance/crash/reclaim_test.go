package crash

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	berths3 "github.com/berth-registry/berth/storagedriver/s3"
)

// Issue 11's reclaim proof: push images through "registry serve", delete
// most of their tags as clients do (DELETE by manifest digest), run
// "registry gc --delete-untagged" against the same storage while it
// serves, and the storage the root takes must drop to the live set (the
// remaining images' blobs and manifests) plus at most 1%.

const (
	reclaimImages = 20
	reclaimKept   = 5
	// reclaimGrace is storage.gc.grace in the test's config and the --grace
	// given to "registry gc", which refuses less than the configured grace
	// (and takes --grace 0s as "the configured one"): the collector spares
	// what storage says was written less than this before it started.
	reclaimGrace = time.Second
)

// TestReclaimFilesystem pushes 1 GiB across 20 images (BERTH_RECLAIM_BYTES
// overrides it) on the filesystem driver; the root's usage is the sum of
// its files' sizes, as du --apparent-size counts it.
func TestReclaimFilesystem(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	reclaim(t, filesystemStorage(root), reclaimBytes(t, 1<<30), 4, func(ctx context.Context) (int64, error) {
		return treeBytes(root)
	})
}

// TestReclaimS3 does the same on S3 (versitygw), 1 GiB too; the usage is
// the bytes of the objects under the registry's root directory, listed
// through the driver. It pushes one image at a time: versitygw's posix
// backend removes emptied directories, and an upload's pending tail
// written under ~pending/ while another's is deleted there now and then
// fails with 409 ExistingObjectIsDirectory, a race of the test server.
func TestReclaimS3(t *testing.T) {
	srv, dir := s3test.NewRoot(t)
	p := srv.Params(s3test.Bucket, dir)
	drv, err := berths3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	reclaim(t, s3Storage(p), reclaimBytes(t, 1<<30), 1, func(ctx context.Context) (int64, error) {
		return driverBytes(ctx, drv)
	})
}

// reclaimBytes is BERTH_RECLAIM_BYTES, or def, or def/8 in -short.
func reclaimBytes(t *testing.T, def int64) int64 {
	t.Helper()
	if s := os.Getenv("BERTH_RECLAIM_BYTES"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < reclaimImages {
			t.Fatalf("BERTH_RECLAIM_BYTES=%q: want a number of bytes, at least %d", s, reclaimImages)
		}
		return v
	}
	if testing.Short() {
		return def / 8
	}
	return def
}

// reclaimImage is one pushed image: its repository, manifest and the
// blobs it references.
type reclaimImage struct {
	repo     string
	layer    blob
	config   blob
	manifest []byte
	digest   digest.Digest
}

func (im reclaimImage) bytes() int64 {
	return im.layer.size + im.config.size + int64(len(im.manifest))
}

// reclaim runs the proof on storage, pushing total bytes, parallel images
// at a time, and measuring the storage with usage.
func reclaim(t *testing.T, storage string, total int64, parallel int, usage func(context.Context) (int64, error)) {
	ctx := t.Context()
	cfg := writeConfig(t, storage+"  gc:\n    grace: "+reclaimGrace.String()+"\n")
	n := startNode(t, cfg)
	c := newClient(n.URL)
	seed := testSeed(t)

	// Each image has a layer of its own, random and streamed from its seed
	// (hashed once, then generated again as it is uploaded), and a config
	// naming it.
	images := make([]reclaimImage, reclaimImages)
	start := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		pushErr error
		slots   = make(chan struct{}, parallel)
	)
	for i := range images {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := pushReclaimImage(ctx, c, &images[i], fmt.Sprintf("reclaim-%02d", i), largeBlob(seed+uint64(i), total/reclaimImages)); err != nil {
				mu.Lock()
				pushErr = cmp.Or(pushErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if pushErr != nil {
		t.Fatalf("push: %v; registry log:\n%s", pushErr, n.log())
	}
	pushed := time.Since(start)

	// Delete the tags of all but the last reclaimKept images, as clients
	// do: DELETE of the manifest by digest, which untags it.
	var live, all int64
	for i, im := range images {
		all += im.bytes()
		if i >= reclaimImages-reclaimKept {
			live += im.bytes()
			continue
		}
		if _, err := c.expect(ctx, http.StatusAccepted, http.MethodDelete, "/v2/"+im.repo+"/manifests/"+im.digest.String(), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	before, err := usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before < all {
		t.Fatalf("before GC the storage holds %d bytes, less than the %d pushed", before, all)
	}

	// Let the grace pass by storage's clock, then collect while serving.
	// The collector judges ages a second on the safe side (S3's
	// LastModified has whole seconds), so wait that too.
	time.Sleep(reclaimGrace + time.Second + 500*time.Millisecond)
	gcStart := time.Now()
	out, err := exec.CommandContext(ctx, registryBinary(t), "gc", cfg, "--delete-untagged", "--grace", reclaimGrace.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("registry gc: %v\n%s", err, testutil.Tail(out, 4096))
	}
	gcTime := time.Since(gcStart)
	after, err := usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d images, %d bytes pushed in %v; %d deleted", reclaimImages, all, pushed.Round(time.Millisecond), reclaimImages-reclaimKept)
	t.Logf("storage before GC %d bytes, after %d bytes, live set %d bytes (after/live %.4f); registry gc took %v: %s",
		before, after, live, float64(after)/float64(live), gcTime.Round(time.Millisecond), lastLine(out))
	if limit := live + live/100; after > limit {
		t.Errorf("after GC the storage holds %d bytes, more than the live set %d plus 1%% (%d)", after, live, limit)
	}

	// What stays must serve whole; what went must be gone.
	for i, im := range images {
		kept := i >= reclaimImages-reclaimKept
		wg.Go(func() {
			d, _, found, err := c.getManifest(ctx, im.repo, "v1")
			switch {
			case err != nil:
				t.Error(err)
			case found != kept:
				t.Errorf("%s:v1 found %v after GC, want %v", im.repo, found, kept)
			case kept && d != im.digest:
				t.Errorf("%s:v1 is %s, pushed %s", im.repo, d, im.digest)
			}
			for _, b := range []blob{im.config, im.layer} {
				found, err := c.checkBlob(ctx, im.repo, b.digest, b.size)
				if err != nil {
					t.Error(err)
				} else if found != kept {
					t.Errorf("blob %s of %s found %v after GC, want %v", b.digest, im.repo, found, kept)
				}
			}
		})
	}
	wg.Wait()
	n.checkLog(t)
}

// pushReclaimImage fills im with an image of one layer (streamed) and a
// config naming it, and pushes it to repo, tagged v1.
func pushReclaimImage(ctx context.Context, c *client, im *reclaimImage, repo string, layer blob) error {
	im.repo, im.layer = repo, layer
	cfgJSON, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{im.layer.digest.String()}},
	})
	if err != nil {
		return err
	}
	im.config = smallBlob(cfgJSON)
	m, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: im.config.digest, Size: im.config.size},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayer, Digest: im.layer.digest, Size: im.layer.size}},
	})
	if err != nil {
		return err
	}
	im.manifest, im.digest = m, digest.FromBytes(m)
	if err := c.pushBlob(ctx, repo, im.layer, 0); err != nil {
		return err
	}
	if err := c.pushBlob(ctx, repo, im.config, 0); err != nil {
		return err
	}
	_, err = c.expect(ctx, http.StatusCreated, http.MethodPut, "/v2/"+repo+"/manifests/v1",
		bytes.NewReader(m), int64(len(m)), "Content-Type", v1.MediaTypeImageManifest)
	return err
}

// treeBytes sums the sizes of the regular files under root, but for the
// filesystem driver's redo log (+redo): its files keep their size, made
// when the registry first starts, and hold no garbage.
func treeBytes(root string) (int64, error) {
	var sum int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == filepath.Join(root, "+redo") {
			return filepath.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum += fi.Size()
		return nil
	})
	return sum, err
}

// driverBytes sums the sizes of the files drv lists under its root: on S3,
// the bytes of the objects under the root directory.
func driverBytes(ctx context.Context, drv storagedriver.Driver) (int64, error) {
	wk, ok := drv.(storagedriver.Walker)
	if !ok {
		return 0, fmt.Errorf("%s driver cannot walk", drv.Name())
	}
	var sum int64
	err := wk.Walk(ctx, "/", func(fi storagedriver.FileInfo) error {
		if !fi.IsDir {
			sum += fi.Size
		}
		return nil
	})
	return sum, err
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndexByte(s, '\n')+1:]
}
