package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

// The redo log (Linux; the serving registry's driver, WithRedoLog).
//
// A durable small write under group commit waits for a syncfs, which
// writes every metadata block the filesystem dirtied since the last one
// (inode tables, bitmaps, directory blocks) and then flushes the device;
// a push storm waits for about ten of them per image. With the log, such a
// write (PutContent, PutContents, a staged file's Publish, the commit of
// a writer of at most redoCommitMax bytes) is first one record, written
// whole to a log file whose blocks were allocated beforehand, and made
// durable by that file's fdatasync, shared by every write waiting at that
// moment: one block or a few, then the flush. Only then are its files put
// in place, level by level, with no wait, and the write returns. About
// once a second a checkpoint makes what was put in place durable (one
// syncfs) and empties the log.
//
// After a crash of the machine, what was put in place may be lost or torn
// at any path; the records are not. The next driver to open the root
// replays every whole record in order (the same files written again) and
// empties the log. A record that did not reach the disk whole was never
// acknowledged.
//
// Replaying must not undo a later change. The changes made without the
// log (Delete, Move, a Stamp, a large commit, a write when the log is not
// in use) are fenced: while one runs, no record touching its paths is
// written (such a write goes without the log too), and it starts only
// once no record in the log touches them (a checkpoint first when one
// does). Two records touching one path are not in flight at once, so they
// are put in place in the log's order.
//
// One process at a time writes the log: the owner, which holds the lock
// file "owner" for its life. Any other driver opened on the root (the
// registry's other commands, a second registry) holds "intent" shared for
// its life and writes as it did before the log; it starts by taking "lock"
// exclusively, which the owner holds shared while it logs, and replaying
// and emptying the log. The owner checks "intent" often: when another
// driver holds it, it stops logging (its writes go without the log),
// checkpoints and lets "lock" go. It logs again only once nobody holds
// "intent". So the log holds only the owner's records, made while no
// other process wrote to the root.

const (
	redoDir       = "+redo"          // in the root
	redoFileSize  = 2 << 20          // a log file's size, allocated when it is made
	redoMaxRecord = redoFileSize / 4 // a larger write goes without the log
	redoCommitMax = 256 << 10        // a writer's commit logged up to this size
	redoPoll      = 100 * time.Millisecond
	redoRetry     = time.Second // after the log could not be taken up
	redoLockWait  = time.Minute // for the owner to let the log go
)

// redoEvery is the time between checkpoints.
const redoEvery = time.Second

const (
	redoIdle     = iota // empty and not held: the next write takes it up
	redoActive          // writes are logged
	redoDraining        // letting go: writes go without the log
)

// redoFile is one of the two log files. Records go to the current one;
// a checkpoint moves on to the other and empties the first.
type redoFile struct {
	name     string
	fd       int
	flush    *group // fdatasync of fd, shared like a syncfs
	epoch    uint64
	off      int64   // where the next record goes; 0: empty
	inflight int     // records written to it and not yet put in place
	paths    pathSet // the paths of its records

	fdatasync func(fd int) error // unix.Fdatasync; tests watch it
}

type redo struct {
	d *driver

	lockFd, intentFd int

	mu       sync.Mutex
	cond     sync.Cond
	state    int
	files    [2]*redoFile
	cur      int // index of the current file
	seq      uint64
	busy     pathSet // changes in flight without the log
	writing  pathSet // records in flight
	retryAt  time.Time
	lastCkpt time.Time
	every    time.Duration // redoEvery; tests change it
	err      error         // a failed checkpoint: the log is not used again

	ckptMu sync.Mutex // one checkpoint at a time
}

