package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// FilesFile is the record of a container's tree as unpacked, beside its
// container.json: what commit compares the tree with.
const FilesFile = "files.json"

// Kinds of FileMeta.
const (
	kindFile    = "f"
	kindDir     = "d"
	kindSymlink = "l"
	kindChar    = "c"
	kindBlock   = "b"
	kindFifo    = "p"
	kindSocket  = "s"
)

// FileMeta is one path of a tree: what a layer entry would carry, plus what
// tells cheaply that a file was not touched since (inode, size, mtime and
// ctime: ctime cannot be set back by a user, so equal stats mean equal
// content, as git's index assumes, unless the file was changed in the
// clock tick its record was taken in: see Record.Began).
type FileMeta struct {
	Path   string            `json:"p"` // slash-separated, relative to the tree
	Kind   string            `json:"k"`
	Mode   uint32            `json:"m"` // permissions and set-id/sticky bits
	UID    int               `json:"u"`
	GID    int               `json:"g"`
	Size   int64             `json:"s,omitempty"`
	SHA256 string            `json:"h,omitempty"` // content, regular files
	Link   string            `json:"l,omitempty"` // symlink target
	Rdev   uint64            `json:"r,omitempty"` // device nodes
	Xattrs map[string][]byte `json:"x,omitempty"`
	Ino    uint64            `json:"i"`
	Nlink  uint64            `json:"n,omitempty"`
	Mtime  int64             `json:"t"` // ns
	Ctime  int64             `json:"c"` // ns
}

// sameContent reports whether two states of one path hold the same thing,
// metadata included; times are not compared.
func (a *FileMeta) sameContent(b *FileMeta) bool {
	return a.Kind == b.Kind && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.Size == b.Size && a.SHA256 == b.SHA256 && a.Link == b.Link && a.Rdev == b.Rdev &&
		maps.EqualFunc(a.Xattrs, b.Xattrs, func(x, y []byte) bool { return string(x) == string(y) })
}

// Record is a tree as RecordTree saw it; files.json holds it.
type Record struct {
	Files []FileMeta `json:"files"` // sorted by Path
	// Began is the filesystem's time (ns) just before the scan started,
	// read from a file made then. File times come from a coarse clock
	// (a tick of 1 to 10 ms, or more on some filesystems), so a file
	// changed in the tick its stats were read in, same size and mtime
	// set back, can keep all of its stats, ctime included. An entry
	// whose ctime is not before Began may be such a file: its stats
	// prove nothing and its content is hashed again (git's "racy"
	// entries). 0, unknown (a record older than this field, or a tree
	// where the time could not be read), trusts no stats.
	Began int64 `json:"began,omitempty"`
}

// ByPath indexes the record's files by path.
func (r Record) ByPath() map[string]*FileMeta {
	out := make(map[string]*FileMeta, len(r.Files))
	for i := range r.Files {
		out[r.Files[i].Path] = &r.Files[i]
	}
	return out
}

// racyWindow is how long before a record's Began a file must have last
// changed for its stats to be trusted. Timestamps come from the kernel's
// coarse clock (a tick of up to 10 ms) or, for inodes whose times were
// just read, a finer one, and the two can disagree by up to a tick; a
// margin of several ticks keeps a change made after the scan began from
// looking older than it. Files changed in that window are hashed again.
const racyWindow = 50 * time.Millisecond

// unchangedSince reports whether the file b was not touched since a was
// recorded in a record begun at began, by their stats alone.
func (a *FileMeta) unchangedSince(began int64, b *FileMeta) bool {
	return a.Kind == kindFile && a.SHA256 != "" && a.Ctime < began-int64(racyWindow) &&
		a.Ino == b.Ino && a.Size == b.Size && a.Mtime == b.Mtime && a.Ctime == b.Ctime
}

// treeRecord is the content of files.json.
type treeRecord struct {
	Version int `json:"version"`
	Record
}

