package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
)

// The push races of issue 11, each driven at its exact interleaving with
// the collector's test hooks, on the filesystem driver with a realistic
// grace (1h) and content aged past it, and on S3 (versitygw) with a grace
// of 1s waited out. Each scenario runs twice: with the
// protection, the push must succeed and its image stay whole; with the
// protection removed (Store.relyOff), the same interleaving must break the
// push, which proves the test exercises the protection. doc.go names the
// line of the proof each case maps to.

// raceBackend is a driver for the race tests and how to make its content
// look older than the grace: the filesystem's files are aged (a realistic
// grace of 1h); S3's LastModified cannot be set, so there the grace is 1s
// and the test waits it out.
type raceBackend struct {
	name  string
	grace time.Duration
	open  func(t *testing.T) (storagedriver.Driver, func(t *testing.T))
	// settle is how long a hook gives a request it started to finish
	// before the collector goes on: long enough for an unprotected request
	// to complete (so that the interleaving is the one meant), short
	// enough to keep the tests quick, as a protected one waits it out.
	settle time.Duration
}

func raceBackends() []raceBackend {
	return []raceBackend{
		{"filesystem", time.Hour, func(t *testing.T) (storagedriver.Driver, func(*testing.T)) {
			fs := newFS(t)
			return fs, func(t *testing.T) { fs.age(t, 3*time.Hour) }
		}, 500 * time.Millisecond},
		{"s3", time.Second, func(t *testing.T) (storagedriver.Driver, func(*testing.T)) {
			return s3test.NewDriver(t), func(*testing.T) { time.Sleep(3 * time.Second) }
		}, 3 * time.Second},
	}
}

// raceEnv is a root on the filesystem holding the leftovers of an image
// deleted long ago: its layer "layer" (digest L) is garbage, still linked
// into the repositories named in linked.
type raceEnv struct {
	s     *Store
	grace time.Duration
	L     digest.Digest
}

func newRaceEnv(t *testing.T, b raceBackend, off relyKind, protect bool, linked ...string) *raceEnv {
	t.Helper()
	drv, age := b.open(t)
	s := New(drv, WithGCGrace(b.grace))
	e := &raceEnv{s: s, grace: b.grace}
	for _, repo := range linked {
		m, _, ls := image(t, s, repo, "old", "old config of "+repo, "layer")
		e.L = ls[0]
		if err := s.DeleteManifest(context.Background(), repo, m.String()); err != nil {
			t.Fatal(err)
		}
	}
	if e.L == "" {
		e.L = digest.FromString("layer")
	}
	age(t)
	if !protect {
		s.relyOff = func(k relyKind) bool { return k == off }
	}
	return e
}

// collector returns a run with the test's grace; the caller sets hooks.
func (e *raceEnv) collector() *collector {
	return e.s.newCollector(GCOptions{Grace: e.grace, DeleteUntagged: true})
}

// finishPush puts an image over a fresh config and L into repo, as a client
// that believes L is there, and then checks the image is whole.
func (e *raceEnv) finishPush(t *testing.T, repo string) error {
	ctx := context.Background()
	c := putString(t, e.s, repo, "new config of "+repo)
	if _, err := e.s.PutManifest(ctx, repo, "new", "", imageJSON(c, "", e.L), nil); err != nil {
		return fmt.Errorf("manifest PUT: %w", err)
	}
	return e.whole(repo)
}

// whole checks that the image tagged "new" in repo can be pulled.
func (e *raceEnv) whole(repo string) error {
	ctx := context.Background()
	if _, err := e.s.GetManifest(ctx, repo, "new"); err != nil {
		return fmt.Errorf("acknowledged image: %w", err)
	}
	if _, err := e.s.StatBlob(ctx, repo, e.L); err != nil {
		return fmt.Errorf("acknowledged image's layer: %w", err)
	}
	return nil
}

// race runs scenario on each backend, with and without the protection of
// kind off.
func race(t *testing.T, off relyKind, scenario func(t *testing.T, b raceBackend, protect bool) error) {
	for _, b := range raceBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("protected", func(t *testing.T) {
				if err := scenario(t, b, true); err != nil {
					t.Fatalf("push broken despite the protection: %v", err)
				}
			})
			t.Run("unprotected", func(t *testing.T) {
				err := scenario(t, b, false)
				if err == nil {
					t.Fatalf("with rely off for %s, the interleaving did not break the push: the test does not exercise the protection", off)
				}
				t.Logf("without rely on %s the push breaks, as it must: %v", off, err)
			})
		})
	}
}

