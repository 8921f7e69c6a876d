package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// sandbox is a root to unpack into and, beside it, a directory that must
// stay as it is whatever a layer says.
type sandbox struct {
	root, outside string
	before        map[string]string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := t.TempDir()
	sb := &sandbox{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{sb.root, sb.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sb.outside, "secret"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb.before = hatest.Tree(t, filepath.Dir(sb.root), "root")
	return sb
}

// untouched fails t if anything beside the root changed.
func (sb *sandbox) untouched(t testing.TB) {
	t.Helper()
	if d := hatest.DiffTrees(sb.before, hatest.Tree(t, filepath.Dir(sb.root), "root")); d != "" {
		t.Fatalf("a layer wrote outside its root:\n%s", d)
	}
}

func (sb *sandbox) apply(t testing.TB, asRoot bool, lim Limits, layers ...[]byte) error {
	t.Helper()
	r, err := os.OpenRoot(sb.root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	u := NewUnpacker(r, lim)
	u.asRoot = asRoot && os.Geteuid() == 0
	for _, l := range layers {
		zr, err := decompressed(l)
		if err != nil {
			return err
		}
		if err := u.Apply(t.Context(), zr); err != nil {
			return err
		}
	}
	return nil
}

func TestUnpackWhiteoutsAndOpaque(t *testing.T) {
	sb := newSandbox(t)
	lower := hatest.MkTar(t,
		hatest.TarDir("a/"), hatest.TarFile("a/keep", "k"), hatest.TarFile("a/gone", "g"), hatest.TarDir("a/sub/"), hatest.TarFile("a/sub/deep", "d"),
		hatest.TarDir("x/"), hatest.TarFile("x/old1", "1"), hatest.TarDir("x/olddir/"), hatest.TarFile("x/olddir/f", "f"),
		hatest.TarDir("y/"), hatest.TarFile("y/old", "o"), hatest.TarDir("y/sub/"), hatest.TarFile("y/sub/old", "o"),
		hatest.TarSymlink("s", "a/keep"), hatest.TarFile("t", "t"),
	)
	upper := hatest.MkTar(t,
		hatest.TarFile("a/.wh.gone", ""), hatest.TarFile("a/.wh.sub", ""),
		// Opaque first, as hostagent commit and docker write it...
		hatest.TarDir("x/"), hatest.TarFile("x/.wh..wh..opq", ""), hatest.TarFile("x/new", "n"),
		// ...and last, after entries of the same layer it must spare.
		hatest.TarFile("y/new", "n"), hatest.TarFile("y/sub/new", "n"), hatest.TarFile("y/.wh..wh..opq", ""),
		hatest.TarFile(".wh.s", ""),
		// A whiteout never hides what its own layer wrote.
		hatest.TarFile("t2", "mine"), hatest.TarFile(".wh.t2", ""),
		hatest.TarFile("a/.wh..wh.plnk", ""), // aufs bookkeeping: ignored
	)
	if err := sb.apply(t, true, Limits{}, lower, hatest.Gzip(t, upper)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range hatest.Tree(t, sb.root) {
		got = append(got, p)
	}
	want := map[string]bool{".": true, "a": true, "a/keep": true, "x": true, "x/new": true,
		"y": true, "y/new": true, "y/sub": true, "y/sub/new": true, "t": true, "t2": true}
	for _, p := range got {
		if !want[p] {
			t.Errorf("%s is there, but a whiteout hides it", p)
		}
		delete(want, p)
	}
	for p := range want {
		t.Errorf("%s is missing", p)
	}
	sb.untouched(t)
}

func TestUnpackKeepsMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners and device nodes need root")
	}
	sb := newSandbox(t)
	suid := hatest.TarFile("bin/tool", "#!/bin/sh\n")
	suid.Hdr.Mode, suid.Hdr.Uid, suid.Hdr.Gid = 0o4755, 0, 0
	owned := hatest.TarFile("home/u/f", "mine")
	owned.Hdr.Uid, owned.Hdr.Gid, owned.Hdr.Mode = 1000, 2000, 0o600
	owned.Hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.note": "hello"}
	dev := hatest.Ent{Hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	fifo := hatest.Ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620}}
	sticky := hatest.TarDir("tmp/")
	sticky.Hdr.Mode = 0o1777
	layer := hatest.MkTar(t, suid, owned, dev, fifo, sticky, hatest.TarSymlink("bin/alias", "tool"), hatest.TarHardlink("bin/tool2", "bin/tool"))
	if err := sb.apply(t, true, Limits{}, layer); err != nil {
		t.Fatal(err)
	}
	tree := hatest.Tree(t, sb.root)
	for p, want := range map[string]string{
		"bin/tool":  "104755 0:0",
		"home/u/f":  "100600 1000:2000",
		"dev/null":  "20666 0:0 dev 259",
		"run/fifo":  "10620 0:0",
		"tmp":       "41777 0:0",
		"bin/alias": "120777 0:0 -> tool",
	} {
		if !strings.HasPrefix(tree[p], want) {
			t.Errorf("%s: %q, want %q…", p, tree[p], want)
		}
	}
	if !strings.Contains(tree["home/u/f"], "user.note=hello") {
		t.Errorf("xattr lost: %s", tree["home/u/f"])
	}
	a, _ := os.Stat(filepath.Join(sb.root, "bin/tool"))
	b, _ := os.Stat(filepath.Join(sb.root, "bin/tool2"))
	if !os.SameFile(a, b) {
		t.Error("the hardlink is a copy")
	}
	if fi, _ := os.Stat(filepath.Join(sb.root, "home/u/f")); !fi.ModTime().Equal(hatest.TestTime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), hatest.TestTime)
	}
}

