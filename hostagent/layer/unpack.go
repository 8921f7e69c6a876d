package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/iox"
)

// Limits bound what unpacking (a container's layers, or an archive being
// loaded) may write, against tar bombs.
type Limits struct {
	// MaxBytes caps the bytes of file content written in all; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries caps the number of entries; 0 means DefaultMaxEntries.
	MaxEntries int
}

// The limits that apply where Limits leaves a field zero.
const (
	DefaultMaxBytes   = 64 << 30
	DefaultMaxEntries = 4 << 20
)

// WithDefaults fills the zero fields of l with DefaultMaxBytes and
// DefaultMaxEntries.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// Whiteouts, as the OCI image spec and overlayfs-based tools write them.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	paxXattr       = "SCHILY.xattr."
)

// Unpacker applies layers (uncompressed tars) to a directory. Every write
// goes through an os.Root, which resolves each path inside the directory
// and refuses one that leaves it (a "..", or a symlink pointing out, which
// includes every absolute symlink): a hostile layer cannot touch anything
// outside, whatever the order of its entries. Entry names that are
// absolute or hold ".." are refused before that.
type Unpacker struct {
	root   *os.Root
	asRoot bool // chown, and device nodes; else owners are the caller's
	lim    Limits

	written int64
	entries int
	// rename, when set, rewrites each entry's header before it is
	// applied, or drops it (false): SetRename.
	rename func(*tar.Header) bool

	// Of the layer being applied: what it wrote (whiteouts spare those),
	// their ancestors, and directory times to set once it is done.
	layerPaths map[string]bool
	layerDirs  map[string]bool
	dirTimes   []dirTime
}

type dirTime struct {
	name         string
	atime, mtime time.Time
}

// NewUnpacker applies layers under root within lim (defaults filled in);
// it keeps owners and device nodes only when running as root.
func NewUnpacker(root *os.Root, lim Limits) *Unpacker {
	return &Unpacker{root: root, asRoot: os.Geteuid() == 0, lim: lim.WithDefaults()}
}

// Unsafef formats an error of the class errdefs.ErrUnsafe.
func Unsafef(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrUnsafe)...)
}

// Bounds of an entry name: Linux's PATH_MAX, and a depth no real tree
// reaches; deeper would only make unpacking slow.
const (
	maxNameLen   = 4096
	maxNameDepth = 256
)

// CleanEntryName turns a tar entry name into a clean relative path ("."
// for the root itself), refusing absolute names and "..".
func CleanEntryName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", Unsafef("entry %q: bad name", name)
	}
	if len(name) > maxNameLen || strings.Count(name, "/") > maxNameDepth {
		return "", Unsafef("entry %.64q…: name longer than %d bytes or deeper than %d", name, maxNameLen, maxNameDepth)
	}
	if strings.HasPrefix(name, "/") {
		return "", Unsafef("entry %q: absolute path", name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", Unsafef("entry %q: path leaves the root (..)", name)
		}
	}
	return path.Clean(name), nil
}

// IsEscape reports whether err is os.Root refusing a path that leads out.
func IsEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// rootErr classes an error of a Root method: an escape is errdefs.ErrUnsafe.
func rootErr(what, name string, err error) error {
	if IsEscape(err) {
		return Unsafef("entry %q: %s through a symlink leading outside the root", name, what)
	}
	return fmt.Errorf("entry %q: %s: %w", name, what, err)
}

func (u *Unpacker) markWritten(name string) {
	u.layerPaths[name] = true
	for d := path.Dir(name); d != "." && !u.layerDirs[d]; d = path.Dir(d) {
		u.layerDirs[d] = true
	}
}

