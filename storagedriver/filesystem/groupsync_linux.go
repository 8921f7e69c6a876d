package filesystem

import (
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Group commit (Linux). A small durable write costs two fsyncs, its file's
// before the rename and its directory's after, and each fsync is a device
// flush of its own; a push storm makes ten such writes per image from
// every client at once. The driver instead waits for one syncfs(2) of
// the root's filesystem that starts after the write, shared by every
// request waiting at that moment: one flush for all of them, and one thread blocked in the kernel
// instead of one per fsync. The order stays the same (the file's content
// is durable before the rename that shows it, the rename before the
// acknowledgement), so a crash of the machine still leaves the old
// content or the new at every path.
//
// A syncfs writes all the filesystem's dirty data, its own and other
// processes', and waits for what is being written back. So one that
// takes longer than groupSlow (a large push being written, another
// program writing much) turns group commit off for groupBackoff, doubled
// up to groupBackoffMax while the next ones are slow too: meanwhile
// every write fsyncs its own file and directories, as on other systems,
// and waits for nobody else's data. A writer's commit of more than
// groupSmall bytes always fsyncs its own file.

const (
	groupSlow       = 50 * time.Millisecond
	groupBackoff    = time.Second
	groupBackoffMax = time.Minute
	groupSmall      = 1 << 20
)

// group shares syncfs calls among concurrent writers. A nil *group is
// off: use returns nil.
type group struct {
	fd   int    // the root, open for syncfs
	root string // for errors

	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // syncfs calls begun
	done    uint64 // the last call ended is the done-th
	running bool
	failed  uint64 // the last call that failed
	err     error  // its error

	offUntil atomic.Int64  // Unix nanoseconds: group commit is off before
	backoff  time.Duration // the next off period; under mu

	syncfs func(fd int) error // unix.Syncfs; tests count, slow or fail it
	now    func() time.Time   // time.Now; tests move it
}

// newGroup opens root for syncfs. It returns nil (no group commit) when
// that fails.
func newGroup(root string) *group {
	fd, err := openRetry(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	g := &group{fd: fd, root: root, syncfs: unix.Syncfs, now: time.Now, backoff: groupBackoff}
	g.cond.L = &g.mu
	return g
}

// use returns g when writes should wait for a shared syncfs now, nil when
// each should fsync its own files.
func (g *group) use() *group {
	if g == nil || g.now().UnixNano() < g.offUntil.Load() {
		return nil
	}
	return g
}

// sync returns once a syncfs that began after the call did has ended:
// everything the caller wrote before it is then durable. It starts one
// when none is running; else it waits for the running one and, since that one may have
// begun before the caller's writes, for the next, which the first waiter
// to wake starts for all the others.
func (g *group) sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.syncAfterLocked(g.started, g.done)
}

// mark is the state of g after writes that a later syncAfter makes
// durable.
type mark struct{ started, done uint64 }

// mark returns g's state now: a syncfs that begins after it covers what
// the caller wrote before it.
func (g *group) mark() mark {
	g.mu.Lock()
	defer g.mu.Unlock()
	return mark{g.started, g.done}
}

// syncAfter is sync for the writes made before m was taken: it returns at
// once when a syncfs that began after m has ended since.
func (g *group) syncAfter(m mark) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.syncAfterLocked(m.started, m.done)
}

// syncAfterLocked waits, g.mu held, until a syncfs that began after
// started syncfs calls had begun has ended; seen is how many had ended
// then.
func (g *group) syncAfterLocked(started, seen uint64) error {
	need := started + 1
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		t := g.now()
		err := retryEINTR(func() error { return g.syncfs(g.fd) })
		end := g.now()
		g.mu.Lock()
		if end.Sub(t) > groupSlow {
			g.offUntil.Store(end.Add(g.backoff).UnixNano())
			g.backoff = min(2*g.backoff, groupBackoffMax)
		} else {
			g.backoff = groupBackoff
		}
		g.running = false
		g.done = n
		if err != nil {
			g.failed, g.err = n, &fs.PathError{Op: "syncfs", Path: g.root, Err: err}
		}
		g.cond.Broadcast()
	}
	// The kernel reports a write-back error once, to the first syncfs
	// after it: when a call that ended since this one began failed, the
	// caller's data may be what failed, even if the running call began
	// before the caller's writes or a later call succeeded.
	if g.failed > seen {
		return g.err
	}
	return nil
}

// syncAll makes past deletions under root durable when group commit is
// off: a syncfs of its own, however slow.
func syncAll(root string) error {
	fd, err := openRetry(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	if err := retryEINTR(func() error { return unix.Syncfs(fd) }); err != nil {
		return &fs.PathError{Op: "syncfs", Path: root, Err: err}
	}
	return nil
}
