package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

// Stamped records (storagedriver.Stamper). A record is a hard link to an
// unnamed inode of the process (O_TMPFILE in the pending tree), made anew
// once it is stampAge old: linking costs a directory entry where a
// PutContent allocates an inode, and on an ext4 without a journal each
// allocation skips over every inode freed in the last half minute, the
// main cost of a push storm. The link is made from the descriptor
// (linkat with AT_EMPTY_PATH) where the kernel lets this process do so
// (Linux 6.10 on, for a file it opened; before, with CAP_DAC_READ_SEARCH
// only), which a probe tells once per driver; else through /proc/self/fd,
// which linkat follows without that privilege, at the cost of a lookup
// through procfs for every record.

// stampAge is how long one inode serves. A record linked to it looks
// older than the storage's present time by that much plus the time the
// link took; Stamp checks the sum against storagedriver.StampSlack after
// linking.
const stampAge = storagedriver.StampSlack / 4

// stampLinks bounds the links made to one inode, below ext4's 65,000.
const stampLinks = 60000

var errSlowStamp = errors.New("stamp: no attempt linked a record young enough")

// stamps is a driver's current stamp inode. The zero value is ready.
type stamps struct {
	off  atomic.Bool // the filesystem cannot: Stamp answers ErrUnsupported
	mu   sync.Mutex
	cur  *stampInode
	byFd int // linkat(AT_EMPTY_PATH) works: 0 not probed yet, 1 yes, 2 no
}

type stampInode struct {
	fd      int
	proc    string      // /proc/self/fd/<fd>
	byFd    bool        // linked from fd with AT_EMPTY_PATH, not from proc
	mtime   time.Time   // as a Stat of a record reports it
	links   int         // made or being made
	users   int         // Stamps linking it now: fd stays open meanwhile
	retired bool        // no longer current: closed when users drops to 0
	linked  atomic.Bool // linked once: with no link left, it cannot be again
}

// Stamp links a record at p to the current stamp inode (see above).
func (d *driver) Stamp(ctx context.Context, p string) (time.Time, error) {
	if d.stamps.off.Load() {
		return time.Time{}, errors.ErrUnsupported
	}
	release, err := d.redo.fence(p)
	if err != nil {
		return time.Time{}, err
	}
	defer release()
	dst := d.full(p)
	for range retries {
		ino, err := d.stamps.take(d.pending)
		if err != nil {
			return time.Time{}, d.stamps.failed(err)
		}
		err = linkRecord(ino, dst)
		var m time.Time
		var orphan bool
		if err == nil {
			ino.linked.Store(true)
			// The inode's own mtime, not the one it was made with: a
			// touch of any record linked to it changes it.
			m, _, err = ino.stat()
		} else if notExist(err) {
			// An inode that had links and lost them all (a collector
			// deleted every record of it) cannot be linked again.
			_, nlink, serr := ino.stat()
			orphan = serr == nil && nlink == 0 && ino.linked.Load()
		}
		d.stamps.give(ino)
		switch {
		case orphan:
			d.stamps.full(ino)
			continue
		case notExist(err):
			// The directory is missing (never made, or removed by a
			// Delete meanwhile): make it and link again. A Delete can
			// also prune a parent while mkdirs climbs back down (a
			// collector removing its last records): then mkdirs says
			// not found, and the next try makes it again, as PutContent
			// does.
			if _, err := d.mkdirs(filepath.Dir(dst)); err != nil && !notExist(err) {
				return time.Time{}, err
			}
			continue
		case errors.Is(err, unix.EMLINK):
			d.stamps.full(ino)
			continue
		case err != nil:
			return time.Time{}, d.stamps.failed(err)
		}
		if age := time.Now().Sub(m); age >= 0 && age < storagedriver.StampSlack {
			return m, nil
		}
		// The process was held up between taking the inode and linking
		// it, or the inode's mtime was changed: link the record again to
		// a new one.
		d.stamps.full(ino)
	}
	return time.Time{}, fmt.Errorf("%s: %w", p, errSlowStamp)
}

// failed turns the errors that say this filesystem cannot link a stamp
// (no O_TMPFILE, no /proc, the records on another filesystem than the
// pending tree) into errors.ErrUnsupported, for good: the caller then
// writes records as files.
func (s *stamps) failed(err error) error {
	for _, e := range []error{unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL, unix.EXDEV, unix.EPERM, errNoProc} {
		if errors.Is(err, e) {
			s.off.Store(true)
			return fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
		}
	}
	return err
}

