package inmemory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var (
	_ storagedriver.Driver = (*Driver)(nil)
	_ storagedriver.Walker = (*Driver)(nil)
	_ storagedriver.Opener = (*Driver)(nil)
)

// Driver is the in-memory storage driver: its backend behind a
// storagedriver.Base, which checks the paths. The zero value is not usable;
// call New.
type Driver struct {
	*storagedriver.Base
	storagedriver.BaseWalker
	storagedriver.BaseOpener
}

// driver is the backend. Its methods are called through Driver's Base, with
// valid paths and a live context.
type driver struct {
	mu   sync.RWMutex
	root *node
	// pending holds the buffers of closed, uncommitted writes by path.
	pending map[string][]byte
	// open holds the writers between Writer and Commit, Cancel or Close, so
	// that Delete can discard their writes too.
	open map[*writer]struct{}
}

// node is a file (children == nil) or a directory.
type node struct {
	children map[string]*node
	data     []byte
	mod      time.Time
}

func (n *node) isDir() bool { return n.children != nil }

// New returns an empty driver.
func New() *Driver {
	be := &driver{
		root:    &node{children: map[string]*node{}, mod: time.Now()},
		pending: map[string][]byte{},
		open:    map[*writer]struct{}{},
	}
	b := storagedriver.NewBase(be)
	return &Driver{Base: b, BaseWalker: b.Walker(be), BaseOpener: b.Opener(be)}
}

// Name returns "inmemory".
func (d *driver) Name() string { return "inmemory" }

// GetContent returns a copy of the content at p. ErrPathNotFound when no file
// is there.
func (d *driver) GetContent(ctx context.Context, p string) ([]byte, error) {
	data, err := d.file(ctx, p)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(data), nil
}

