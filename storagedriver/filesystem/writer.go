package filesystem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// Writer opens a writer at p. With appendTo true it takes over the pending
// write at p (ErrPathNotFound when there is none); with false it discards
// that pending write and starts empty. Content committed at p stays readable
// until Commit replaces it.
func (d *driver) Writer(ctx context.Context, p string, appendTo bool) (storagedriver.FileWriter, error) {
	pend := d.pendingPath(p)
	if appendTo {
		w, err := d.resume(ctx, p, pend)
		if err != nil {
			return nil, err // not a FileWriter holding a nil *writer
		}
		return w, nil
	}
	if fi, err := os.Lstat(pend); err == nil && !fi.IsDir() {
		if err := os.Remove(pend); err != nil && !notExist(err) {
			return nil, err
		}
	}
	if err := discardOrphan(pend); err != nil {
		return nil, err
	}
	dir := filepath.Dir(pend)
	var err error
	// PurgePending prunes the directories that writes left empty: writers
	// starting in one meanwhile can lose that race, several times in a
	// row when several writers of one directory start together, each
	// attempt costing a few system calls. Past the first attempts it backs
	// off for a random while, so that writers that keep creating and
	// pruning the same directories in lockstep fall out of step.
	for attempt := range 10 * retries {
		if attempt >= retries {
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(20*time.Microsecond))))
		}
		var f *os.File
		var tmp string
		if err = os.MkdirAll(dir, 0o777); err == nil {
			f, tmp, err = createTemp(dir, sessionTemp)
		}
		if err == nil {
			return &writer{d: d, path: p, pend: pend, tmp: tmp, f: f}, nil
		}
		// A Cancel or Commit pruning the directories meanwhile fails
		// createTemp with ErrNotExist, or MkdirAll with ErrExist: its mkdir
		// found the directory, which was gone when it checked.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return nil, err
}