// TestUnpackRefusesUnsafe: each hostile layer is refused with errdefs.ErrUnsafe
// and writes nothing outside the root.
func TestUnpackRefusesUnsafe(t *testing.T) {
	bomb := hatest.TarFile("zeros", strings.Repeat("\x00", 4<<20))
	many := make([]hatest.Ent, 50)
	for i := range many {
		many[i] = hatest.TarFile("f"+strings.Repeat("x", i), "")
	}
	dev := hatest.Ent{Hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}}
	for _, tc := range []struct {
		name   string
		asRoot bool
		lim    Limits
		layers func(outside string) [][]byte
	}{
		{"dot-dot", true, Limits{}, func(string) [][]byte { return [][]byte{hatest.MkTar(t, hatest.TarFile("../evil", "x"))} }},
		{"dot-dot inside", true, Limits{}, func(string) [][]byte { return [][]byte{hatest.MkTar(t, hatest.TarFile("a/../../evil", "x"))} }},
		{"absolute path", true, Limits{}, func(o string) [][]byte { return [][]byte{hatest.MkTar(t, hatest.TarFile(o+"/evil", "x"))} }},
		{"write through absolute symlink", true, Limits{}, func(o string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", o)), hatest.MkTar(t, hatest.TarFile("esc/secret", "overwritten"))}
		}},
		{"write through relative symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", "../outside"), hatest.TarFile("esc/evil", "x"))}
		}},
		{"write through symlink chain", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("a", "."), hatest.TarSymlink("b", "a/../.."), hatest.TarFile("b/outside/evil", "x"))}
		}},
		{"directory through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", "../outside"), hatest.TarDir("esc/newdir/"))}
		}},
		{"hardlink to absolute path", true, Limits{}, func(o string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarHardlink("hl", o+"/secret"))}
		}},
		{"hardlink with dot-dot", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarHardlink("hl", "../outside/secret"))}
		}},
		{"hardlink through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", "../outside"), hatest.TarHardlink("hl", "esc/secret"))}
		}},
		{"whiteout through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", "../outside")), hatest.MkTar(t, hatest.TarFile("esc/.wh.secret", ""))}
		}},
		{"opaque through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarSymlink("esc", "../outside")), hatest.MkTar(t, hatest.TarFile("esc/.wh..wh..opq", ""))}
		}},
		{"whiteout of a parent", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarFile("a/b/keep", "x")), hatest.MkTar(t, hatest.TarFile("a/b/.wh...", ""))}
		}},
		{"whiteout of nothing", true, Limits{}, func(string) [][]byte {
			return [][]byte{hatest.MkTar(t, hatest.TarFile("a/keep", "x")), hatest.MkTar(t, hatest.TarFile("a/.wh.", ""))}
		}},
		{"device node when not root", false, Limits{}, func(string) [][]byte { return [][]byte{hatest.MkTar(t, dev)} }},
		{"tar bomb", true, Limits{MaxBytes: 1 << 20}, func(string) [][]byte { return [][]byte{hatest.Gzip(t, hatest.MkTar(t, bomb))} }},
		{"too many entries", true, Limits{MaxEntries: 20}, func(string) [][]byte { return [][]byte{hatest.MkTar(t, many...)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			err := sb.apply(t, tc.asRoot, tc.lim, tc.layers(sb.outside)...)
			if !errors.Is(err, errdefs.ErrUnsafe) {
				t.Fatalf("applied with %v, want errdefs.ErrUnsafe", err)
			}
			t.Logf("refused: %v", err)
			sb.untouched(t)
		})
	}
}