// PutContent stores a copy of content at p, replacing what was there.
func (d *driver) PutContent(ctx context.Context, p string, content []byte) error {
	data := bytes.Clone(content)
	if data == nil {
		data = []byte{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.put(p, data)
}

// Reader streams the content at p from offset. ErrPathNotFound when no file is
// there; ErrInvalidOffset when offset is negative or past the end.
func (d *driver) Reader(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	data, err := d.file(ctx, p)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > int64(len(data)) {
		return nil, fmt.Errorf("%s at %d: %w", p, offset, storagedriver.ErrInvalidOffset)
	}
	return io.NopCloser(bytes.NewReader(data[offset:])), nil
}

// Open returns a seekable reader of the content at p. ErrPathNotFound when no
// file is there.
func (d *driver) Open(ctx context.Context, p string) (io.ReadSeekCloser, error) {
	data, err := d.file(ctx, p)
	if err != nil {
		return nil, err
	}
	return nopSeekCloser{bytes.NewReader(data)}, nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

// Stat describes the file or directory at p. ErrPathNotFound when nothing is
// there.
func (d *driver) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := d.lookup(p)
	if n == nil {
		return storagedriver.FileInfo{}, storagedriver.PathNotFound(p)
	}
	return info(p, n), nil
}

// List returns the sorted full paths of the children of directory p.
// ErrPathNotFound when p is not a directory.
func (d *driver) List(ctx context.Context, p string) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := d.lookup(p)
	if n == nil || !n.isDir() {
		return nil, fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
	}
	out := make([]string, 0, len(n.children))
	for name := range n.children {
		out = append(out, join(p, name))
	}
	slices.Sort(out)
	return out, nil
}

// Move renames the file src to dst, replacing a file at dst. ErrPathNotFound
// when no file is at src (a directory cannot be moved).
func (d *driver) Move(ctx context.Context, src, dst string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.lookup(src)
	if n == nil || n.isDir() {
		return fmt.Errorf("move source %w", storagedriver.PathNotFound(src))
	}
	if src == dst {
		return nil
	}
	if err := d.canPut(dst); err != nil {
		return err
	}
	d.remove(src)
	return d.put(dst, n.data)
}

// Delete removes p and everything below it, and discards the pending writes
// there. ErrPathNotFound when nothing was committed at p.
func (d *driver) Delete(ctx context.Context, p string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.pending {
		if under(k, p) {
			delete(d.pending, k)
		}
	}
	for w := range d.open {
		if under(w.path, p) {
			w.discarded = true
			delete(d.open, w)
		}
	}
	if d.lookup(p) == nil {
		return storagedriver.PathNotFound(p)
	}
	d.remove(p)
	return nil
}

// Walk calls fn for every file and directory below p in the order of
// storagedriver.Walker. The driver is not locked while fn runs, so fn may
// use it.
func (d *driver) Walk(ctx context.Context, p string, fn storagedriver.WalkFunc) error {
	entries, ok := d.walkEntries(p)
	if !ok {
		return fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
	}
	return d.walk(ctx, entries, fn)
}

func (d *driver) walk(ctx context.Context, entries []storagedriver.FileInfo, fn storagedriver.WalkFunc) error {
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
		if !fi.IsDir {
			continue
		}
		// A directory removed since it was listed has nothing left to walk.
		if children, ok := d.walkEntries(fi.Path); ok {
			if err := d.walk(ctx, children, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkEntries describes the children of directory p, sorted as Walk visits
// them: by name, a directory's name followed by "/".
func (d *driver) walkEntries(p string) ([]storagedriver.FileInfo, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := d.lookup(p)
	if n == nil || !n.isDir() {
		return nil, false
	}
	out := make([]storagedriver.FileInfo, 0, len(n.children))
	for name, c := range n.children {
		out = append(out, info(join(p, name), c))
	}
	slices.SortFunc(out, func(a, b storagedriver.FileInfo) int { return strings.Compare(walkKey(a), walkKey(b)) })
	return out, true
}

func walkKey(fi storagedriver.FileInfo) string {
	if fi.IsDir {
		return fi.Path + "/"
	}
	return fi.Path
}

// file returns the committed content at p, which callers must not modify.
func (d *driver) file(ctx context.Context, p string) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := d.lookup(p)
	if n == nil || n.isDir() {
		return nil, fmt.Errorf("file %w", storagedriver.PathNotFound(p))
	}
	return n.data, nil
}

// lookup returns the node at p or nil. d.mu must be held.
func (d *driver) lookup(p string) *node {
	n := d.root
	for seg := range segments(p) {
		if !n.isDir() {
			return nil
		}
		if n = n.children[seg]; n == nil {
			return nil
		}
	}
	return n
}

// canPut reports why a file cannot be stored at p: an ancestor is a file or
// p is a directory. d.mu must be held.
func (d *driver) canPut(p string) error {
	n := d.root
	for seg := range segments(p) {
		if !n.isDir() {
			return fmt.Errorf("%s: a parent is a file", p)
		}
		if n = n.children[seg]; n == nil {
			return nil
		}
	}
	if n.isDir() {
		return fmt.Errorf("%s: is a directory", p)
	}
	return nil
}

// put stores data, which it now owns, as the file at p, creating parents.
// d.mu must be held for writing.
func (d *driver) put(p string, data []byte) error {
	if err := d.canPut(p); err != nil {
		return err
	}
	now := time.Now()
	n := d.root
	dir, base := splitPath(p)
	for seg := range segments(dir) {
		n.mod = now
		c := n.children[seg]
		if c == nil {
			c = &node{children: map[string]*node{}}
			n.children[seg] = c
		}
		n = c
	}
	n.mod = now
	n.children[base] = &node{data: data, mod: now}
	return nil
}

// remove unlinks the node at p, which exists, and the directories that it
// leaves empty. d.mu must be held for writing.
func (d *driver) remove(p string) {
	var chain []*node // the directories from the root to p's parent
	n := d.root
	for seg := range segments(p) {
		chain = append(chain, n)
		n = n.children[seg]
	}
	segs := strings.Split(p[1:], "/")
	for i := len(chain) - 1; i >= 0; i-- {
		delete(chain[i].children, segs[i])
		if i == 0 || len(chain[i].children) > 0 {
			break
		}
	}
}

func info(p string, n *node) storagedriver.FileInfo {
	return storagedriver.FileInfo{Path: p, Size: int64(len(n.data)), ModTime: n.mod, IsDir: n.isDir()}
}

// segments yields the segments of a valid path; none for "/".
func segments(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if p == "/" {
			return
		}
		for s := range strings.SplitSeq(p[1:], "/") {
			if !yield(s) {
				return
			}
		}
	}
}

// splitPath splits a valid file path into its parent directory and name.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// under reports whether k is p or below it.
func under(k, p string) bool {
	return k == p || strings.HasPrefix(k, p+"/")
}
