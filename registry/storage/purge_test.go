package storage

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/purge"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// testDrivers are the backends the storage tests run on. (registrytest
// has the same list but imports this package.) tick is the resolution of
// the backend's modification times: S3's Last-Modified counts seconds.
var testDrivers = []struct {
	name string
	new  func(t *testing.T) storagedriver.Driver
	tick time.Duration
}{
	{"inmemory", func(*testing.T) storagedriver.Driver { return inmemory.New() }, 20 * time.Millisecond},
	{"filesystem", func(t *testing.T) storagedriver.Driver {
		d, err := filesystem.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, 20 * time.Millisecond},
	{"s3", func(t *testing.T) storagedriver.Driver { return s3test.NewDriver(t) }, 1100 * time.Millisecond},
}

// TestPurgeUploads proves upload purging on every driver: an upload idle
// since before the cutoff goes, with its data wherever the driver keeps
// it, and so does a pending write no upload owns; a young upload stays, and
// so does one that began before the cutoff but received a chunk since. On
// a driver keeping pending writes apart, so do uploads an earlier Berth
// began, whose data is pending at _uploads/<id>/data (parkLegacy). A
// dry run reports the same and removes nothing (the purge after it finds
// it all still there); two purges racing remove everything once, without
// an error, and a third finds nothing.
func TestPurgeUploads(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			ctx := t.Context()
			s := New(drv)
			start := func(name string, chunk string) *Upload {
				t.Helper()
				u, err := s.StartUpload(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := u.Append(ctx, bytes.NewReader([]byte(chunk)), -1); err != nil {
					t.Fatal(err)
				}
				return u
			}
			stale := start("a/b", "stale bytes")
			active := start("a/b", "first, ")
			_, pending := drv.(storagedriver.PendingPurger)
			var staleLegacy, activeLegacy string
			if pending {
				staleLegacy = parkLegacy(t, drv, "a/b", []byte("stale legacy bytes"))
				activeLegacy = parkLegacy(t, drv, "a/b", []byte("legacy, "))
			}
			w, err := drv.Writer(ctx, "/crashed/write", false)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write([]byte("left by a writer that died"))
			w.Close()

			time.Sleep(td.tick)
			cutoff := time.Now()
			time.Sleep(td.tick)

			young := start("c", "young")
			if err := active.Append(ctx, bytes.NewReader([]byte("second")), -1); err != nil {
				t.Fatal(err)
			}
			if pending {
				u, err := s.Upload("a/b", activeLegacy)
				if err == nil {
					err = u.Append(ctx, bytes.NewReader([]byte("after")), -1)
				}
				if err != nil {
					t.Fatal(err)
				}
			}

			// An upload has a directory of its own where its start time or
			// hash states are files (StartUpload, saveHash): its start time
			// on drivers that keep no pending writes apart, its hash state
			// where the driver's writers cannot record it with the pending
			// write (S3 can; the filesystem can where it keeps user
			// attributes). Elsewhere it is its pending write alone, purged
			// as one.
			wantUploads := 1
			if _, err := drv.List(ctx, layout.UploadDir("a/b", stale.ID())); errors.Is(err, storagedriver.ErrPathNotFound) {
				wantUploads = 0
			}
			wantDir := !pending || !keepsState(t, drv)
			if td.name == "s3" && wantDir {
				t.Errorf("s3 cannot record a state with its pending write")
			}
			if wantDir != (wantUploads == 1) {
				t.Errorf("%s: the stale upload has a directory: %v, want %v", td.name, wantUploads == 1, wantDir)
			}
			var purged []purge.Upload
			o := purge.Options{OlderThan: cutoff, DryRun: true, Purged: func(p purge.Upload) { purged = append(purged, p) }}
			dry, err := purge.Uploads(ctx, drv, o)
			if err != nil {
				t.Fatal(err)
			}
			if dry.Uploads != wantUploads || len(purged) != wantUploads || wantUploads == 1 && (purged[0].Repository != "a/b" || purged[0].ID != stale.ID()) {
				t.Fatalf("dry run purged %+v (%+v), want %d upload a/b %s", dry, purged, wantUploads, stale.ID())
			}
			// The stale uploads' data and the crashed write.
			if pending && dry.Pending != 3 {
				t.Errorf("dry run: %d pending writes, want 3", dry.Pending)
			}

			// Two nodes purging at once.
			var wg sync.WaitGroup
			res := make([]purge.Result, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() { res[i], errs[i] = purge.Uploads(ctx, drv, purge.Options{OlderThan: cutoff}) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("concurrent purges: %v, %v", errs[0], errs[1])
			}
			if got := res[0].Uploads + res[1].Uploads; got < wantUploads {
				t.Errorf("concurrent purges removed %d uploads (%+v, %+v): the dry run removed something?", got, res[0], res[1])
			}
			for _, id := range []string{stale.ID(), staleLegacy} {
				if _, err := s.ResumeUpload(ctx, "a/b", id); id != "" && !errors.Is(err, ErrUploadUnknown) {
					t.Errorf("stale upload %s after the purge: %v, want ErrUploadUnknown", id, err)
				}
			}
			if _, err := drv.Writer(ctx, "/crashed/write", true); pending && !errors.Is(err, storagedriver.ErrPathNotFound) {
				t.Errorf("crashed write after the purge: %v, want ErrPathNotFound", err)
			}
			for _, c := range []struct {
				id   string
				name string
				want string
			}{{young.ID(), "c", "young"}, {active.ID(), "a/b", "first, second"}, {activeLegacy, "a/b", "legacy, after"}} {
				if c.id == "" {
					continue // no legacy upload on this driver
				}
				u, err := s.ResumeUpload(ctx, c.name, c.id)
				if err != nil {
					t.Fatalf("live upload %s after the purge: %v", c.want, err)
				}
				if _, err := u.Commit(ctx, digest.FromString(c.want), nil, -1); err != nil {
					t.Errorf("commit of live upload %q after the purge: %v", c.want, err)
				}
			}
			again, err := purge.Uploads(ctx, drv, purge.Options{OlderThan: cutoff})
			if err != nil || again.Uploads != 0 || again.Pending != 0 {
				t.Errorf("third purge: %+v, %v; want nothing", again, err)
			}
		})
	}
}