// TestUnpackReplacesSymlinkInsteadOfFollowing: a file written where a
// lower layer left a symlink replaces the link; the target stays.
func TestUnpackReplacesSymlinkInsteadOfFollowing(t *testing.T) {
	sb := newSandbox(t)
	err := sb.apply(t, true, Limits{},
		hatest.MkTar(t, hatest.TarSymlink("etc/passwd", filepath.Join(sb.outside, "secret"))),
		hatest.MkTar(t, hatest.TarFile("etc/passwd", "root:x:0:0")))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(sb.root, "etc/passwd"))
	if err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("etc/passwd: %v, %v", fi, err)
	}
	sb.untouched(t)
}

// TestUnpackFIFONeverOpened: markers under a FIFO must not open it, which
// would wait for a writer forever.
func TestUnpackFIFONeverOpened(t *testing.T) {
	sb := newSandbox(t)
	fifo := hatest.Ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o600}}
	err := sb.apply(t, true, Limits{}, hatest.MkTar(t, fifo), hatest.MkTar(t, hatest.TarFile("p/.wh..wh..opq", ""), hatest.TarFile("p/.wh.x", "")))
	if err != nil {
		t.Fatal(err)
	}
	sb.untouched(t)
}

// FuzzUnpackLayer: whatever the bytes, unpacking never writes outside the
// root, and never panics.
func FuzzUnpackLayer(f *testing.F) {
	f.Add(hatest.MkTar(f, hatest.TarDir("a/"), hatest.TarFile("a/b", "x"), hatest.TarSymlink("l", "a/b"), hatest.TarHardlink("h", "a/b")))
	f.Add(hatest.MkTar(f, hatest.TarSymlink("esc", "../outside"), hatest.TarFile("esc/evil", "x")))
	f.Add(hatest.MkTar(f, hatest.TarFile("a/.wh..wh..opq", ""), hatest.TarFile(".wh.a", ""), hatest.TarFile("../x", "")))
	f.Add(hatest.Gzip(f, hatest.MkTar(f, hatest.TarFile("z", strings.Repeat("0", 1000)))))
	f.Add([]byte("not a tar at all"))
	f.Add(hatest.MkTar(f, hatest.Ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o600}}, hatest.TarFile("p/.wh..wh..opq", "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		err := sb.apply(t, false, Limits{MaxBytes: 1 << 20, MaxEntries: 1000}, data)
		if err != nil && errors.Is(err, syscall.ENOSPC) {
			t.Skip(err)
		}
		sb.untouched(t)
	})
}

// decompressed reads a test layer, gzip-compressed or not.
func decompressed(l []byte) (io.Reader, error) {
	if bytes.HasPrefix(l, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(bytes.NewReader(l))
	}
	return bytes.NewReader(l), nil
}