// RecordTree records every path under dir (dir itself as "."), sorted.
// Content is hashed, except for files prev shows untouched since (the same
// inode, size, mtime and ctime, recorded safely before prev.Began): then
// prev's hash is kept.
func RecordTree(ctx context.Context, dir string, prev Record) (Record, error) {
	// Without the filesystem's time (a read-only tree), the record
	// trusts no stats next time: slower, as correct.
	began, _ := fsNow(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Record{}, err
	}
	defer root.Close()
	old := prev.ByPath()
	var out []FileMeta
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		m, err := statMeta(p, fi)
		if err != nil {
			return err
		}
		if m.Xattrs, err = listXattrs(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			return fmt.Errorf("%s: xattrs: %w", p, err)
		}
		if m.Kind == kindSymlink {
			if m.Link, err = root.Readlink(p); err != nil {
				return err
			}
		}
		if m.Kind == kindFile {
			if o := old[p]; o != nil && o.unchangedSince(prev.Began, &m) {
				m.SHA256 = o.SHA256
			} else if m.SHA256, err = hashFile(root, p); err != nil {
				return err
			}
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("scan %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b FileMeta) int { return strings.Compare(a.Path, b.Path) })
	return Record{Files: out, Began: began}, nil
}

// fsNow is the time (ns) the filesystem of dir stamps a change with now:
// the ctime of an unnamed file made in dir (O_TMPFILE), or where the
// filesystem cannot make one, of a named one removed at once. It is never
// later than the ctime of a change made after it.
func fsNow(dir string) (int64, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		f, err := os.CreateTemp(dir, ".berth-clock-*")
		if err != nil {
			return 0, fmt.Errorf("read the filesystem's clock: %w", err)
		}
		defer f.Close()
		if err := os.Remove(f.Name()); err != nil {
			return 0, err
		}
		fd = int(f.Fd())
	} else {
		defer unix.Close(fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("read the filesystem's clock: %w", err)
	}
	return st.Ctim.Nano(), nil
}

func statMeta(p string, fi fs.FileInfo) (FileMeta, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileMeta{}, fmt.Errorf("%s: no stat", p)
	}
	m := FileMeta{
		Path:  p,
		Mode:  st.Mode & 0o7777,
		UID:   int(st.Uid),
		GID:   int(st.Gid),
		Ino:   st.Ino,
		Nlink: uint64(st.Nlink),
		Mtime: st.Mtim.Nano(),
		Ctime: st.Ctim.Nano(),
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		m.Kind, m.Size = kindFile, st.Size
	case syscall.S_IFDIR:
		m.Kind = kindDir
	case syscall.S_IFLNK:
		m.Kind = kindSymlink
	case syscall.S_IFCHR:
		m.Kind, m.Rdev = kindChar, st.Rdev
	case syscall.S_IFBLK:
		m.Kind, m.Rdev = kindBlock, st.Rdev
	case syscall.S_IFIFO:
		m.Kind = kindFifo
	default:
		m.Kind = kindSocket
	}
	if m.Kind != kindFile {
		m.Nlink = 0 // only files' links matter (hardlinks)
	}
	return m, nil
}

func hashFile(root *os.Root, p string) (string, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// listXattrs reads the extended attributes of path itself (not of what a
// symlink points to). A filesystem without them has none.
func listXattrs(path string) (map[string][]byte, error) {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size == 0 {
		if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
			return nil, nil
		}
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			continue // gone meanwhile, or not ours to read
		}
		v := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(path, name, v); err != nil {
			continue
		}
		out[name] = v[:vsize]
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// WriteTreeRecord writes rec as the tree record (files.json) in dir.
func WriteTreeRecord(dir string, rec Record) error {
	b, err := json.Marshal(treeRecord{Version: 1, Record: rec})
	if err != nil {
		return err
	}
	return oci.WriteFileAtomic(dir, FilesFile, b)
}

// ReadTreeRecord reads the tree record (files.json) in dir.
func ReadTreeRecord(dir string) (Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, FilesFile))
	if err != nil {
		return Record{}, err
	}
	var rec treeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, fmt.Errorf("%s: %v: %w", FilesFile, err, errdefs.ErrCorrupt)
	}
	return rec.Record, nil
}