func (u *Unpacker) apply(ctx context.Context, hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	u.entries++
	if u.entries > u.lim.MaxEntries {
		return Unsafef("more than %d entries", u.lim.MaxEntries)
	}
	name, err := CleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		dir := path.Dir(name)
		switch {
		case base == whiteoutOpaque:
			return u.opaque(dir)
		case strings.HasPrefix(base, whiteoutMeta):
			return nil // aufs bookkeeping (.wh..wh.plnk and the like)
		}
		hidden := strings.TrimPrefix(base, whiteoutPrefix)
		if hidden == "" || hidden == "." || hidden == ".." {
			return Unsafef("entry %q: a whiteout of nothing, or of a parent", hdr.Name)
		}
		return u.whiteout(path.Join(dir, hidden))
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return Unsafef("entry %q: the root can only be a directory", hdr.Name)
		}
		return u.dirMeta(name, hdr)
	}
	if hdr.Typeflag == tar.TypeLink {
		// Checked before anything is replaced.
		target, err := CleanEntryName(hdr.Linkname)
		if err != nil {
			return Unsafef("hardlink %q to %q: target outside the root", hdr.Name, hdr.Linkname)
		}
		if target == name {
			return nil
		}
	}
	if dir := path.Dir(name); dir != "." {
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return rootErr("create parent directory", hdr.Name, err)
		}
	}
	existing, err := u.root.Lstat(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rootErr("lstat", hdr.Name, err)
	}
	exists := err == nil
	// Anything but a directory onto a directory replaces it whole; a
	// directory onto a directory merges.
	if exists && (hdr.Typeflag != tar.TypeDir || !existing.IsDir()) {
		if err := u.root.RemoveAll(name); err != nil {
			return rootErr("replace", hdr.Name, err)
		}
		exists = false
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists {
			if err := u.root.Mkdir(name, 0o700); err != nil {
				return rootErr("mkdir", hdr.Name, err)
			}
		}
		err = u.dirMeta(name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		err = u.file(ctx, name, hdr, body)
	case tar.TypeSymlink:
		if err := u.root.Symlink(hdr.Linkname, name); err != nil {
			return rootErr("symlink", hdr.Name, err)
		}
		err = u.linkMeta(name, hdr)
	case tar.TypeLink:
		err = u.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = u.special(name, hdr)
	default:
		return Unsafef("entry %q: unsupported type %q", hdr.Name, hdr.Typeflag)
	}
	if err != nil {
		return err
	}
	u.markWritten(name)
	return nil
}

func (u *Unpacker) file(ctx context.Context, name string, hdr *tar.Header, body io.Reader) error {
	if hdr.Size < 0 || u.written+hdr.Size > u.lim.MaxBytes {
		return Unsafef("entry %q: %d bytes would exceed the size limit of %d bytes", hdr.Name, hdr.Size, u.lim.MaxBytes)
	}
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return rootErr("create", hdr.Name, err)
	}
	defer f.Close()
	n, err := io.Copy(f, iox.ContextReader(ctx, io.LimitReader(body, hdr.Size)))
	u.written += n
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("entry %q: %d bytes of %d: %w", hdr.Name, n, hdr.Size, errdefs.ErrCorrupt)
	}
	fd := int(f.Fd())
	if u.asRoot {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("entry %q: chown: %w", hdr.Name, err)
		}
	}
	// After chown, which clears set-id bits.
	if err := unix.Fchmod(fd, u.mode(hdr, 0o400)); err != nil {
		return fmt.Errorf("entry %q: chmod: %w", hdr.Name, err)
	}
	setXattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
	tv := []unix.Timeval{unix.NsecToTimeval(atime(hdr).UnixNano()), unix.NsecToTimeval(hdr.ModTime.UnixNano())}
	if err := unix.Futimes(fd, tv); err != nil {
		return fmt.Errorf("entry %q: times: %w", hdr.Name, err)
	}
	return f.Close()
}

// mode is the permission and set-id bits of hdr. Unprivileged, it adds
// need (owner bits) so that later layers and commit can still work.
func (u *Unpacker) mode(hdr *tar.Header, need uint32) uint32 {
	m := uint32(hdr.Mode) & 0o7777
	if !u.asRoot {
		m |= need
	}
	return m
}

func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// setXattrs applies the entry's extended attributes with set. What the
// filesystem or the user's privileges refuse is left out: the record of
// the tree (see files.go) reads back what was kept.
func setXattrs(hdr *tar.Header, set func(k string, v []byte) error) {
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok && name != "" {
			_ = set(name, []byte(v))
		}
	}
}

func (u *Unpacker) dirMeta(name string, hdr *tar.Header) error {
	d, err := u.openDir(name)
	if err != nil {
		return rootErr("open directory", hdr.Name, err)
	}
	defer d.Close()
	fd := int(d.Fd())
	if u.asRoot {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("entry %q: chown: %w", hdr.Name, err)
		}
	}
	if err := unix.Fchmod(fd, u.mode(hdr, 0o700)); err != nil {
		return fmt.Errorf("entry %q: chmod: %w", hdr.Name, err)
	}
	setXattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
	u.dirTimes = append(u.dirTimes, dirTime{name, atime(hdr), hdr.ModTime})
	return nil
}

// inParent runs fn with a descriptor of name's parent directory, opened
// through the root, and name's last element: for the *at calls that must
// not follow a symlink at the end.
func (u *Unpacker) inParent(name string, fn func(dirfd int, base string) error) error {
	d, err := u.openDir(path.Dir(name))
	if err != nil {
		return rootErr("open parent", name, err)
	}
	defer d.Close()
	return fn(int(d.Fd()), path.Base(name))
}

