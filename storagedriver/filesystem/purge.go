package filesystem

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var _ storagedriver.PendingPurger = (*driver)(nil)

// PurgePending removes the files of the +pending tree last modified before
// olderThan: pending writes parked by Close and never resumed, and the
// session files of writers whose process died. A file's modification time
// is its last activity: every Write moves it, and Writer(append=true) moves
// it when it claims a parked write (see resume), so a write that a writer
// holds or has recently touched is young. The directories left empty go,
// also those that ended writes left behind.
//
// Several purges, in several processes, may run at once: a file removed by
// another is skipped and not counted. With dryRun nothing is removed.
func (d *driver) PurgePending(ctx context.Context, olderThan time.Time, dryRun bool) (int, int64, error) {
	var n int
	var bytes int64
	var dirs []string // visited parents first
	err := filepath.WalkDir(d.pending, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if p != d.pending {
				dirs = append(dirs, p)
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if !fi.ModTime().Before(olderThan) {
			return nil
		}
		if !dryRun {
			if err := os.Remove(p); err != nil {
				if notExist(err) {
					return nil // another purge, a resume or a Delete was first
				}
				return err
			}
			d.prune(filepath.Dir(p), d.pending)
		}
		n++
		bytes += fi.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil && !dryRun {
		// The directories ended writes leave in place, children before
		// their parents; a writer starting in one meanwhile creates it
		// again (Writer retries).
		for _, dir := range slices.Backward(dirs) {
			_ = syscall.Rmdir(dir) // not empty, or already gone
		}
	}
	return n, bytes, err
}

var _ storagedriver.PendingActivity = (*Driver)(nil)

// PendingActivity (of the backend) returns the modification time of the
// pending write of p, parked or claimed by a writer, whichever is later
// (a writer may rename it between the two looks): every Write and every
// claim moves it, as PurgePending counts on. The upload purger asks it
// because an upload's chunks leave no other file behind (the hash state
// travels with the write, see SetState).
func (d *driver) PendingActivity(ctx context.Context, p string) (time.Time, bool, error) {
	pend := d.pendingPath(p)
	var last time.Time
	found := false
	for _, name := range []string{pend, claimedPath(pend)} {
		fi, err := os.Stat(name)
		switch {
		case err == nil && fi.Mode().IsRegular():
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		case err != nil && !notExist(err):
			return time.Time{}, false, err
		}
	}
	return last, found, ctx.Err()
}
