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
	lower := mkTar(t,
		dir("a/"), file("a/keep", "k"), file("a/gone", "g"), dir("a/sub/"), file("a/sub/deep", "d"),
		dir("x/"), file("x/old1", "1"), dir("x/olddir/"), file("x/olddir/f", "f"),
		dir("y/"), file("y/old", "o"), dir("y/sub/"), file("y/sub/old", "o"),
		symlink("s", "a/keep"), file("t", "t"),
	)
	upper := mkTar(t,
		file("a/.wh.gone", ""), file("a/.wh.sub", ""),
		// Opaque first, as hostagent commit and docker write it...
		dir("x/"), file("x/.wh..wh..opq", ""), file("x/new", "n"),
		// ...and last, after entries of the same layer it must spare.
		file("y/new", "n"), file("y/sub/new", "n"), file("y/.wh..wh..opq", ""),
		file(".wh.s", ""),
		// A whiteout never hides what its own layer wrote.
		file("t2", "mine"), file(".wh.t2", ""),
		file("a/.wh..wh.plnk", ""), // aufs bookkeeping: ignored
	)
	if err := sb.apply(t, true, Limits{}, lower, gz(t, upper)); err != nil {
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
	suid := file("bin/tool", "#!/bin/sh\n")
	suid.Hdr.Mode, suid.Hdr.Uid, suid.Hdr.Gid = 0o4755, 0, 0
	owned := file("home/u/f", "mine")
	owned.Hdr.Uid, owned.Hdr.Gid, owned.Hdr.Mode = 1000, 2000, 0o600
	owned.Hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.note": "hello"}
	dev := ent{Hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	fifo := ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620}}
	sticky := dir("tmp/")
	sticky.Hdr.Mode = 0o1777
	layer := mkTar(t, suid, owned, dev, fifo, sticky, symlink("bin/alias", "tool"), hardlink("bin/tool2", "bin/tool"))
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
	if fi, _ := os.Stat(filepath.Join(sb.root, "home/u/f")); !fi.ModTime().Equal(testTime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), testTime)
	}
}

// TestUnpackRefusesUnsafe: each hostile layer is refused with errdefs.ErrUnsafe
// and writes nothing outside the root.
func TestUnpackRefusesUnsafe(t *testing.T) {
	bomb := file("zeros", strings.Repeat("\x00", 4<<20))
	many := make([]ent, 50)
	for i := range many {
		many[i] = file("f"+strings.Repeat("x", i), "")
	}
	dev := ent{Hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}}
	for _, tc := range []struct {
		name   string
		asRoot bool
		lim    Limits
		layers func(outside string) [][]byte
	}{
		{"dot-dot", true, Limits{}, func(string) [][]byte { return [][]byte{mkTar(t, file("../evil", "x"))} }},
		{"dot-dot inside", true, Limits{}, func(string) [][]byte { return [][]byte{mkTar(t, file("a/../../evil", "x"))} }},
		{"absolute path", true, Limits{}, func(o string) [][]byte { return [][]byte{mkTar(t, file(o+"/evil", "x"))} }},
		{"write through absolute symlink", true, Limits{}, func(o string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", o)), mkTar(t, file("esc/secret", "overwritten"))}
		}},
		{"write through relative symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", "../outside"), file("esc/evil", "x"))}
		}},
		{"write through symlink chain", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("a", "."), symlink("b", "a/../.."), file("b/outside/evil", "x"))}
		}},
		{"directory through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", "../outside"), dir("esc/newdir/"))}
		}},
		{"hardlink to absolute path", true, Limits{}, func(o string) [][]byte {
			return [][]byte{mkTar(t, hardlink("hl", o+"/secret"))}
		}},
		{"hardlink with dot-dot", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, hardlink("hl", "../outside/secret"))}
		}},
		{"hardlink through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", "../outside"), hardlink("hl", "esc/secret"))}
		}},
		{"whiteout through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", "../outside")), mkTar(t, file("esc/.wh.secret", ""))}
		}},
		{"opaque through symlink", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, symlink("esc", "../outside")), mkTar(t, file("esc/.wh..wh..opq", ""))}
		}},
		{"whiteout of a parent", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, file("a/b/keep", "x")), mkTar(t, file("a/b/.wh...", ""))}
		}},
		{"whiteout of nothing", true, Limits{}, func(string) [][]byte {
			return [][]byte{mkTar(t, file("a/keep", "x")), mkTar(t, file("a/.wh.", ""))}
		}},
		{"device node when not root", false, Limits{}, func(string) [][]byte { return [][]byte{mkTar(t, dev)} }},
		{"tar bomb", true, Limits{MaxBytes: 1 << 20}, func(string) [][]byte { return [][]byte{gz(t, mkTar(t, bomb))} }},
		{"too many entries", true, Limits{MaxEntries: 20}, func(string) [][]byte { return [][]byte{mkTar(t, many...)} }},
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
		mkTar(t, symlink("etc/passwd", filepath.Join(sb.outside, "secret"))),
		mkTar(t, file("etc/passwd", "root:x:0:0")))
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
	fifo := ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o600}}
	err := sb.apply(t, true, Limits{}, mkTar(t, fifo), mkTar(t, file("p/.wh..wh..opq", ""), file("p/.wh.x", "")))
	if err != nil {
		t.Fatal(err)
	}
	sb.untouched(t)
}

// FuzzUnpackLayer: whatever the bytes, unpacking never writes outside the
// root, and never panics.
func FuzzUnpackLayer(f *testing.F) {
	f.Add(mkTar(f, dir("a/"), file("a/b", "x"), symlink("l", "a/b"), hardlink("h", "a/b")))
	f.Add(mkTar(f, symlink("esc", "../outside"), file("esc/evil", "x")))
	f.Add(mkTar(f, file("a/.wh..wh..opq", ""), file(".wh.a", ""), file("../x", "")))
	f.Add(gz(f, mkTar(f, file("z", strings.Repeat("0", 1000)))))
	f.Add([]byte("not a tar at all"))
	f.Add(mkTar(f, ent{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o600}}, file("p/.wh..wh..opq", "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		err := sb.apply(t, false, Limits{MaxBytes: 1 << 20, MaxEntries: 1000}, data)
		if err != nil && errors.Is(err, syscall.ENOSPC) {
			t.Skip(err)
		}
		sb.untouched(t)
	})
}

// The tar helpers of hatest under the short names these tests use.
var (
	testTime = hatest.TestTime
	file     = hatest.TarFile
	dir      = hatest.TarDir
	symlink  = hatest.TarSymlink
	hardlink = hatest.TarHardlink
	mkTar    = hatest.MkTar
	gz       = hatest.Gzip
)

type ent = hatest.Ent

// decompressed reads a test layer, gzip-compressed or not.
func decompressed(l []byte) (io.Reader, error) {
	if bytes.HasPrefix(l, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(bytes.NewReader(l))
	}
	return bytes.NewReader(l), nil
}