func (u *Unpacker) linkMeta(name string, hdr *tar.Header) error {
	return u.inParent(name, func(dirfd int, base string) error {
		if u.asRoot {
			if err := unix.Fchownat(dirfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("entry %q: lchown: %w", hdr.Name, err)
			}
		}
		return utimesAt(dirfd, base, atime(hdr), hdr.ModTime)
	})
}

// openDir opens a directory of the root, and fails at once on anything
// else (opening a FIFO for reading would wait for a writer).
func (u *Unpacker) openDir(name string) (*os.File, error) {
	return u.root.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

func utimesAt(dirfd int, base string, a, m time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(a.UnixNano()), unix.NsecToTimespec(m.UnixNano())}
	if err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: times: %w", base, err)
	}
	return nil
}

func (u *Unpacker) setTimes(name string, a, m time.Time, dir bool) error {
	if name == "." {
		d, err := u.openDir(".")
		if err != nil {
			return err
		}
		defer d.Close()
		tv := []unix.Timeval{unix.NsecToTimeval(a.UnixNano()), unix.NsecToTimeval(m.UnixNano())}
		return unix.Futimes(int(d.Fd()), tv)
	}
	return u.inParent(name, func(dirfd int, base string) error { return utimesAt(dirfd, base, a, m) })
}

func (u *Unpacker) hardlink(name string, hdr *tar.Header) error {
	target, _ := CleanEntryName(hdr.Linkname) // checked by apply
	fi, err := u.root.Lstat(target)
	if err != nil {
		if IsEscape(err) {
			return Unsafef("hardlink %q to %q: target through a symlink leading outside the root", hdr.Name, hdr.Linkname)
		}
		return fmt.Errorf("hardlink %q: target %q: %w", hdr.Name, hdr.Linkname, err)
	}
	if fi.IsDir() {
		return Unsafef("hardlink %q: target %q is a directory", hdr.Name, hdr.Linkname)
	}
	if err := u.root.Link(target, name); err != nil {
		return rootErr("hardlink", hdr.Name, err)
	}
	return nil
}

func (u *Unpacker) special(name string, hdr *tar.Header) error {
	var kind uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		kind = unix.S_IFCHR
	case tar.TypeBlock:
		kind = unix.S_IFBLK
	default:
		kind = unix.S_IFIFO
	}
	if kind != unix.S_IFIFO && !u.asRoot {
		return Unsafef("entry %q: device node: only root may create one", hdr.Name)
	}
	return u.inParent(name, func(dirfd int, base string) error {
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(dirfd, base, kind|0o600, dev); err != nil {
			return fmt.Errorf("entry %q: mknod: %w", hdr.Name, err)
		}
		if u.asRoot {
			if err := unix.Fchownat(dirfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("entry %q: chown: %w", hdr.Name, err)
			}
		}
		if err := unix.Fchmodat(dirfd, base, u.mode(hdr, 0o600), 0); err != nil {
			return fmt.Errorf("entry %q: chmod: %w", hdr.Name, err)
		}
		return utimesAt(dirfd, base, atime(hdr), hdr.ModTime)
	})
}

// whiteout deletes target, which a lower layer made. What this layer wrote
// itself stays: a whiteout hides only what is below it.
func (u *Unpacker) whiteout(target string) error {
	if target == "." || u.layerPaths[target] {
		return nil
	}
	if _, err := u.root.Lstat(target); err != nil {
		if IsEscape(err) {
			return Unsafef("whiteout %q: through a symlink leading outside the root", target)
		}
		return nil // nothing to hide
	}
	if err := u.root.RemoveAll(target); err != nil {
		return rootErr("whiteout", target, err)
	}
	return nil
}

// opaque empties dir of what lower layers put there, keeping what this
// layer wrote (the marker may come after some of dir's entries).
func (u *Unpacker) opaque(dir string) error {
	d, err := u.openDir(dir)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return nil // not a directory: nothing to hide in it
		}
		if IsEscape(err) {
			return Unsafef("opaque whiteout in %q: through a symlink leading outside the root", dir)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return rootErr("opaque whiteout", dir, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("opaque whiteout in %q: %w", dir, err)
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		keep := u.layerPaths[p] || u.layerDirs[p]
		switch {
		case keep && e.IsDir():
			if err := u.opaque(p); err != nil {
				return err
			}
		case !keep:
			if err := u.root.RemoveAll(p); err != nil {
				return rootErr("opaque whiteout", p, err)
			}
		}
	}
	return nil
}
