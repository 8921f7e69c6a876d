package filesystem

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/storagedriver"
)

var _ storagedriver.Batcher = (*Driver)(nil)

// staged is a file of a PutContents written to its temporary name.
type staged struct {
	c   storagedriver.Content
	tmp string // "" once renamed or removed
	dst string
}

// PutContents (storagedriver.Batcher) writes every file's content to a
// temporary file beside its path, waits for one shared syncfs, then renames
// the files of each level into place and waits for one more syncfs before
// the next level: the order PutContent's fsyncs keep for each file, the
// content durable before the rename that shows it, in 1 + levels waits for
// them all. It needs group commit: errors.ErrUnsupported when that is off
// now, or ctx is Volatile (nothing to wait for then).
func (d *driver) PutContents(ctx context.Context, levels ...[]storagedriver.Content) error {
	if storagedriver.IsVolatile(ctx) {
		return errors.ErrUnsupported
	}
	w, err := d.redo.begin(levels)
	if err != nil {
		return err
	}
	if w != nil {
		defer w.done()
		return d.placeLevels(levels, nil)
	}
	g := d.group.use()
	if g == nil {
		return errors.ErrUnsupported
	}
	release, err := d.redo.fence(contentPaths(levels)...)
	if err != nil {
		return err
	}
	defer release()
	var all [][]staged
	defer func() {
		for _, level := range all {
			for _, s := range level {
				d.unstage(s.tmp)
			}
		}
	}()
	for _, level := range levels {
		var sl []staged
		for _, c := range level {
			dst := d.full(c.Path)
			tmp, err := d.stage(filepath.Dir(dst), c.Data)
			if err != nil {
				return err
			}
			sl = append(sl, staged{c: c, tmp: tmp, dst: dst})
		}
		if len(sl) > 0 {
			all = append(all, sl)
		}
	}
	if len(all) == 0 {
		return nil
	}
	if err := g.sync(); err != nil {
		return err
	}
	for _, level := range all {
		for i := range level {
			s := &level[i]
			err := rename(s.tmp, s.dst)
			if errors.Is(err, fs.ErrNotExist) {
				// A Delete or Move took the directory, and the temporary
				// file with it: this file is written on its own, durable
				// before the next level as the others of its level are.
				_ = os.Remove(s.tmp)
				err = d.PutContent(ctx, s.c.Path, s.c.Data)
			}
			if err != nil {
				return err
			}
			s.tmp = ""
		}
		if err := g.sync(); err != nil {
			return err
		}
	}
	return nil
}

// stage writes content, not synced, to a new temporary file in dir, which
// it creates if needed, and returns the file's name.
func (d *driver) stage(dir string, content []byte) (string, error) {
	var err error
	for range retries {
		if _, err = d.mkdirs(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", err
		}
		for {
			tmp := filepath.Join(dir, putTemp+randSuffix())
			err = writeNew(tmp, content, false)
			if err == nil {
				return tmp, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				break
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", err
}

var _ storagedriver.Stager = (*Driver)(nil)

// Stage (storagedriver.Stager) writes content to a temporary file beside
// p's path, not synced; Publish waits for a syncfs that began after it
// (none when one has ended since, as a writer's commit in between makes),
// renames it into place and waits for one more. errors.ErrUnsupported
// when group commit is off now or ctx is Volatile.
func (d *driver) Stage(ctx context.Context, p string, content []byte) (storagedriver.Staged, error) {
	if storagedriver.IsVolatile(ctx) {
		return nil, errors.ErrUnsupported
	}
	if d.redo != nil {
		// Written at Publish, with the log or, when it cannot be used
		// then, by PutContent.
		return &loggedFile{d: d, c: storagedriver.Content{Path: p, Data: content}}, nil
	}
	g := d.group.use()
	if g == nil {
		return nil, errors.ErrUnsupported
	}
	dst := d.full(p)
	tmp, err := d.stage(filepath.Dir(dst), content)
	if err != nil {
		return nil, err
	}
	return &stagedFile{d: d, g: g, m: g.mark(), s: staged{c: storagedriver.Content{Path: p, Data: content}, tmp: tmp, dst: dst}}, nil
}

type stagedFile struct {
	d *driver
	g *group
	m mark // taken after the content was written
	s staged
}

func (f *stagedFile) Publish(ctx context.Context) error {
	if f.s.tmp == "" {
		return errors.New("filesystem: staged file published or discarded already")
	}
	defer f.Discard()
	if err := f.g.syncAfter(f.m); err != nil {
		return err
	}
	err := rename(f.s.tmp, f.s.dst)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory went, the temporary file with it (PutContents).
		_ = os.Remove(f.s.tmp)
		f.s.tmp = ""
		return f.d.PutContent(ctx, f.s.c.Path, f.s.c.Data)
	}
	if err != nil {
		return err
	}
	f.s.tmp = ""
	return f.g.sync()
}

func (f *stagedFile) Discard() {
	f.d.unstage(f.s.tmp)
	f.s.tmp = ""
}

// unstage removes tmp, a temporary file not renamed ("": none), and the
// directories made for it that are left empty.
func (d *driver) unstage(tmp string) {
	if tmp == "" {
		return
	}
	_ = os.Remove(tmp)
	d.prune(filepath.Dir(tmp), d.root)
}

// loggedFile is a file staged by the owner of the redo log: nothing is
// written before Publish.
type loggedFile struct {
	d    *driver
	c    storagedriver.Content
	done bool
}

func (f *loggedFile) Publish(ctx context.Context) error {
	if f.done {
		return nil // published with a commit (CommitToWith), or discarded
	}
	f.done = true
	return f.d.PutContent(ctx, f.c.Path, f.c.Data)
}

func (f *loggedFile) Discard() { f.done = true }
