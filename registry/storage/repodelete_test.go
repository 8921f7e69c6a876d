package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

func TestDeleteRepository(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := gcStore(mk(t))
			shared := putString(t, s, "team/app", "shared layer")
			putString(t, s, "team/other", "shared layer")
			m, c, ls := image(t, s, "team/app", "v1", "config of app", "layer of app")
			putManifest(t, s, "team/app", "latest", imageJSON(c, m, shared)) // a referrer of v1
			image(t, s, "team/other", "v1", "config of other", "shared layer")
			image(t, s, "team/app/sub", "v1", "config of sub", "layer of sub")

			if _, err := s.DeleteRepository(ctx, "team/app", vTags); !errors.Is(err, ErrTagImmutable) ||
				err.Error() != "tag v1 of team/app is immutable (rule v*) and cannot be deleted with its repository" {
				t.Fatalf("delete with an immutable tag: %v", err)
			}
			del, err := s.DeleteRepository(ctx, "team/app", nil)
			if err != nil {
				t.Fatal(err)
			}
			if *del != (RepoDeletion{Name: "team/app", Tags: 2, Manifests: 2}) {
				t.Fatalf("deletion %+v", *del)
			}
			// The directory stays for team/app/sub: no tags, as for any
			// name above a repository.
			if tags, err := s.Tags(ctx, "team/app"); err != nil || len(tags) != 0 {
				t.Fatalf("tags of the deleted repository: %v, %v", tags, err)
			}
			for _, ref := range []string{"v1", m.String()} {
				if _, err := s.GetManifest(ctx, "team/app", ref); !errors.Is(err, ErrManifestUnknown) {
					t.Fatalf("manifest %s of the deleted repository: %v", ref, err)
				}
			}
			if _, err := s.StatBlob(ctx, "team/app", shared); !errors.Is(err, ErrBlobUnknown) {
				t.Fatalf("layer link left: %v", err)
			}
			if refs, err := s.Referrers(ctx, "team/app", m, ""); err != nil || len(refs) != 0 {
				t.Fatalf("referrers left: %v %v", refs, err)
			}
			if cat, _ := s.Catalog(ctx, -1, ""); !slices.Equal(cat, []string{"team/app/sub", "team/other"}) {
				t.Fatalf("catalog %v", cat)
			}
			if err := pullWhole(ctx, s, "team/other", "v1"); err != nil {
				t.Fatalf("shared blob no longer served from team/other: %v", err)
			}
			if err := pullWhole(ctx, s, "team/app/sub", "v1"); err != nil {
				t.Fatalf("nested repository damaged: %v", err)
			}
			if _, err := s.DeleteRepository(ctx, "team/app", nil); !errors.Is(err, ErrNameUnknown) {
				t.Fatalf("second delete: %v, want ErrNameUnknown", err)
			}
			if _, err := s.DeleteRepository(ctx, "Team/App", nil); !errors.Is(err, ErrNameInvalid) {
				t.Fatalf("bad name: %v", err)
			}
			// Garbage collection frees what only team/app used.
			waitOld()
			if _, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			have := storedBlobs(t, s)
			for _, d := range append([]digest.Digest{c, m}, ls...) {
				if slices.Contains(have, d) {
					t.Errorf("blob %s of the deleted repository survived GC", d)
				}
			}
			if !slices.Contains(have, shared) {
				t.Error("GC took the shared blob")
			}
		})
	}
}