// openRedo makes d the owner of root's redo log when no other driver is
// (nil, nil when another is: d then joins as any other driver does).
func openRedo(d *driver) (*redo, error) {
	dir := filepath.Join(d.root, redoDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("filesystem: redo log: %w", err)
	}
	ownerFd, err := openRetry(filepath.Join(dir, "owner"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, fmt.Errorf("filesystem: redo log: %w", err)
	}
	if err := unix.Flock(ownerFd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		// Owned by another driver; or the filesystem has no locks, and
		// no log then (joinRedo lets it be).
		unix.Close(ownerFd)
		return nil, nil
	}
	// ownerFd stays open, and locked, for the life of the process.
	r := &redo{d: d, every: redoEvery}
	r.cond.L = &r.mu
	if r.lockFd, err = openRetry(filepath.Join(dir, "lock"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666); err != nil {
		return nil, fmt.Errorf("filesystem: redo log: %w", err)
	}
	if r.intentFd, err = openRetry(filepath.Join(dir, "intent"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666); err != nil {
		return nil, fmt.Errorf("filesystem: redo log: %w", err)
	}
	for i := range r.files {
		if r.files[i], err = openRedoFile(filepath.Join(dir, fmt.Sprintf("log.%d", i)), true); err != nil {
			return nil, err
		}
	}
	// A log left by a crash is replayed now, unless another driver holds
	// the root: it replayed when it opened, and the log is empty.
	if r.othersAbsent() && unix.Flock(r.lockFd, unix.LOCK_SH|unix.LOCK_NB) == nil {
		err := r.replay()
		_ = unix.Flock(r.lockFd, unix.LOCK_UN)
		if err != nil {
			return nil, err
		}
	} else {
		for _, f := range r.files {
			b, err := readWhole(f.name)
			if err != nil {
				return nil, fmt.Errorf("filesystem: redo log: %w", err)
			}
			if len(readRecords(b)) > 0 {
				// Not ours to replay while another driver writes, nor to
				// write over: this driver does not log.
				r.err = fmt.Errorf("%s holds records that another driver on the root did not replay", f.name)
			}
		}
	}
	return r, nil
}

// openRedoFile opens a log file; create: make it, its blocks allocated and
// durable, when it is missing or short.
func openRedoFile(name string, create bool) (*redoFile, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := openRetry(name, flags, 0o666)
	if err != nil {
		if !create && errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("filesystem: redo log: %w", &fs.PathError{Op: "open", Path: name, Err: err})
	}
	f := &redoFile{name: name, fd: fd, epoch: rand.Uint64()}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("filesystem: redo log: %w", &fs.PathError{Op: "stat", Path: name, Err: err})
	}
	if create && st.Size < redoFileSize {
		// Blocks written now, so that a record's fdatasync writes the
		// record's blocks and no metadata.
		zeros := make([]byte, 1<<20)
		for off := st.Size; off < redoFileSize && err == nil; off += int64(len(zeros)) {
			_, err = unix.Pwrite(fd, zeros[:min(int64(len(zeros)), redoFileSize-off)], off)
		}
		if err == nil {
			err = retryEINTR(func() error { return unix.Fsync(fd) })
		}
		if err == nil {
			err = syncDir(filepath.Dir(name))
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("filesystem: redo log: %s: %w", name, err)
		}
	}
	f.fdatasync = unix.Fdatasync
	f.flush = &group{fd: fd, root: name, syncfs: func(fd int) error { return f.fdatasync(fd) }, now: time.Now, backoff: groupBackoff}
	f.flush.cond.L = &f.flush.mu
	return f, nil
}

// othersAbsent reports whether no other driver holds "intent" now.
func (r *redo) othersAbsent() bool {
	if unix.Flock(r.intentFd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false
	}
	_ = unix.Flock(r.intentFd, unix.LOCK_UN)
	return true
}

// joinRedo is how a driver that does not own the log opens the root: it
// holds "intent" shared for its life (the owner stops logging), waits for
// "lock", replays what the log holds and empties it. It returns the
// descriptor of "intent", to be kept open; -1 when the root has no log and
// cannot have one made.
func joinRedo(root string) (int, error) {
	dir := filepath.Join(root, redoDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return -1, fmt.Errorf("filesystem: redo log: %w", err)
	}
	intentFd, err := openRetry(filepath.Join(dir, "intent"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return -1, fmt.Errorf("filesystem: redo log: %w", err)
	}
	fail := func(err error) (int, error) {
		unix.Close(intentFd)
		return -1, fmt.Errorf("filesystem: redo log: %w", err)
	}
	if err := retryEINTR(func() error { return unix.Flock(intentFd, unix.LOCK_SH) }); err != nil {
		if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			// No locks on this filesystem: no owner can log on it either.
			unix.Close(intentFd)
			return -1, nil
		}
		return fail(err)
	}
	lockFd, err := openRetry(filepath.Join(dir, "lock"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(lockFd)
	deadline := time.Now().Add(redoLockWait)
	for {
		err := unix.Flock(lockFd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fail(err)
		}
		if time.Now().After(deadline) {
			return fail(errors.New("the serving registry did not let the log go in time"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := &redo{d: &driver{root: root, pending: filepath.Join(root, pendingDir)}}
	for i := range r.files {
		f, err := openRedoFile(filepath.Join(dir, fmt.Sprintf("log.%d", i)), false)
		if err != nil {
			return fail(err)
		}
		r.files[i] = f
	}
	defer r.closeFiles()
	if err := r.replay(); err != nil {
		return fail(err)
	}
	return intentFd, nil
}

func (r *redo) closeFiles() {
	for _, f := range r.files {
		if f != nil {
			unix.Close(f.fd)
		}
	}
}

// replay puts in place every whole record of the log files (nil: absent),
// in order; then, when there was one, makes them durable and empties the
// files. The caller holds "lock".
func (r *redo) replay() error {
	var recs []redoRecord
	for _, f := range r.files {
		if f == nil {
			continue
		}
		b, err := readWhole(f.name)
		if err != nil {
			return fmt.Errorf("filesystem: redo log: %w", err)
		}
		recs = append(recs, readRecords(b)...)
	}
	if len(recs) == 0 {
		return nil
	}
	slices.SortFunc(recs, func(a, b redoRecord) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for _, rec := range recs {
		if err := r.d.placeLevels(rec.levels, nil); err != nil {
			return fmt.Errorf("filesystem: redo log: replay: %w", err)
		}
	}
	if err := syncAll(r.d.root); err != nil {
		return fmt.Errorf("filesystem: redo log: replay: %w", err)
	}
	for _, f := range r.files {
		if f != nil {
			if err := f.reset(); err != nil {
				return err
			}
		}
	}
	return nil
}

// reset empties f for its next use: its first record made unreadable, on
// disk, and a new epoch for the records to come.
func (f *redoFile) reset() error {
	if err := f.clear(); err != nil {
		return err
	}
	f.emptied()
	return nil
}

// clear makes f's first record unreadable, on disk.
func (f *redoFile) clear() error {
	var zero [redoHeader]byte
	_, err := unix.Pwrite(f.fd, zero[:], 0)
	if err == nil {
		err = retryEINTR(func() error { return f.fdatasync(f.fd) })
	}
	if err != nil {
		return fmt.Errorf("filesystem: redo log: %w", &fs.PathError{Op: "reset", Path: f.name, Err: err})
	}
	return nil
}

// emptied is f, cleared, made ready for records of a new epoch.
func (f *redoFile) emptied() {
	f.off, f.epoch = 0, rand.Uint64()
	f.paths.reset()
}

// redoWrite is a record in flight: it is put in place, then done.
type redoWrite struct {
	r     *redo
	f     *redoFile
	paths []string
}

// begin writes the record of levels to the log and waits for it to be
// durable. It returns nil, nil when the log is not in use for it (not
// taken up, another process on the root, a path in flight without the
// log or in another record, the record too large): the caller writes
// without the log, fenced. Otherwise the caller puts the files in place
// and calls done.
func (r *redo) begin(levels [][]storagedriver.Content) (*redoWrite, error) {
	if r == nil {
		return nil, nil
	}
	rec, _ := encodeRecord(levels, -1)
	return r.write(rec, contentPaths(levels))
}

// write is begin for rec, a record from encodeRecord of files at paths.
func (r *redo) write(rec []byte, paths []string) (*redoWrite, error) {
	if len(rec) > redoMaxRecord {
		return nil, nil
	}
	r.mu.Lock()
	if !r.usable() {
		r.mu.Unlock()
		return nil, nil
	}
	for _, p := range paths {
		if r.busy.touches(p) || r.writing.touches(p) {
			r.mu.Unlock()
			return nil, nil
		}
	}
	f := r.files[r.cur]
	if f.off+int64(len(rec)) > redoFileSize {
		// Full: the next checkpoint, due already (tend), empties it.
		r.mu.Unlock()
		return nil, nil
	}
	r.seq++
	sealRecord(rec, f.epoch, r.seq)
	// Written under r.mu, in the order of the offsets: a record's flush
	// then finds every record before it written.
	if err := pwriteAll(f.fd, rec, f.off); err != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("filesystem: redo log: %w", &fs.PathError{Op: "write", Path: f.name, Err: err})
	}
	f.off += int64(len(rec))
	f.inflight++
	for _, p := range paths {
		f.paths.add(p)
		r.writing.add(p)
	}
	r.mu.Unlock()
	w := &redoWrite{r: r, f: f, paths: paths}
	if err := f.flush.sync(); err != nil {
		w.done()
		return nil, fmt.Errorf("filesystem: redo log: %w", err)
	}
	return w, nil
}

// usable reports, r.mu held, whether records can be written now; it takes
// the log up when idle.
func (r *redo) usable() bool {
	switch {
	case r.err != nil || r.state == redoDraining:
		return false
	case r.state == redoActive:
		return true
	}
	now := time.Now()
	if now.Before(r.retryAt) {
		return false
	}
	if !r.othersAbsent() || unix.Flock(r.lockFd, unix.LOCK_SH|unix.LOCK_NB) != nil {
		r.retryAt = now.Add(redoRetry)
		return false
	}
	r.state = redoActive
	r.lastCkpt = now
	go r.tend()
	return true
}

// done ends a record put in place (or abandoned).
func (w *redoWrite) done() {
	r := w.r
	r.mu.Lock()
	for _, p := range w.paths {
		r.writing.remove(p)
	}
	if w.f.inflight--; w.f.inflight == 0 {
		r.cond.Broadcast()
	}
	r.mu.Unlock()
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// tend runs while the log is in use: it checkpoints about every redoEvery,
// lets the log go when another driver wants the root, and when nothing was
// logged since the last checkpoint.
func (r *redo) tend() {
	for {
		time.Sleep(redoPoll)
		others := !r.othersAbsent()
		r.mu.Lock()
		due := time.Since(r.lastCkpt) >= r.every || r.files[r.cur].off > redoFileSize/2
		idle := r.files[0].off == 0 && r.files[1].off == 0
		if others || (idle && due) || r.err != nil {
			r.state = redoDraining
		}
		draining := r.state == redoDraining
		r.mu.Unlock()
		if draining {
			// Both files emptied: the current one, then the other,
			// which the first checkpoint made current.
			err := r.checkpoint()
			if err == nil {
				err = r.checkpoint()
			}
			r.mu.Lock()
			if err == nil && r.files[0].off == 0 && r.files[1].off == 0 {
				_ = unix.Flock(r.lockFd, unix.LOCK_UN)
				r.state = redoIdle
				// The files' path sets keep their maps' room from one
				// checkpoint to the next (reset), about as many paths as
				// a file holds: 1.1 MB of the heap for good after the
				// catalog's set-up, in regbench's heap profiles. Idle,
				// the room is given back; the next records grow new maps.
				r.files[0].paths, r.files[1].paths = pathSet{}, pathSet{}
				r.retryAt = time.Now().Add(redoPoll)
				r.mu.Unlock()
				return
			}
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
			continue // again: the log is held until it is empty
		}
		if due {
			_ = r.checkpoint()
		}
	}
}

// checkpoint makes the records of the current file durable in place and
// empties it: the other file becomes current, the records in flight in
// the first are waited for, one syncfs, then the first is reset.
func (r *redo) checkpoint() error {
	r.ckptMu.Lock()
	defer r.ckptMu.Unlock()
	r.mu.Lock()
	f := r.files[r.cur]
	r.lastCkpt = time.Now()
	if f.off == 0 {
		r.mu.Unlock()
		return nil
	}
	r.cur = 1 - r.cur
	for f.inflight > 0 {
		r.cond.Wait()
	}
	r.mu.Unlock()
	var err error
	if g := r.d.group; g != nil {
		err = g.sync()
	} else {
		err = syncAll(r.d.root)
	}
	// Cleared outside r.mu: no record goes to f while its offset is not 0.
	if err == nil {
		err = f.clear()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		f.emptied()
	} else {
		// The records stay: a crash replays them. The log is not used
		// again by this process.
		r.err = err
	}
	r.cond.Broadcast()
	return err
}

// fence registers a change to paths made without the log and returns once
// no record in the log touches them: while it runs, no record touching
// them is written. release ends it.
func (r *redo) fence(paths ...string) (release func(), err error) {
	if r == nil {
		return func() {}, nil
	}
	r.mu.Lock()
	for _, p := range paths {
		r.busy.add(p)
	}
	release = func() {
		r.mu.Lock()
		for _, p := range paths {
			r.busy.remove(p)
		}
		r.mu.Unlock()
	}
	for tries := 0; r.logged(paths); tries++ {
		if r.err != nil || tries > 3 {
			err := r.err
			r.mu.Unlock()
			release()
			if err == nil {
				err = errors.New("checkpoints did not empty the log")
			}
			return nil, fmt.Errorf("filesystem: redo log: %w", err)
		}
		r.mu.Unlock()
		_ = r.checkpoint()
		r.mu.Lock()
	}
	r.mu.Unlock()
	return release, nil
}

// logged reports, r.mu held, whether a record in the log touches one of
// paths.
func (r *redo) logged(paths []string) bool {
	for _, f := range r.files {
		if f.paths.empty() {
			continue
		}
		for _, p := range paths {
			if f.paths.touches(p) {
				return true
			}
		}
	}
	return false
}
