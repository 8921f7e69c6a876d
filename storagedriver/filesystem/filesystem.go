package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-registry/berth/storagedriver"
)

var (
	_ storagedriver.Driver        = (*Driver)(nil)
	_ storagedriver.Walker        = (*Driver)(nil)
	_ storagedriver.Opener        = (*Driver)(nil)
	_ storagedriver.PendingPurger = (*Driver)(nil)
	_ storagedriver.Stamper       = (*Driver)(nil)
)

// The driver's own names hold a character that CheckPath refuses, so no
// valid path reaches them and List and Walk skip them. Temporary names do not
// embed the file's name, which could then exceed the 255-byte limit.
const (
	pendingDir  = "+pending" // the tree of pending writes, in the root
	putTemp     = ".put~"    // PutContent's file before its rename
	sessionTemp = ".w~"      // a FileWriter's file while it is open
	claimedTemp = ".r~"      // a pending write while a FileWriter continues it
)

// retries bounds the attempts of an operation that lost a race with a
// concurrent Delete or Move removing the directory it was creating a file in.
const retries = 10

// Driver stores content in a local directory. It is safe for concurrent use,
// also by several processes sharing the directory. It is the backend behind
// a storagedriver.Base, which checks the paths.
type Driver struct {
	*storagedriver.Base
	storagedriver.BaseWalker
	storagedriver.BaseOpener
	storagedriver.BasePurger
	storagedriver.BaseActivity
	storagedriver.BaseStamper
	storagedriver.BaseBatcher
	storagedriver.BaseStager
	be *driver
}

var _ storagedriver.PendingStarter = (*Driver)(nil)

// StartPending (storagedriver.PendingStarter) checks p and ctx, then makes
// the empty pending write of p.
func (d *Driver) StartPending(ctx context.Context, p string) error {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return err
	}
	return fileErr(p, d.be.StartPending(ctx, p))
}

// driver is the backend. Its methods are called through Driver's Base, with
// valid paths and a live context.
type driver struct {
	root    string // absolute and clean
	pending string // root/+pending
	stamps  stamps // the inode records are linked to (stamp_linux.go)
	group   *group // group commit (groupsync_linux.go); nil: off
	redo    *redo  // the redo log this driver owns (redo_linux.go); nil: none
	intent  int    // the redo log's "intent", held shared: the descriptor, or -1
}

// Option is an option of New.
type Option func(*options)

type options struct{ redo bool }

// WithRedoLog makes the driver the owner of the root's redo log, when no
// other driver is (redo_linux.go): its small durable writes then wait for
// a shared flush of one log file instead of a syncfs. Meant for the
// serving registry, the one long-lived writer of a root; a driver without
// it, opened beside, makes the owner stop logging while it lives.
func WithRedoLog() Option { return func(o *options) { o.redo = true } }

// New returns a driver storing under root, which it creates if needed.
func New(root string, opts ...Option) (*Driver, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if root == "" {
		return nil, errors.New("filesystem: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem: %w", err)
	}
	pending := filepath.Join(abs, pendingDir)
	if err := os.MkdirAll(pending, 0o777); err != nil {
		return nil, fmt.Errorf("filesystem: %w", err)
	}
	be := &driver{root: abs, pending: pending, group: newGroup(abs), intent: -1}
	if o.redo {
		if be.redo, err = openRedo(be); err != nil {
			return nil, err
		}
	}
	if be.redo == nil {
		// A log left by the owner, or by a crash, is replayed before this
		// driver writes; the owner logs no more while it lives.
		if be.intent, err = joinRedo(abs); err != nil {
			return nil, err
		}
	}
	b := storagedriver.NewBase(be)
	return &Driver{Base: b, BaseWalker: b.Walker(be), BaseOpener: b.Opener(be), BasePurger: b.Purger(be), BaseActivity: b.Activity(be), BaseStamper: b.Stamper(be), BaseBatcher: b.Batcher(be), BaseStager: b.Stager(be), be: be}, nil
}

// Name returns "filesystem".
func (d *driver) Name() string { return "filesystem" }

// GetContent returns the content at p. ErrPathNotFound when no file is there.
func (d *driver) GetContent(ctx context.Context, p string) ([]byte, error) {
	b, err := readWhole(d.full(p))
	if err != nil {
		return nil, fileErr(p, err)
	}
	return b, nil
}