// TestDeleteRepositoryResume leaves a delete half done, as a process that
// died would: pushes are refused (and take back their writes) until the
// next garbage collection finishes it.
func TestDeleteRepositoryResume(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := gcStore(mk(t))
			_, c, ls := image(t, s, "team/app", "v1", "config", "layer")
			if err := s.driver.PutContent(ctx, repoDeletePath("team/app"), []byte(`{"name":"team/app"}`)); err != nil {
				t.Fatal(err)
			}
			if err := s.driver.Delete(ctx, layout.TagsDir("team/app")); err != nil {
				t.Fatal(err)
			}
			_, err := s.PutManifest(ctx, "team/app", "v2", "", imageJSON(c, "", ls...), nil)
			if !errors.Is(err, ErrRepositoryDeleting) {
				t.Fatalf("push into a repository being deleted: %v", err)
			}
			if tags, _ := s.Tags(ctx, "team/app"); len(tags) != 0 {
				t.Fatalf("refused push left tags %v", tags)
			}
			if _, err := s.MountBlob(ctx, "team/app", "", ls[0]); !errors.Is(err, ErrRepositoryDeleting) {
				t.Fatalf("mount into a repository being deleted: %v", err)
			}
			// Young records belong to deletes that may still run.
			if names, err := s.ResumeRepositoryDeletes(ctx, time.Hour); err != nil || len(names) != 0 {
				t.Fatalf("resume of a young record: %v %v", names, err)
			}
			s.now = func() time.Time { return time.Now().Add(RepoDeleteStale + time.Minute) }
			// Scrub reports it, and finishes it only with Repair.
			var found []Problem
			if _, err := s.Scrub(ctx, ScrubOptions{Report: func(p Problem) { found = append(found, p) }}); err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].Kind != UnfinishedRepoDelete || found[0].Repository != "team/app" || found[0].Repaired {
				t.Fatalf("scrub found %v", found)
			}
			if _, err := s.driver.Stat(ctx, repoDeletePath("team/app")); err != nil {
				t.Fatalf("scrub without repair touched the record: %v", err)
			}
			waitOld()
			if _, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Tags(ctx, "team/app"); !errors.Is(err, ErrNameUnknown) {
				t.Fatalf("repository after the resumed delete: %v", err)
			}
			if rec, _, err := s.readRepoDelete(ctx, "team/app"); err != nil || rec == nil || rec.State != repoDeletedDone {
				t.Fatalf("record after the resumed delete: %+v, %v; want done", rec, err)
			}
			// A "done" record goes once it is old.
			if names, err := s.ResumeRepositoryDeletes(ctx, 0); err != nil || len(names) != 0 {
				t.Fatalf("resume with only a done record: %v %v", names, err)
			}
			if rec, _, err := s.readRepoDelete(ctx, "team/app"); err != nil || rec != nil {
				t.Fatalf("done record not removed: %+v %v", rec, err)
			}
			if len(storedBlobs(t, s)) != 0 {
				t.Fatalf("blobs left: %v", storedBlobs(t, s))
			}
			s.now = time.Now
			image(t, s, "team/app", "v1", "config", "layer") // pushes work again
		})
	}
}

// TestDeleteRepositoryRacingPushes deletes a repository while pushes into
// it run on another store (another node): every push acknowledged after
// the delete pulls whole, every refused push leaves no tag, and nothing is
// left half there.
func TestDeleteRepositoryRacingPushes(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			drv := mk(t)
			pusher, deleter := New(drv), New(drv)
			ok, refused := 0, 0
			for round := range 3 {
				rng := rand.New(rand.NewPCG(uint64(round), 2))
				if err := stressPush(ctx, pusher, rng, "team/app", "t0", "0"); err != nil {
					t.Fatal(err)
				}
				const pushers, each = 3, 3
				errs := make([]error, pushers*each)
				var wg sync.WaitGroup
				for p := range pushers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := range each {
							i := p*each + j
							rng := rand.New(rand.NewPCG(uint64(round*100+i), 7))
							errs[i] = stressPush(ctx, pusher, rng, "team/app", fmt.Sprint("t", i+1), fmt.Sprint(round, "-", i+1))
						}
					}()
				}
				time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
				if _, err := deleter.DeleteRepository(ctx, "team/app", nil); err != nil {
					t.Fatal(err)
				}
				wg.Wait()
				tags, err := pusher.Tags(ctx, "team/app")
				if err != nil && !errors.Is(err, ErrNameUnknown) {
					t.Fatal(err)
				}
				for i, err := range errs {
					tag := fmt.Sprint("t", i+1)
					if err == nil {
						ok++
						continue
					}
					// Any error will do for a push racing a delete
					// (ErrRepositoryDeleting, MANIFEST_BLOB_UNKNOWN, an upload
					// whose files went): what matters is what stays.
					refused++
					if !errors.Is(err, ErrRepositoryDeleting) {
						t.Logf("round %d, push %s: %v", round, tag, err)
					}
					if slices.Contains(tags, tag) {
						t.Errorf("refused push %s left its tag", tag)
					}
				}
				for _, tag := range tags {
					if err := pullWhole(ctx, pusher, "team/app", tag); err != nil {
						t.Errorf("tag %s is half there: %v", tag, err)
					}
				}
				// Next round on an empty repository.
				if _, err := deleter.DeleteRepository(ctx, "team/app", nil); err != nil && !errors.Is(err, ErrNameUnknown) {
					t.Fatal(err)
				}
			}
			t.Logf("%d pushes acknowledged, %d refused", ok, refused)
		})
	}
}