// TestGCRaceHeadThenPut: a client HEADs a blob, sees it, skips the upload
// and PUTs its manifest, while a collector runs.
func TestGCRaceHeadThenPut(t *testing.T) {
	t.Run("HEAD before the run", func(t *testing.T) {
		race(t, relyRead, func(t *testing.T, b raceBackend, protect bool) error {
			e := newRaceEnv(t, b, relyRead, protect, "r")
			ctx := context.Background()
			if _, err := e.s.StatBlob(ctx, "r", e.L); err != nil {
				t.Fatalf("HEAD: %v", err)
			}
			if _, err := e.collector().collect(ctx); err != nil {
				t.Fatal(err)
			}
			return e.finishPush(t, "r")
		})
	})
	t.Run("HEAD while the collector deletes", func(t *testing.T) {
		race(t, relyRead, func(t *testing.T, b raceBackend, protect bool) error {
			e := newRaceEnv(t, b, relyRead, protect, "r")
			ctx := context.Background()
			c := e.collector()
			var headErr error
			c.beforeDelete = func(d digest.Digest) {
				if d == e.L {
					// Two clients: the second must not trust the used
					// record the first one's HEAD left (the fast path).
					_, _ = e.s.StatBlob(ctx, "r", e.L)
					_, headErr = e.s.StatBlob(ctx, "r", e.L)
				}
			}
			if _, err := c.collect(ctx); err != nil {
				t.Fatal(err)
			}
			if errors.Is(headErr, ErrBlobUnknown) {
				putString(t, e.s, "r", "layer") // the client uploads what HEAD did not find
			} else if headErr != nil {
				t.Fatal(headErr)
			}
			return e.finishPush(t, "r")
		})
	})
}

// TestGCRaceMountDuringMark: a client mounts a blob from another
// repository after the collector marked, then PUTs its manifest.
func TestGCRaceMountDuringMark(t *testing.T) {
	race(t, relyMount, func(t *testing.T, b raceBackend, protect bool) error {
		e := newRaceEnv(t, b, relyMount, protect, "src")
		ctx := context.Background()
		c := e.collector()
		var mountErr error
		c.afterMark = func() { _, mountErr = e.s.MountBlob(ctx, "dst", "src", e.L) }
		if _, err := c.collect(ctx); err != nil {
			t.Fatal(err)
		}
		if mountErr != nil {
			putString(t, e.s, "dst", "layer") // a refused mount falls back to an upload
		}
		return e.finishPush(t, "dst")
	})
}