// PutContent replaces the content at p atomically and durably: a temporary
// file in the same directory is written, fsynced and renamed over p, then the
// directory (and those it had to create above it) is fsynced. Under a
// storagedriver.Volatile context it skips the fsyncs: still atomic, not
// durable.
func (d *driver) PutContent(ctx context.Context, p string, content []byte) error {
	durable := !storagedriver.IsVolatile(ctx)
	if durable {
		c := storagedriver.Content{Path: p, Data: content}
		w, err := d.redo.begin([][]storagedriver.Content{{c}})
		if err != nil {
			return err
		}
		if w != nil {
			defer w.done()
			return d.place(c, "")
		}
	}
	release, err := d.redo.fence(p)
	if err != nil {
		return err
	}
	defer release()
	dst := d.full(p)
	dir := filepath.Dir(dst)
	var g *group
	if durable {
		g = d.group.use()
	}
	var dirty []string
	for range retries {
		if err = d.putOnce(dir, dst, content, durable, g, &dirty); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err == nil && durable {
		err = syncEntry(g, dir, dirty)
	}
	return err
}

// syncEntry makes the new entry in dir durable, with the directories
// mkdirs made for it: through g's shared syncfs when it is not nil.
func syncEntry(g *group, dir string, dirty []string) error {
	if g != nil {
		return g.sync()
	}
	return syncDirs(dir, dirty)
}

func (d *driver) putOnce(dir, dst string, content []byte, durable bool, g *group, dirty *[]string) error {
	made, err := d.mkdirs(dir)
	*dirty = append(*dirty, made...)
	if err != nil {
		return err
	}
	var tmp string
	for {
		tmp = filepath.Join(dir, putTemp+randSuffix())
		if err = writeNew(tmp, content, durable && g == nil); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err == nil && g != nil {
		// The content before the rename that shows it, as writeNew's
		// own fsync would have it.
		if err = g.sync(); err != nil {
			_ = os.Remove(tmp)
		}
	}
	if err != nil {
		return err
	}
	if err = rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// Reader returns the file at p positioned at offset, as an *os.File.
// ErrPathNotFound when no file is there; ErrInvalidOffset when offset is
// negative or past the end.
func (d *driver) Reader(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%s at %d: %w", p, offset, storagedriver.ErrInvalidOffset)
	}
	f, size, err := d.open(p)
	if err != nil {
		return nil, err
	}
	if offset > size {
		f.Close()
		return nil, fmt.Errorf("%s at %d of %d: %w", p, offset, size, storagedriver.ErrInvalidOffset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Open returns the file at p as an *os.File. ErrPathNotFound when no file is
// there.
func (d *driver) Open(ctx context.Context, p string) (io.ReadSeekCloser, error) {
	f, _, err := d.open(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (d *driver) open(p string) (*os.File, int64, error) {
	f, err := openFile(d.full(p), os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, fileErr(p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("file %w", storagedriver.PathNotFound(p))
	}
	return f, fi.Size(), nil
}

// Stat describes the file or directory at p. ErrPathNotFound when nothing is
// there. A directory has size 0 and its own modification time.
func (d *driver) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	fi, err := os.Stat(d.full(p))
	if err != nil {
		if notExist(err) {
			return storagedriver.FileInfo{}, storagedriver.PathNotFound(p)
		}
		return storagedriver.FileInfo{}, err
	}
	return fileInfo(p, fi), nil
}

// List returns the sorted full paths of the children of directory p, leaving
// out names that are not valid path segments. ErrPathNotFound when p is not a
// directory.
func (d *driver) List(ctx context.Context, p string) ([]string, error) {
	// Names only: os.ReadDir's entries cost an allocation each, and a
	// listing of the repository index holds 10,000 of them at once.
	f, err := openFile(d.full(p), os.O_RDONLY, 0)
	if err == nil {
		var names []string
		names, err = f.Readdirnames(-1)
		f.Close()
		if err == nil {
			slices.Sort(names) // so the full paths are too
			out := names[:0]
			for _, n := range names {
				if validName(n) {
					out = append(out, join(p, n))
				}
			}
			return out, nil
		}
	}
	if notExist(err) {
		return nil, fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
	}
	return nil, err
}

// Move renames the file src to dst, replacing a file at dst, and fsyncs dst's
// directory. ErrPathNotFound when no file is at src (a directory cannot be
// moved, as in an object store).
func (d *driver) Move(ctx context.Context, src, dst string) error {
	release, err := d.redo.fence(src, dst)
	if err != nil {
		return err
	}
	defer release()
	from, to := d.full(src), d.full(dst)
	fi, err := os.Stat(from)
	if err != nil {
		if notExist(err) {
			return fmt.Errorf("move source %w", storagedriver.PathNotFound(src))
		}
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("move source %w", storagedriver.PathNotFound(src))
	}
	if src == dst {
		return nil
	}
	dir := filepath.Dir(to)
	var dirty []string
	for i := 0; ; i++ {
		var made []string
		made, err = d.mkdirs(dir)
		dirty = append(dirty, made...)
		if err == nil {
			err = os.Rename(from, to)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || i == retries {
			return err
		}
		if _, serr := os.Lstat(from); notExist(serr) {
			return fmt.Errorf("move source %w", storagedriver.PathNotFound(src))
		}
	}
	if err := syncEntry(d.group.use(), dir, dirty); err != nil {
		return err
	}
	d.prune(filepath.Dir(from), d.root)
	return nil
}

// Delete removes p and everything below it, discards the pending writes
// there, and removes the directories left empty (in +pending, those above
// p stay until PurgePending: see doc.go). ErrPathNotFound when nothing
// was committed at p.
func (d *driver) Delete(ctx context.Context, p string) error {
	release, err := d.redo.fence(p)
	if err != nil {
		return err
	}
	defer release()
	pend := d.pendingPath(p)
	// Not a directory: a pending write above p, which holds none below it.
	if err := os.RemoveAll(pend); err != nil && !notExist(err) {
		return err
	}
	if err := os.Remove(claimedPath(pend)); err != nil && !notExist(err) {
		return err
	}
	full := d.full(p)
	if _, err := os.Lstat(full); err != nil {
		if notExist(err) {
			return storagedriver.PathNotFound(p)
		}
		return err
	}
	if err := os.RemoveAll(full); err != nil {
		return err
	}
	d.prune(filepath.Dir(full), d.root)
	return nil
}

var _ storagedriver.Syncer = (*Driver)(nil)

// Sync (storagedriver.Syncer) makes the deletions made so far durable:
// Delete removes without waiting for the disk. It waits for a shared
// syncfs when group commit is on, else makes one of its own (Linux).
func (d *Driver) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if g := d.be.group.use(); g != nil {
		return g.sync()
	}
	return syncAll(d.be.root)
}

// Walk calls fn for every file and directory below p in the order of
// storagedriver.Walker. Directories removed while the walk runs are skipped.
func (d *driver) Walk(ctx context.Context, p string, fn storagedriver.WalkFunc) error {
	fi, err := os.Stat(d.full(p))
	if err != nil || !fi.IsDir() {
		if err == nil || notExist(err) {
			return fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
		}
		return err
	}
	return d.walk(ctx, p, fn)
}

func (d *driver) walk(ctx context.Context, p string, fn storagedriver.WalkFunc) error {
	entries, err := d.walkEntries(p)
	if err != nil {
		if notExist(err) {
			return nil
		}
		return err
	}
	for _, fi := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(fi)
		if errors.Is(err, storagedriver.ErrSkipDir) {
			continue // for a file, as for a directory, go on with the next entry
		}
		if err != nil {
			return err
		}
		if fi.IsDir {
			if err := d.walk(ctx, fi.Path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkEntries describes the children of directory p sorted as Walk visits
// them: by name, a directory's name followed by "/", the order of an object
// store's flat listing.
func (d *driver) walkEntries(p string) ([]storagedriver.FileInfo, error) {
	dir := d.full(p)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]storagedriver.FileInfo, 0, len(entries))
	for _, e := range entries {
		if !validName(e.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name())) // follows a symlink, as Stat does
		if err != nil {
			if notExist(err) {
				continue // removed since the directory was read
			}
			return nil, err
		}
		out = append(out, fileInfo(join(p, e.Name()), fi))
	}
	slices.SortFunc(out, func(a, b storagedriver.FileInfo) int { return strings.Compare(walkKey(a), walkKey(b)) })
	return out, nil
}

func walkKey(fi storagedriver.FileInfo) string {
	if fi.IsDir {
		return fi.Path + "/"
	}
	return fi.Path
}

// full maps a checked path to the file system.
func (d *driver) full(p string) string {
	if p == "/" {
		return d.root
	}
	return d.root + filepath.FromSlash(p)
}

// pendingPath is where the pending write of checked path p is kept.
func (d *driver) pendingPath(p string) string {
	return d.pending + filepath.FromSlash(p)
}

// validName reports whether a directory entry can be a path segment; the
// driver's own files cannot.
func validName(name string) bool {
	return storagedriver.CheckPath("/"+name) == nil
}

func fileInfo(p string, fi os.FileInfo) storagedriver.FileInfo {
	out := storagedriver.FileInfo{Path: p, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !fi.IsDir() {
		out.Size = fi.Size()
	}
	return out
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