// TestScrubFinishesRepoDelete: scrub --repair finishes a delete that
// stopped half way, and leaves one still young alone.
func TestScrubFinishesRepoDelete(t *testing.T) {
	ctx := t.Context()
	drv := newFS(t)
	s := New(drv)
	image(t, s, "team/old", "v1", "config old", "layer old")
	image(t, s, "team/young", "v1", "config young", "layer young")
	if err := s.driver.PutContent(ctx, repoDeletePath("team/old"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	drv.age(t, RepoDeleteStale+time.Minute)
	if err := s.driver.PutContent(ctx, repoDeletePath("team/young"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var found []Problem
	if _, err := s.Scrub(ctx, ScrubOptions{Repair: true, Report: func(p Problem) { found = append(found, p) }}); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Kind != UnfinishedRepoDelete || found[0].Repository != "team/old" || !found[0].Repaired {
		t.Fatalf("scrub --repair found %v", found)
	}
	if cat, _ := s.Catalog(ctx, -1, ""); !slices.Equal(cat, []string{"team/young"}) {
		t.Fatalf("catalog after the repair: %v", cat)
	}
}

// putHookDriver calls before(p) before each PutContent of p.
type putHookDriver struct {
	storagedriver.Driver
	before func(p string)
}

func (h *putHookDriver) PutContent(ctx context.Context, p string, b []byte) error {
	if h.before != nil {
		h.before(p)
	}
	return h.Driver.PutContent(ctx, p, b)
}

// TestDeleteRepositoryDuringPush runs a whole delete between a manifest
// PUT's check of its references and its writes: the push must not be
// acknowledged, since the layer links it checked are gone. Played again
// without the "done" record (as if the delete removed its record at the
// end), the push is acknowledged and the image is broken: the record is
// what saves it.
func TestDeleteRepositoryDuringPush(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			for _, keepRecord := range []bool{true, false} {
				ctx := t.Context()
				drv := mk(t)
				hook := &putHookDriver{Driver: drv}
				pusher, deleter := New(hook), New(drv)
				c := putString(t, pusher, "team/app", "config")
				l := putString(t, pusher, "team/app", "layer")
				payload := imageJSON(c, "", l)
				d := digest.FromBytes(payload)
				ran := false
				hook.before = func(p string) {
					if p != layout.RevisionLinkPath("team/app", d) || ran {
						return
					}
					ran = true
					if _, err := deleter.DeleteRepository(ctx, "team/app", nil); err != nil {
						t.Error(err)
					}
					if !keepRecord {
						_ = drv.Delete(ctx, repoDeletePath("team/app"))
					}
				}
				_, err := pusher.PutManifest(ctx, "team/app", "v1", "", payload, nil)
				if !ran {
					t.Fatal("the delete did not run")
				}
				if !keepRecord {
					if err != nil || pullWhole(ctx, pusher, "team/app", "v1") == nil {
						t.Fatalf("without the record: push %v, and the image pulls whole: the test proves nothing", err)
					}
					continue
				}
				if !errors.Is(err, ErrRepositoryDeleting) {
					t.Fatalf("push across a delete: %v, want ErrRepositoryDeleting", err)
				}
				if tags, _ := pusher.Tags(ctx, "team/app"); len(tags) != 0 {
					t.Fatalf("refused push left tags %v", tags)
				}
				if cat, _ := pusher.Catalog(ctx, -1, ""); len(cat) != 0 {
					t.Fatalf("catalog after the refused push: %v", cat)
				}
			}
		})
	}
}

// TestDeleteRepositoryForgetsCache: with the blob descriptor cache, the
// deleting store forgets the repository's links, so that its blob HEADs
// and manifest GETs answer "unknown" at once rather than after the
// cache's window.
func TestDeleteRepositoryForgetsCache(t *testing.T) {
	ctx := t.Context()
	s := New(newFS(t), WithBlobDescriptorCache(blobcache.New(blobcache.NewMemory(0), nil, nil)))
	m, c, ls := image(t, s, "team/app", "v1", "config", "layer")
	for _, d := range append([]digest.Digest{c}, ls...) {
		if _, err := s.StatBlob(ctx, "team/app", d); err != nil { // cached now
			t.Fatal(err)
		}
	}
	if _, err := s.GetManifest(ctx, "team/app", m.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRepository(ctx, "team/app", nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]digest.Digest{c, m}, ls...) {
		if _, err := s.StatBlob(ctx, "team/app", d); !errors.Is(err, ErrBlobUnknown) {
			t.Errorf("blob %s of the deleted repository: %v, want ErrBlobUnknown", d, err)
		}
	}
	if _, err := s.GetManifest(ctx, "team/app", m.String()); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("manifest of the deleted repository: %v", err)
	}
}
