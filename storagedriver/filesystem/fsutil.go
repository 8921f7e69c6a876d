package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/berth-registry/berth/storagedriver"
)

// mkdirs creates dir and its missing parents below the root. It returns
// the directories that got an entry for a directory it created (or found
// created by someone who may not have synced it yet): the caller fsyncs them
// (syncDirs) once its own entry is in place, so that the creations join the
// journal commit of that entry instead of each costing one of their own.
//
// It tries the mkdir first: most directories the driver writes into are
// new (a link's or a blob's own), and a mkdir that succeeds costs one
// path walk, where a Stat that fails and the mkdir after it cost two.
// One found missing (ENOENT) has its parents made first.
func (d *driver) mkdirs(dir string) ([]string, error) {
	if dir == d.root {
		return nil, nil
	}
	err := os.Mkdir(dir, 0o777)
	switch {
	case err == nil:
		return []string{filepath.Dir(dir)}, nil
	case errors.Is(err, fs.ErrExist):
		// Taken for a directory: if it is a file, creating in it fails
		// with ENOTDIR, and if it goes meanwhile, with ENOENT, which the
		// callers retry.
		return nil, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	parent := filepath.Dir(dir)
	dirty, err := d.mkdirs(parent)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Also after EEXIST: the process that created it may not have synced yet.
	return append(dirty, parent), nil
}

// syncDirs fsyncs dir, which holds a new entry, and the directories mkdirs
// returned, all at once: the first fsync commits the journal transaction
// that holds all their entries and the others mostly wait for it, so the
// time is about that of one. When it returns, the entry and every directory
// leading to it are durable.
//
// Past syncHelpers directories at once, process-wide, syncDirs syncs the
// rest itself, one after the other, once dir is synced.
func syncDirs(dir string, dirty []string) error {
	if len(dirty) == 0 {
		return syncDir(dir)
	}
	slices.Sort(dirty)
	dirty = slices.Compact(dirty) // made twice: a creation lost a race and was retried
	errs := make([]error, len(dirty))
	syncOne := func(i int) {
		// One gone meanwhile was emptied and pruned by a Delete:
		// what it held is deleted, durable or not.
		if err := syncDir(dirty[i]); err != nil && !notExist(err) {
			errs[i] = err
		}
	}
	var wg sync.WaitGroup
	var inline []int
	for i := range dirty {
		select {
		case syncHelpers <- struct{}{}:
			wg.Go(func() {
				defer func() { <-syncHelpers }()
				syncOne(i)
			})
		default:
			inline = append(inline, i)
		}
	}
	err := syncDir(dir)
	for _, i := range inline {
		syncOne(i)
	}
	wg.Wait()
	return errors.Join(append([]error{err}, errs...)...)
}

// syncHelpers bounds the goroutines of syncDirs, process-wide. Each fsync
// holds an OS thread for its length, and the Go runtime keeps every thread
// it started for the life of the process, each with its signal stack
// (32 KiB of heap, which the collector's goal counts too) and its own
// stack: new repositories pushed by 16 clients at once (regbench's
// catalog set-up) left 84 threads, most of them started for these fsyncs
// (47 with a bound of 16). The bound is above what a push storm of 16
// clients keeps busy (a bound of 16 made 6% of its directory fsyncs wait),
// so that only bursts of new repositories meet it.
var syncHelpers = make(chan struct{}, 32)

// prune removes dir and then its parents while they are empty, stopping
// below stop. Rmdir, unlike os.Remove, never deletes a file that replaced a
// directory meanwhile.
func (d *driver) prune(dir, stop string) {
	for len(dir) > len(stop) && dir != stop {
		if syscall.Rmdir(dir) != nil {
			return // not empty, or already gone
		}
		dir = filepath.Dir(dir)
	}
}

// createTemp creates a new file named prefix plus a random suffix in dir.
func createTemp(dir, prefix string) (*os.File, string, error) {
	for {
		name := filepath.Join(dir, prefix+randSuffix())
		f, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
}

func randSuffix() string { return strconv.FormatUint(rand.Uint64(), 36) }

// notExist reports errors that mean nothing is at a path: it is missing or a
// parent is a file.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// fileErr maps an error opening or reading the file at p.
func fileErr(p string, err error) error {
	if notExist(err) || errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("file %w", storagedriver.PathNotFound(p))
	}
	return err
}