// take returns the current stamp inode, made anew when it is stampAge old
// (or the clock went back past it) or has its links; the caller links it
// and then gives it back.
func (s *stamps) take(dir string) (*stampInode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	if age := time.Now().Sub(timeOf(c)); c == nil || c.links >= stampLinks || age < 0 || age >= stampAge {
		n, err := newStampInode(dir)
		if err != nil {
			return nil, err
		}
		if s.byFd == 0 {
			s.byFd = 2
			if linkByFd(dir) {
				s.byFd = 1
			}
		}
		n.byFd = s.byFd == 1
		if c != nil {
			c.retired = true
			c.closeIdle()
		}
		s.cur, c = n, n
	}
	c.links++
	c.users++
	return c, nil
}

func timeOf(c *stampInode) time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.mtime
}

func (s *stamps) give(c *stampInode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.users--
	c.closeIdle()
}

// full retires c: the filesystem will not link it again (it has its
// links, or had some and lost them all), or its mtime is not the stamp's
// any more.
func (s *stamps) full(c *stampInode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.links = stampLinks
}

func (c *stampInode) closeIdle() {
	if c.retired && c.users == 0 {
		_ = unix.Close(c.fd)
		c.fd = -1
	}
}

// stat returns the inode's mtime and link count.
func (c *stampInode) stat() (time.Time, uint64, error) {
	var st unix.Stat_t
	if err := retryEINTR(func() error { return unix.Fstat(c.fd, &st) }); err != nil {
		return time.Time{}, 0, &fs.PathError{Op: "stat", Path: c.proc, Err: err}
	}
	return time.Unix(st.Mtim.Unix()), uint64(st.Nlink), nil
}

var errNoProc = errors.New("/proc/self/fd does not show the stamp inode")

// newStampInode makes an unnamed file in dir holding the present time.
func newStampInode(dir string) (*stampInode, error) {
	fd, err := openRetry(dir, unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	c := &stampInode{fd: fd, proc: "/proc/self/fd/" + strconv.Itoa(fd), retired: true}
	b := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	var st, via unix.Stat_t
	err = retryEINTR(func() error {
		n, err := unix.Write(fd, b)
		if err == nil && n < len(b) {
			err = fmt.Errorf("short write to %s", dir)
		}
		return err
	})
	if err == nil {
		err = retryEINTR(func() error { return unix.Fstat(fd, &st) })
	}
	if err == nil {
		if err = retryEINTR(func() error { return unix.Stat(c.proc, &via) }); err != nil || via.Ino != st.Ino || via.Dev != st.Dev {
			err = fmt.Errorf("%w (%v)", errNoProc, err)
		}
	}
	if err != nil {
		c.closeIdle()
		return nil, err
	}
	c.retired = false
	c.mtime = time.Unix(st.Mtim.Unix())
	return c, nil
}

// linkRecord links stamp inode c at dst, replacing what is there
// atomically.
func linkRecord(c *stampInode, dst string) error {
	err := c.link(dst)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	dir := filepath.Dir(dst)
	for {
		tmp := filepath.Join(dir, putTemp+randSuffix())
		if err = c.link(tmp); errors.Is(err, unix.EEXIST) {
			continue
		} else if err != nil {
			return err
		}
		err = retryEINTR(func() error { return unix.Rename(tmp, dst) })
		// A rename between two links of one inode (dst already linked
		// to this stamp) does nothing and leaves tmp: remove it in any
		// case.
		_ = unix.Unlink(tmp)
		if err != nil {
			return &fs.PathError{Op: "rename", Path: dst, Err: err}
		}
		return nil
	}
}

// link makes dst, which must not exist, a link to c.
func (c *stampInode) link(dst string) error {
	if !c.byFd {
		return linkat(c.proc, dst)
	}
	err := retryEINTR(func() error {
		return unix.Linkat(c.fd, "", unix.AT_FDCWD, dst, unix.AT_EMPTY_PATH)
	})
	if err != nil {
		return &fs.PathError{Op: "link", Path: dst, Err: err}
	}
	return nil
}

// linkByFd reports whether this process may link an unnamed file of dir
// from its descriptor (linkat with AT_EMPTY_PATH): it makes one, links
// it at a temporary name and removes that. An inode with no link left
// cannot be linked again, so the probe is a file of its own.
func linkByFd(dir string) bool {
	fd, err := openRetry(dir, unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	name := filepath.Join(dir, putTemp+randSuffix())
	err = retryEINTR(func() error { return unix.Linkat(fd, "", unix.AT_FDCWD, name, unix.AT_EMPTY_PATH) })
	if err != nil {
		return false
	}
	_ = unix.Unlink(name)
	return true
}

func linkat(src, dst string) error {
	err := retryEINTR(func() error {
		return unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	})
	if err != nil {
		return &fs.PathError{Op: "link", Path: dst, Err: err}
	}
	return nil
}