// StartPending (storagedriver.PendingStarter) creates the empty pending
// write of p, with the directories above it, and fails with fs.ErrExist
// when p has one already. A directory the purger prunes meanwhile is made
// again, as in Writer.
func (d *driver) StartPending(ctx context.Context, p string) error {
	pend := d.pendingPath(p)
	var err error
	for range retries {
		if err = writeNew(pend, nil, false); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, err = d.mkdirs(filepath.Dir(pend)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// resume claims the pending write at pend for a writer of its own: it locks
// the file (flock, held until the writer ends) and renames it to the one
// claimed name of the path, so that no other writer, in this process or
// another, continues it at the same time. A claimed file that nobody locks
// was left by a writer whose process died: it is taken over, so a crash
// while continuing a write loses none of what was closed before.
//
// A lock held by someone else is waited for, up to lockWait: the writer
// before this one may still be closing, and a process forked meanwhile
// (to run a helper, say) holds a copy of every descriptor, and with it the
// lock, until it execs.
func (d *driver) resume(ctx context.Context, p, pend string) (*writer, error) {
	notFound := fmt.Errorf("pending write %w", storagedriver.PathNotFound(p))
	claimed := claimedPath(pend)
	deadline := time.Now().Add(lockWait)
	for attempt := 0; attempt < retries; attempt++ {
		f, err := openLocked(pend)
		if err != nil && !notExist(err) && isDir(pend) {
			// The pending writes of paths below p: none of p itself.
			err = fs.ErrNotExist
		}
		if errors.Is(err, errLocked) {
			if again, werr := waitUnlock(ctx, deadline); werr != nil {
				return nil, werr
			} else if again {
				attempt--
				continue
			}
		}
		switch {
		case err == nil:
			if err := rename(pend, claimed); err != nil {
				f.Close()
				if notExist(err) {
					continue // discarded since it was opened
				}
				return nil, err
			}
		case notExist(err):
			// No pending write; perhaps one whose writer died, or one
			// still closing (it renames before it unlocks).
			if f, err = openLocked(claimed); err != nil {
				if errors.Is(err, errLocked) {
					if again, werr := waitUnlock(ctx, deadline); werr != nil {
						return nil, werr
					} else if again {
						attempt--
						continue
					}
				}
				if notExist(err) || errors.Is(err, errLocked) {
					return nil, notFound
				}
				return nil, err
			}
		case errors.Is(err, errLocked):
			return nil, notFound // being taken over by another writer
		default:
			return nil, err
		}
		// The locked file must be the one at the claimed name: the name
		// may have moved to another file between the open and the lock.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if cfi, err := os.Lstat(claimed); err == nil && os.SameFile(fi, cfi) {
			// The claimed write is active from now on: PurgePending, which
			// goes by modification time, must not take it for a write
			// abandoned long ago before its first Write.
			if err := touch(f, claimed, time.Now()); err != nil {
				f.Close()
				return nil, err
			}
			return &writer{d: d, path: p, pend: pend, tmp: claimed, f: f, size: fi.Size(), flushed: fi.Size(), resumed: true}, nil
		}
		f.Close()
	}
	return nil, notFound
}

// How long resume waits for a pending write that another open file
// description has locked, and how often it looks again.
const (
	lockWait = 2 * time.Second
	lockPoll = 5 * time.Millisecond
)

// waitUnlock waits lockPoll for a lock to be released, and says whether
// to look again (false once deadline has passed); ctx's error when it ends.
func waitUnlock(ctx context.Context, deadline time.Time) (bool, error) {
	if !time.Now().Before(deadline) {
		return false, nil
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(lockPoll):
		return true, nil
	}
}

// discardOrphan removes the claimed file of pend when it was left by a
// writer whose process died; a live writer's is left to that writer.
func discardOrphan(pend string) error {
	claimed := claimedPath(pend)
	f, err := openLocked(claimed)
	if err != nil {
		if notExist(err) || errors.Is(err, errLocked) {
			return nil
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if cfi, err := os.Lstat(claimed); err == nil && os.SameFile(fi, cfi) {
		if err := os.Remove(claimed); err != nil && !notExist(err) {
			return err
		}
	}
	return nil
}

// isDir reports whether a directory is at name.
func isDir(name string) bool {
	fi, err := os.Lstat(name)
	return err == nil && fi.IsDir()
}

// errLocked: another open file description holds the lock.
var errLocked = errors.New("locked by another writer")

// openLocked opens the file at name for appending (and reading: a short
// write's commit reads it back for the redo log) and takes its exclusive
// lock, which the kernel releases when the file is closed or its process
// dies. errLocked when another writer holds it.
func openLocked(name string) (*os.File, error) {
	f, err := openFile(name, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// claimedPath is the name of the pending write pend while a writer
// continues it: one per path, made from a hash of the file name so that it
// fits the 255-byte limit of a name.
func claimedPath(pend string) string {
	sum := sha256.Sum256([]byte(filepath.Base(pend)))
	return filepath.Join(filepath.Dir(pend), claimedTemp+hex.EncodeToString(sum[:12]))
}

type writer struct {
	d    *driver
	path string // the storage path
	pend string // where the write is parked between sessions
	tmp  string // this session's file
	f    *os.File
	size int64
	done bool
	// flushed: the bytes before it are being written back or were
	// written before this session (startWriteback).
	flushed int64
	// resumed: the file is a pending write taken over, which may carry
	// the state a Close recorded (stateAttr); kept is that state once
	// read, and stateRead says it was. marked: SetState recorded one.
	resumed, stateRead, marked bool
	kept                       []byte
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write to %s: %w", w.path, fs.ErrClosed)
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if w.size-w.flushed >= writebackChunk {
		startWriteback(w.f, w.flushed, w.size-w.flushed)
		w.flushed = w.size
	}
	return n, err
}

// writebackChunk is how many bytes a writer lets the page cache hold before
// it starts their writeback (startWriteback).
const writebackChunk = 8 << 20

func (w *writer) Size() int64 { return w.size }

// SetState records b with the write (storagedriver.StateKeeper) as an
// extended attribute of its file, at once: the attribute goes with the file
// through the renames of Close and of the next writer's resume, so a state
// costs one system call to record and one to read back, where a file of
// its own costs a creation, a rename and a deletion per chunk of an upload.
// False where the filesystem keeps no user attributes.
func (w *writer) SetState(b []byte) bool {
	if w.done || len(b) > storagedriver.MaxState || setState(w.f, b) != nil {
		return false
	}
	w.marked = true
	return true
}

// State is what the Close of the pending write this writer resumed
// recorded with it (SetState), or nil; read from the file once.
func (w *writer) State() []byte {
	if !w.stateRead && w.resumed && !w.done {
		w.kept = readState(w.f)
	}
	w.stateRead = true
	return w.kept
}

// Close parks the file as the pending write of the path, replacing any parked
// meanwhile. It does not fsync: only Commit makes content durable.
func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	// Renamed while still open: a claimed file's lock must cover its
	// rename, or another writer could take it over in between.
	err := rename(w.tmp, w.pend)
	if errors.Is(err, fs.ErrNotExist) {
		w.f.Close()
		return nil // discarded by a Delete meanwhile
	}
	if err != nil {
		_ = os.Remove(w.tmp)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *writer) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("cancel %s: %w", w.path, fs.ErrClosed)
	}
	w.done = true
	err := os.Remove(w.tmp) // before Close releases the lock
	w.f.Close()
	if err != nil && !notExist(err) {
		return err
	}
	return nil
}

// Commit fsyncs the file, renames it to the path and fsyncs the directory.
// When the rename fails the writer stays open, so it can still be closed
// (kept pending) or cancelled.
func (w *writer) Commit(ctx context.Context) error {
	return w.commit(ctx, w.path)
}

// CommitTo is Commit to path dst instead of the writer's own
// (storagedriver.Relocator): one fsync of the file, one rename, and the
// syncs of the directories it lands in.
func (w *writer) CommitTo(ctx context.Context, dst string) error {
	if err := storagedriver.CheckPath(dst); err != nil {
		return err
	}
	return w.commit(ctx, dst)
}

// CommitToWith is CommitTo that also publishes files staged by the same
// driver (storagedriver.RelocatorWith): with the redo log, in the same
// record, shown after the writer's content. errors.ErrUnsupported when
// the log is not the driver's, the write is too long for it, or a staged
// file is not one of the driver's own.
func (w *writer) CommitToWith(ctx context.Context, dst string, staged ...storagedriver.Staged) error {
	if err := storagedriver.CheckPath(dst); err != nil {
		return err
	}
	if w.d.redo == nil || w.size > redoCommitMax {
		return errors.ErrUnsupported
	}
	also := make([]*loggedFile, len(staged))
	for i, st := range staged {
		f, ok := st.(*loggedFile)
		if !ok || f.d != w.d || f.done {
			return errors.ErrUnsupported
		}
		also[i] = f
	}
	return w.commit(ctx, dst, also...)
}

func (w *writer) commit(ctx context.Context, p string, also ...*loggedFile) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("commit %s: %w", w.path, fs.ErrClosed)
	}
	if w.resumed || w.marked {
		clearState(w.f) // a state is of use to a pending write only
	}
	// A short write is logged (redo_linux.go) when the log can be used:
	// then nothing waits for the disk but the log's flush.
	logged, err := w.log(p, also)
	if err != nil {
		return err
	}
	if logged != nil {
		defer logged.done()
	} else {
		release, err := w.d.redo.fence(p)
		if err != nil {
			return err
		}
		defer release()
	}
	// A long write fsyncs its own file: a syncfs would also wait for
	// others' write-back, and they for its.
	g := w.d.group.use()
	if w.size > groupSmall {
		g = nil
	}
	switch {
	case logged != nil:
	case g != nil:
		if err := g.sync(); err != nil {
			return err
		}
	default:
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	dst := w.d.full(p)
	dir := filepath.Dir(dst)
	var dirty []string
	for i := 0; ; i++ {
		made, err := w.d.mkdirs(dir)
		dirty = append(dirty, made...)
		if err == nil {
			err = rename(w.tmp, dst)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || i == retries {
			return err
		}
		if _, serr := os.Lstat(w.tmp); notExist(serr) {
			w.done = true
			w.f.Close()
			w.d.prune(dir, w.d.root) // what mkdirs made for nothing
			return fmt.Errorf("write deleted before commit: %w", storagedriver.PathNotFound(w.path))
		}
	}
	w.done = true
	err = w.f.Close()
	if logged != nil {
		for _, f := range also {
			f.done = true
			if err == nil {
				err = w.d.place(f.c, "")
			}
		}
		return err
	}
	if serr := syncEntry(g, dir, dirty); err == nil {
		err = serr
	}
	for _, f := range also {
		if err == nil {
			err = f.Publish(ctx)
		}
		f.done = true
	}
	return err
}

// log writes the record of the commit of w's bytes at p to the redo log,
// with the files also staged to show after them, when w is short and the
// log can be used: nil, nil when not.
func (w *writer) log(p string, also []*loggedFile) (*redoWrite, error) {
	if w.d.redo == nil || w.size > redoCommitMax {
		return nil, nil
	}
	levels := [][]storagedriver.Content{{{Path: p}}}
	if len(also) > 0 {
		var l []storagedriver.Content
		for _, f := range also {
			l = append(l, f.c)
		}
		levels = append(levels, l)
	}
	// The bytes read back straight into the record.
	rec, data := encodeRecord(levels, int(w.size))
	if n, err := w.f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("commit %s: %d bytes written, %d read back: %w", w.path, w.size, n, err)
	}
	return w.d.redo.write(rec, contentPaths(levels))
}