// TestPurgeUploadDataAtItsPath: on every driver, upload data committed at
// the upload's own path (what a commit on S3, whose writers commit only
// at their own key, leaves when its process dies before the move) is an
// upload to the purger: kept while young, purged once idle, with its
// bytes counted.
func TestPurgeUploadDataAtItsPath(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			ctx := t.Context()
			id, err := newUploadID()
			if err != nil {
				t.Fatal(err)
			}
			content := []byte("committed, never moved")
			if err := drv.PutContent(ctx, layout.UploadPendingPath("r", id), content); err != nil {
				t.Fatal(err)
			}
			time.Sleep(td.tick)
			cutoff := time.Now()
			if res, err := purge.Uploads(ctx, drv, purge.Options{OlderThan: cutoff.Add(-time.Hour)}); err != nil || res.Uploads != 0 {
				t.Fatalf("young: purged %+v, %v; want nothing", res, err)
			}
			var purged []purge.Upload
			res, err := purge.Uploads(ctx, drv, purge.Options{OlderThan: cutoff, Purged: func(p purge.Upload) { purged = append(purged, p) }})
			if err != nil || res.Uploads != 1 || res.UploadBytes != int64(len(content)) || len(purged) != 1 || purged[0].ID != id {
				t.Fatalf("idle: purged %+v (%+v), %v; want upload r %s of %d bytes", res, purged, err, id, len(content))
			}
			if _, err := drv.Stat(ctx, layout.UploadPendingPath("r", id)); !errors.Is(err, storagedriver.ErrPathNotFound) {
				t.Errorf("after the purge: %v, want ErrPathNotFound", err)
			}
		})
	}
}

// TestRunUploadPurger proves the purger of serve runs on its own, again and
// again, and stops with its context.
func TestRunUploadPurger(t *testing.T) {
	drv := inmemory.New()
	s := New(drv)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runs := make(chan purge.Result, 100)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		purge.Run(ctx, drv, purge.Schedule{Age: 50 * time.Millisecond, Interval: 20 * time.Millisecond}, nil,
			func(r purge.Result, err error) {
				if err != nil {
					t.Error(err)
				}
				runs <- r
			})
	}()
	u, err := s.StartUpload(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for purged := 0; purged == 0; {
		select {
		case r := <-runs:
			purged += r.Uploads
		case <-deadline:
			t.Fatal("the purger never purged the abandoned upload")
		}
	}
	if _, err := s.ResumeUpload(ctx, "r", u.ID()); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("abandoned upload: %v, want ErrUploadUnknown", err)
	}
	<-runs // and it goes on
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the purger did not stop with its context")
	}
}

// keepsState reports whether drv's writers record a state with their
// pending write (storagedriver.StateKeeper, and SetState succeeding: the
// filesystem's needs user attributes).
func keepsState(t *testing.T, drv storagedriver.Driver) bool {
	t.Helper()
	w, err := drv.Writer(t.Context(), "/probe/state", false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Cancel(t.Context()) }()
	k, ok := w.(storagedriver.StateKeeper)
	return ok && k.SetState([]byte("probe"))
}
