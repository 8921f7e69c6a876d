package purge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// Options say which uploads Uploads removes.
type Options struct {
	// OlderThan: uploads and pending writes whose last activity is before
	// it go.
	OlderThan time.Time
	// DryRun counts and reports what would go, and removes nothing.
	DryRun bool
	// Purged, when set, is called for each upload removed (or, with
	// DryRun, that would be), for the log.
	Purged func(Upload)
}

// Upload describes one upload Uploads removed.
type Upload struct {
	Repository   string
	ID           string
	LastActivity time.Time
	Bytes        int64 // of its files visible through the driver
}

// Result counts what Uploads removed (with DryRun: would remove).
type Result struct {
	Uploads      int   // _uploads/<id> directories (S3: or a key of its own)
	UploadBytes  int64 // their files' bytes
	Pending      int   // pending writes of the driver (PendingPurger)
	PendingBytes int64
	Elapsed      time.Duration
}

// Uploads removes the uploads in the storage of drv whose last activity
// is before o.OlderThan, and then asks the driver, when it is a
// storagedriver.PendingPurger, to discard its pending writes of that age:
// the data of uploads in progress and the leftovers of crashed writers,
// which the driver keeps where no path reaches.
//
// An upload's last activity is the latest of the time in its startedat
// file, the modification times of its files (startedat, the hash state
// saved after every chunk, and the data itself where the driver keeps it
// in place, as Distribution's filesystem driver does) and, on a driver
// that keeps pending writes apart (storagedriver.PendingActivity: S3 and
// the filesystem, whose writes also keep the hash state), its pending
// write's: that of _uploads/<id> itself (layout.UploadPendingPath), or of
// _uploads/<id>/data for an upload an earlier Berth began. Distribution's
// purger goes by startedat alone and so removes an upload still being
// sent a week after it began; this one waits until the upload has been
// idle for the whole age. Directories under _uploads whose names are not
// upload ids are left alone. An upload whose directory holds nothing (on
// a driver that keeps pending writes apart Berth writes no startedat: on
// S3 every upload, on the filesystem one that saved no hash state) is its
// pending write alone, at either path, discarded and counted with the
// driver's.
//
// The driver's pending writes are purged first so that the bytes of a
// stale upload's data, which the driver holds, are counted there.
//
// Several processes may purge one storage at once (every node of a
// cluster may run the purger): an upload another purge removed first is
// not counted, and nothing fails.
func Uploads(ctx context.Context, drv storagedriver.Driver, o Options) (Result, error) {
	start := time.Now()
	var res Result
	if pp, ok := drv.(storagedriver.PendingPurger); ok {
		n, b, err := pp.PurgePending(ctx, o.OlderThan, o.DryRun)
		res.Pending, res.PendingBytes = n, b
		if err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("purge pending writes: %w", err)
		}
	}
	err := walkUploads(ctx, drv, layout.RepositoriesRoot(), func(name, id string) error {
		last, size, err := uploadActivity(ctx, drv, name, id)
		if err != nil || !last.Before(o.OlderThan) {
			return err
		}
		if !o.DryRun {
			err := drv.Delete(ctx, layout.UploadDir(name, id))
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				return nil // committed, cancelled or purged meanwhile
			}
			if err != nil {
				return err
			}
		}
		res.Uploads++
		res.UploadBytes += size
		if o.Purged != nil {
			o.Purged(Upload{Repository: name, ID: id, LastActivity: last, Bytes: size})
		}
		return nil
	})
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		err = nil // no repository yet
	}
	res.Elapsed = time.Since(start)
	return res, err
}

// walkUploads calls fn for every upload below dir, a directory of the
// repositories tree: it enters every directory that can be part of a
// repository name, and lists the _uploads directory of each. A repository
// whose first push never completed has nothing but _uploads, so this walk
// does not depend on _manifests or _layers as the catalog's does.
func walkUploads(ctx context.Context, drv storagedriver.Driver, dir string, fn func(name, id string) error) error {
	children, err := drv.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := ctx.Err(); err != nil {
			return err
		}
		base := path.Base(c)
		switch {
		case base == "_uploads":
			name := strings.TrimPrefix(dir, layout.RepositoriesRoot()+"/")
			if check.Name(name) != nil {
				continue
			}
			ids, err := drv.List(ctx, c)
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			for _, u := range ids {
				if id := path.Base(u); check.UploadID(id) {
					if err := fn(name, id); err != nil {
						return err
					}
				}
			}
		case strings.HasPrefix(base, "_"):
		default:
			err := walkUploads(ctx, drv, c, fn)
			if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
		}
	}
	return nil
}

// uploadActivity returns the last activity of upload id of repository
// name (see Uploads) and the bytes of its files. An upload removed
// meanwhile has no activity: the present.
func uploadActivity(ctx context.Context, drv storagedriver.Driver, name, id string) (time.Time, int64, error) {
	dir := layout.UploadDir(name, id)
	var last time.Time
	var size int64
	err := walk.Files(ctx, drv, dir, func(fi storagedriver.FileInfo) error {
		size += fi.Size
		if fi.ModTime.After(last) {
			last = fi.ModTime
		}
		if path.Base(fi.Path) == "startedat" {
			b, err := drv.GetContent(ctx, fi.Path)
			if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil && t.After(last) {
				last = t
			}
		}
		return nil
	})
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		// No directory: on S3 the key of an upload whose data a commit
		// left at its pending write's path (layout.UploadPendingPath),
		// else gone and nothing to purge.
		fi, serr := drv.Stat(ctx, dir)
		if serr != nil || fi.IsDir {
			// A zero time would read as "very old".
			return time.Now(), 0, nil
		}
		last, size, err = fi.ModTime, fi.Size, nil
	}
	if err != nil {
		return last, size, err
	}
	// A driver that keeps the data and its hash state with the pending
	// write (S3, the filesystem) leaves no file touched by a chunk: it
	// says when the write was last active.
	if a, ok := drv.(storagedriver.PendingActivity); ok {
		for _, p := range []string{layout.UploadPendingPath(name, id), layout.UploadDataPath(name, id)} {
			t, ok, err := a.PendingActivity(ctx, p)
			if err != nil {
				return last, size, err
			}
			if ok && t.After(last) {
				last = t
			}
		}
	}
	return last, size, nil
}

// Schedule schedules Uploads, as Distribution's
// storage.maintenance.uploadpurging does.
type Schedule struct {
	Age      time.Duration // uploads idle this long go
	Interval time.Duration // between runs
	DryRun   bool
}

// Run runs Uploads every p.Interval until ctx ends, and
// hands each run's outcome to done (which may log it; purged, when set,
// gets every upload purged). The first run comes after a random delay of
// up to an hour (at most the interval), and every interval is stretched by
// up to a tenth at random, so that the nodes of a cluster, all started
// together, do not purge together; they may, and that is safe.
func Run(ctx context.Context, drv storagedriver.Driver, p Schedule, purged func(Upload), done func(Result, error)) {
	if p.Interval <= 0 || p.Age <= 0 {
		return
	}
	wait := rand.N(min(p.Interval, time.Hour))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res, err := Uploads(ctx, drv, Options{OlderThan: time.Now().Add(-p.Age), DryRun: p.DryRun, Purged: purged})
		if ctx.Err() != nil {
			return
		}
		if done != nil {
			done(res, err)
		}
		wait = p.Interval + rand.N(p.Interval/10+1)
	}
}
