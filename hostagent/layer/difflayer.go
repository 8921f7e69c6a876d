package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/internal/iox"
)

// changeKind says what a layer entry does.
type changeKind int

const (
	changeAdd      changeKind = iota // a path the base did not have
	changeModify                     // a path whose content or metadata changed
	changeWhiteout                   // a path deleted: .wh.<name>
	changeOpaque                     // a directory replaced: .wh..wh..opq inside it
)

// Change is one entry of a committed layer.
type Change struct {
	path string
	kind changeKind
	meta *FileMeta // the current state (add, modify)
}

// DiffStats counts what a commit's layer holds.
type DiffStats struct {
	Added    int `json:"added"`
	Modified int `json:"modified"`
	Deleted  int `json:"deleted"`
}

// DiffTrees compares the tree as recorded (old) with its current state
// (cur, sorted) and returns the entries of a layer that turns the first
// into the second, sorted as they are written. The entries depend on the
// two trees' content alone, never on inode numbers or times, so the same
// changes give the same layer however they were made. A directory none of
// whose recorded entries is left (deleted and made again, or emptied) is
// replaced whole: the directory, an opaque marker, then everything in it.
// What is under a deleted or replaced directory needs no whiteout of its
// own.
func DiffTrees(old map[string]*FileMeta, cur []FileMeta) ([]Change, DiffStats) {
	seen := make(map[string]bool, len(cur))
	for i := range cur {
		seen[cur[i].Path] = true
	}
	replaced := replacedDirs(old, seen)
	var out []Change
	var st DiffStats
	covered := map[string]bool{} // deleted or replaced directories
	under := func(p string) bool {
		for d := path.Dir(p); ; d = path.Dir(d) {
			if covered[d] {
				return true
			}
			if d == "." || d == "/" {
				return false
			}
		}
	}
	for i := range cur {
		m := &cur[i]
		o := old[m.Path]
		switch {
		case m.Path != "." && under(m.Path):
			out = append(out, Change{path: m.Path, kind: changeAdd, meta: m})
			st.Added++
		case o == nil:
			out = append(out, Change{path: m.Path, kind: changeAdd, meta: m})
			st.Added++
		case o.Kind == kindDir && m.Kind == kindDir && replaced[m.Path]:
			out = append(out, Change{path: m.Path, kind: changeModify, meta: m},
				Change{path: m.Path, kind: changeOpaque})
			covered[m.Path] = true
			st.Modified++
		case !o.sameContent(m):
			out = append(out, Change{path: m.Path, kind: changeModify, meta: m})
			if o.Kind == kindDir && m.Kind != kindDir {
				covered[m.Path] = true // its old content goes with it
			}
			st.Modified++
		}
	}
	var gone []string
	for p := range old {
		if !seen[p] {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	for _, p := range gone {
		if under(p) {
			continue
		}
		out = append(out, Change{path: p, kind: changeWhiteout})
		if old[p].Kind == kindDir {
			covered[p] = true
		}
		st.Deleted++
	}
	slices.SortStableFunc(out, func(a, b Change) int { return strings.Compare(a.sortKey(), b.sortKey()) })
	return out, st
}

// replacedDirs are the directories of old, other than the root, that had
// entries and kept none of them (by path: seen holds the current tree's
// paths). Whether such a directory was deleted and made again or emptied
// in place cannot be told reliably (a new directory may get the old one's
// inode number back), and need not be: either way nothing of the lower
// layers is left in it, which an opaque marker says in one entry.
func replacedDirs(old map[string]*FileMeta, seen map[string]bool) map[string]bool {
	kept := map[string]bool{}
	hadEntries := map[string]bool{}
	for p := range old {
		if p == "." {
			continue
		}
		d := path.Dir(p)
		hadEntries[d] = true
		if seen[p] {
			kept[d] = true
		}
	}
	out := map[string]bool{}
	for d := range hadEntries {
		if d != "." && !kept[d] {
			out[d] = true
		}
	}
	return out
}

// sortKey orders entries by the name they are written under, with a
// directory's opaque marker right after the directory itself, before what
// it holds.
func (c Change) sortKey() string {
	switch c.kind {
	case changeWhiteout:
		return path.Join(path.Dir(c.path), whiteoutPrefix+path.Base(c.path))
	case changeOpaque:
		return c.path + "/\x00"
	}
	return c.path
}

// WriteLayer writes the changes as an uncompressed tar to w, reading
// content from the tree at dir. Times are mtime (seconds), or ts for every
// entry when ts is set; owners numeric, no user or group names: the same
// changes at the same ts give the same bytes. Regular files that share an
// inode are written once, the others as hardlinks to it.
func WriteLayer(ctx context.Context, w io.Writer, dir string, changes []Change, ts *time.Time) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tw := tar.NewWriter(w)
	when := func(m *FileMeta) time.Time {
		if ts != nil {
			return ts.UTC()
		}
		if m == nil {
			return time.Unix(0, 0).UTC()
		}
		return time.Unix(0, m.Mtime).UTC().Truncate(time.Second)
	}
	firstOfInode := map[uint64]string{}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		var hdr *tar.Header
		switch c.kind {
		case changeWhiteout, changeOpaque:
			name := path.Join(path.Dir(c.path), whiteoutPrefix+path.Base(c.path))
			if c.kind == changeOpaque {
				name = path.Join(c.path, whiteoutOpaque)
			}
			hdr = &tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: when(nil)}
		default:
			hdr = entryHeader(c.meta, when(c.meta))
			if c.meta.Kind == kindFile && c.meta.Nlink > 1 {
				if first, ok := firstOfInode[c.meta.Ino]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					firstOfInode[c.meta.Ino] = c.meta.Path
				}
			}
		}
		if hdr == nil {
			continue // a socket: tar cannot hold one
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			if err := copyContent(ctx, tw, root, c.meta); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func entryHeader(m *FileMeta, mtime time.Time) *tar.Header {
	hdr := &tar.Header{
		Name:    m.Path,
		Mode:    int64(m.Mode),
		Uid:     m.UID,
		Gid:     m.GID,
		ModTime: mtime,
	}
	switch m.Kind {
	case kindDir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if m.Path == "." {
			hdr.Name = "./"
		}
	case kindFile:
		hdr.Typeflag, hdr.Size = tar.TypeReg, m.Size
	case kindSymlink:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, m.Link
	case kindChar, kindBlock:
		hdr.Typeflag = tar.TypeChar
		if m.Kind == kindBlock {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(m.Rdev)), int64(unix.Minor(m.Rdev))
	case kindFifo:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil
	}
	if len(m.Xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range m.Xattrs {
			hdr.PAXRecords[paxXattr+k] = string(v)
		}
	}
	return hdr
}

func copyContent(ctx context.Context, w io.Writer, root *os.Root, m *FileMeta) error {
	f, err := root.OpenFile(m.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("layer entry %s: %w", m.Path, err)
	}
	defer f.Close()
	n, err := io.Copy(w, iox.ContextReader(ctx, io.LimitReader(f, m.Size)))
	if err != nil {
		return fmt.Errorf("layer entry %s: %w", m.Path, err)
	}
	if n != m.Size {
		return fmt.Errorf("layer entry %s: changed while committing (%d bytes, had %d)", m.Path, n, m.Size)
	}
	return nil
}