// TestGCRaceUploadInFlight: an upload started before the run commits during
// it. Its data was written long ago, so the published blob looks old; it
// is new to the blob store, so the mark never saw it.
func TestGCRaceUploadInFlight(t *testing.T) {
	setup := func(t *testing.T, b raceBackend, protect bool) (*raceEnv, *Upload) {
		drv, age := b.open(t)
		s := New(drv, WithGCGrace(b.grace))
		u, err := s.StartUpload(context.Background(), "r")
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Append(context.Background(), strings.NewReader("layer"), 0); err != nil {
			t.Fatal(err)
		}
		age(t)
		if !protect {
			s.relyOff = func(k relyKind) bool { return k == relyCommit }
		}
		return &raceEnv{s: s, grace: b.grace, L: digest.FromString("layer")}, u
	}
	t.Run("commit after the mark", func(t *testing.T) {
		race(t, relyCommit, func(t *testing.T, b raceBackend, protect bool) error {
			if !protect {
				// The commit gives the blob a fresh time on both backends
				// (S3 copies the upload to its blob key; the filesystem
				// driver marks a resumed pending write as active), so the
				// grace alone spares it here; "commit while the collector
				// deletes" below is the interleaving only rely protects.
				t.Skip("the committed blob is fresh: the grace alone spares it")
			}
			e, u := setup(t, b, protect)
			ctx := context.Background()
			c := e.collector()
			c.afterMark = func() {
				if _, err := u.Commit(ctx, e.L, nil, -1); err != nil {
					t.Errorf("commit: %v", err)
				}
			}
			if _, err := c.collect(ctx); err != nil {
				t.Fatal(err)
			}
			return e.finishPush(t, "r")
		})
	})
	t.Run("commit while the collector deletes", func(t *testing.T) {
		// The blob exists (a garbage copy) when the upload commits: the
		// commit must not link it and return before the collector is done.
		race(t, relyCommit, func(t *testing.T, b raceBackend, protect bool) error {
			e := newRaceEnv(t, b, relyCommit, true, "old")
			ctx := context.Background()
			u, err := e.s.StartUpload(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if !protect {
				e.s.relyOff = func(k relyKind) bool { return k == relyCommit }
			}
			c := e.collector()
			committed := make(chan error, 1)
			c.beforeDelete = func(d digest.Digest) {
				if d != e.L {
					return
				}
				go func() {
					_, err := u.Commit(ctx, e.L, strings.NewReader("layer"), -1)
					committed <- err
				}()
				select {
				case err := <-committed:
					committed <- err // done before the delete: only safe if it will not be deleted
				case <-time.After(b.settle):
				}
			}
			if _, err := c.collect(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-committed; err != nil {
				t.Fatalf("commit: %v", err)
			}
			return e.finishPush(t, "r")
		})
	})
}

// TestGCRaceManifestPutDuringMark: a manifest PUT that starts after the
// collector read the repository's tags references a blob the mark did not
// keep.
func TestGCRaceManifestPutDuringMark(t *testing.T) {
	t.Run("PUT after the mark", func(t *testing.T) {
		race(t, relyManifest, func(t *testing.T, b raceBackend, protect bool) error {
			e := newRaceEnv(t, b, relyManifest, protect, "r")
			ctx := context.Background()
			c := e.collector()
			cfg := putString(t, e.s, "r", "new config of r")
			var putErr error
			c.afterMark = func() {
				_, putErr = e.s.PutManifest(ctx, "r", "new", "", imageJSON(cfg, "", e.L), nil)
			}
			if _, err := c.collect(ctx); err != nil {
				t.Fatal(err)
			}
			if putErr != nil {
				t.Fatalf("PUT during the mark failed: %v", putErr)
			}
			return e.whole("r")
		})
	})
	t.Run("PUT while the collector deletes", func(t *testing.T) {
		// The client last checked L long ago, so the PUT may be refused
		// (MANIFEST_BLOB_UNKNOWN); what must never happen is a PUT that
		// succeeds and leaves an image whose layer is gone.
		race(t, relyManifest, func(t *testing.T, b raceBackend, protect bool) error {
			e := newRaceEnv(t, b, relyManifest, protect, "r")
			ctx := context.Background()
			c := e.collector()
			cfg := putString(t, e.s, "r", "new config of r")
			put := make(chan error, 1)
			c.beforeDelete = func(d digest.Digest) {
				if d != e.L {
					return
				}
				go func() {
					_, err := e.s.PutManifest(ctx, "r", "new", "", imageJSON(cfg, "", e.L), nil)
					put <- err
				}()
				select {
				case err := <-put:
					put <- err
				case <-time.After(b.settle):
				}
			}
			if _, err := c.collect(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-put; err != nil {
				if errors.Is(err, ErrManifestBlobUnknown) {
					return nil // refused, not lost: the client uploads L again
				}
				t.Fatalf("PUT: %v", err)
			}
			return e.whole("r")
		})
	})
}

// TestGCRaceIndexPutWhileChildGoes: an index PUT references an untagged
// manifest whose revision link a collector is deleting (its content stays,
// as other repositories may hold it). The PUT must wait and then find the
// child gone, not link an index whose child the repository lost.
func TestGCRaceIndexPutWhileChildGoes(t *testing.T) {
	race(t, relyManifest, func(t *testing.T, b raceBackend, protect bool) error {
		ctx := context.Background()
		drv, age := b.open(t)
		e := &raceEnv{s: New(drv, WithGCGrace(b.grace)), grace: b.grace}
		child, _, _ := image(t, e.s, "r", "", "child config", "child layer")
		image(t, e.s, "other", "keep", "child config", "child layer") // the same manifest, live there
		age(t)
		if !protect {
			e.s.relyOff = func(k relyKind) bool { return k == relyManifest }
		}
		c := e.collector()
		put := make(chan error, 1)
		c.beforeDelete = func(d digest.Digest) {
			if d != child {
				return
			}
			go func() {
				_, err := e.s.PutManifest(ctx, "r", "new", "", indexJSON(child), nil)
				put <- err
			}()
			select {
			case err := <-put:
				put <- err
			case <-time.After(b.settle):
			}
		}
		if _, err := c.collect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-put; err != nil {
			if errors.Is(err, ErrManifestBlobUnknown) {
				return nil // refused: the client pushes the child again
			}
			t.Fatalf("PUT: %v", err)
		}
		if _, err := e.s.GetManifest(ctx, "r", child.String()); err != nil {
			return fmt.Errorf("acknowledged index's child: %w", err)
		}
		return nil
	})
}

// TestGCRaceTagMove: a client fetches an untagged manifest and tags it
// (crane tag, a tag move), never touching its blobs, while a collector
// runs: the image must come out whole.
func TestGCRaceTagMove(t *testing.T) {
	race(t, relyRead, func(t *testing.T, b raceBackend, protect bool) error {
		ctx := context.Background()
		drv, age := b.open(t)
		e := &raceEnv{s: New(drv, WithGCGrace(b.grace)), grace: b.grace}
		m, _, ls := image(t, e.s, "r", "", "config", "layer")
		e.L = ls[0]
		age(t)
		if !protect {
			e.s.relyOff = func(k relyKind) bool { return k == relyRead }
		}
		got, err := e.s.GetManifest(ctx, "r", m.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.collector().collect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.PutManifest(ctx, "r", "new", "", got.Payload, nil); err != nil {
			return fmt.Errorf("tag PUT: %w", err)
		}
		return e.whole("r")
	})
}
