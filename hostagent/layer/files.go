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
// content, as git's index assumes).
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

// treeRecord is the content of files.json.
type treeRecord struct {
	Version int        `json:"version"`
	Files   []FileMeta `json:"files"` // sorted by Path
}

// RecordTree records every path under dir (dir itself as "."), sorted.
// Content is hashed, except where prev has the same inode, size, mtime and
// ctime: then prev's hash is kept.
func RecordTree(ctx context.Context, dir string, prev map[string]*FileMeta) ([]FileMeta, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
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
			if old := prev[p]; old != nil && old.Kind == kindFile && old.Ino == m.Ino && old.Size == m.Size &&
				old.Mtime == m.Mtime && old.Ctime == m.Ctime && old.SHA256 != "" {
				m.SHA256 = old.SHA256
			} else if m.SHA256, err = hashFile(root, p); err != nil {
				return err
			}
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b FileMeta) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
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

// WriteTreeRecord writes files as the tree record (files.json) in dir.
func WriteTreeRecord(dir string, files []FileMeta) error {
	b, err := json.Marshal(treeRecord{Version: 1, Files: files})
	if err != nil {
		return err
	}
	return oci.WriteFileAtomic(dir, FilesFile, b)
}

// ReadTreeRecord reads the tree record (files.json) in dir, by path.
func ReadTreeRecord(dir string) (map[string]*FileMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, FilesFile))
	if err != nil {
		return nil, err
	}
	var rec treeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", FilesFile, err, errdefs.ErrCorrupt)
	}
	out := make(map[string]*FileMeta, len(rec.Files))
	for i := range rec.Files {
		out[rec.Files[i].Path] = &rec.Files[i]
	}
	return out, nil
}
