package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/iox"
)

// archiveSource is an image archive opened for Load: an OCI layout or a
// docker-archive, as a directory, or as a tar whose files were staged in
// the store's ingest area. Names are clean, relative, slash-separated.
type archiveSource interface {
	open(name string) (io.ReadCloser, error)
	exists(name string) bool
	close() error
}

// stagedSource is what a staged tar can do besides: it knows each file's
// digest already, and can move a file into the store without copying it.
type stagedSource interface {
	digestOf(name string) (digest.Digest, int64, bool)
	// publishAs moves the file name into the store as blob d when its
	// content is d; it reports whether it did.
	publishAs(s *store.Store, name string, d digest.Digest) (bool, error)
}

// dirSource reads an archive unpacked in a directory. It goes through an
// os.Root, so that a symlink in it cannot make Load read outside.
type dirSource struct{ root *os.Root }

func openDirSource(dir string) (*dirSource, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirSource{root: r}, nil
}

func (d *dirSource) open(name string) (io.ReadCloser, error) {
	// Non-blocking: a FIFO planted in the directory must not hang Load.
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if layer.IsEscape(err) {
			return nil, layer.Unsafef("archive file %q: through a symlink leading outside the directory", name)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("archive file %q: not a regular file: %w", name, errdefs.ErrInvalid)
	}
	return f, nil
}

func (d *dirSource) exists(name string) bool {
	fi, err := d.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (d *dirSource) close() error { return d.root.Close() }

// tarSource is a tar archive read once, front to back, whatever the order
// of its entries: each regular file is written to a staging directory
// under ingest/, named by its sha256, and hashed on the way.
type tarSource struct {
	dir   string
	lock  *os.File
	files map[string]stagedFile
	links map[string]string // symlink → target, as written
	hard  map[string]string // hardlink → target
	used  map[digest.Digest]bool
}

type stagedFile struct {
	digest digest.Digest
	size   int64
}

// stageTar reads the tar r (uncompressed) into a new staging directory.
func stageTar(ctx context.Context, s *store.Store, r io.Reader, lim layer.Limits) (*tarSource, error) {
	lim = lim.WithDefaults()
	dir, err := os.MkdirTemp(s.Path(store.IngestDir), "load-")
	if err != nil {
		return nil, err
	}
	t := &tarSource{dir: dir, files: map[string]stagedFile{}, links: map[string]string{},
		hard: map[string]string{}, used: map[digest.Digest]bool{}}
	// Locked, so that a concurrent Prune leaves it alone.
	if t.lock, err = os.Open(dir); err != nil || !store.TryLockFile(t.lock) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("staging %s: cannot lock it: %v", dir, err)
	}
	if err := t.read(ctx, r, lim); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *tarSource) read(ctx context.Context, r io.Reader, lim layer.Limits) error {
	tr := tar.NewReader(r)
	var total int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return fmt.Errorf("archive: empty, or not a tar: %w", errdefs.ErrInvalid)
			}
			return nil
		}
		if err != nil {
			if n > 0 { // a tar, damaged or cut short
				return fmt.Errorf("archive damaged after %d entries: %v: %w", n, err, errdefs.ErrCorrupt)
			}
			return fmt.Errorf("archive: %v: %w", err, errdefs.ErrInvalid)
		}
		if n >= lim.MaxEntries {
			return layer.Unsafef("archive: more than %d entries", lim.MaxEntries)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := layer.CleanEntryName(hdr.Name)
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
			if total += hdr.Size; hdr.Size < 0 || total > lim.MaxBytes {
				return layer.Unsafef("archive: entry %q: more than the size limit of %d bytes", hdr.Name, lim.MaxBytes)
			}
			f, err := t.stage(ctx, tr)
			if err != nil {
				return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
			}
			t.files[name] = f
		case tar.TypeSymlink:
			t.links[name] = hdr.Linkname
		case tar.TypeLink:
			target, err := layer.CleanEntryName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("archive: hardlink %q: %w", hdr.Name, err)
			}
			t.hard[name] = target
		}
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (t *tarSource) stage(ctx context.Context, r io.Reader) (stagedFile, error) {
	tmp, err := os.CreateTemp(t.dir, ".part-*")
	if err != nil {
		return stagedFile{}, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()
	h := digest.SHA256.Digester()
	var readErr error
	cr := iox.ContextReader(ctx, r)
	n, err := io.Copy(io.MultiWriter(tmp, h.Hash()), readerFunc(func(p []byte) (int, error) {
		n, err := cr.Read(p)
		if err != nil && err != io.EOF {
			readErr = err
		}
		return n, err
	}))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if readErr != nil && ctx.Err() == nil { // the archive's bytes, not the disk
			return stagedFile{}, fmt.Errorf("damaged or cut short: %v: %w", readErr, errdefs.ErrCorrupt)
		}
		return stagedFile{}, err
	}
	if err := tmp.Sync(); err != nil {
		return stagedFile{}, err
	}
	f := stagedFile{digest: h.Digest(), size: n}
	if err := os.Rename(tmp.Name(), filepath.Join(t.dir, f.digest.Encoded())); err != nil {
		return stagedFile{}, err
	}
	return f, nil
}

// resolve follows hardlinks and symlinks (inside the archive only) to a
// staged file.
func (t *tarSource) resolve(name string) (stagedFile, bool) {
	for range 40 {
		if f, ok := t.files[name]; ok {
			return f, true
		}
		if target, ok := t.hard[name]; ok {
			name = target
			continue
		}
		link, ok := t.links[name]
		if !ok {
			return stagedFile{}, false
		}
		if strings.HasPrefix(link, "/") {
			link = strings.TrimLeft(link, "/")
		} else {
			link = path.Join(path.Dir(name), link)
		}
		clean, err := layer.CleanEntryName(link)
		if err != nil {
			return stagedFile{}, false
		}
		name = clean
	}
	return stagedFile{}, false
}

func (t *tarSource) open(name string) (io.ReadCloser, error) {
	f, ok := t.resolve(name)
	if !ok {
		return nil, fmt.Errorf("archive file %q: %w", name, fs.ErrNotExist)
	}
	return os.Open(filepath.Join(t.dir, f.digest.Encoded()))
}

func (t *tarSource) exists(name string) bool {
	_, ok := t.resolve(name)
	return ok
}

func (t *tarSource) digestOf(name string) (digest.Digest, int64, bool) {
	f, ok := t.resolve(name)
	return f.digest, f.size, ok
}

func (t *tarSource) publishAs(s *store.Store, name string, d digest.Digest) (bool, error) {
	f, ok := t.resolve(name)
	if !ok || f.digest != d || t.used[d] {
		return false, nil
	}
	if err := s.Publish(filepath.Join(t.dir, d.Encoded()), d); err != nil {
		return false, err
	}
	t.used[d] = true
	return true, nil
}

func (t *tarSource) close() error {
	err := os.RemoveAll(t.dir)
	t.lock.Close()
	return err
}
