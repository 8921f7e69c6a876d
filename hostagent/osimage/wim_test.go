package osimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/testutil"
)

// wimlib runs wimlib-imagex (skipping the test without it, failing it
// under CI).
func wimlib(t *testing.T, args ...string) string {
	t.Helper()
	bin := testutil.RequireTool(t, "wimlib-imagex")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("wimlib-imagex %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// windowsProps are the --image-property flags of a Windows Server 2019
// image.
func windowsProps(build, spbuild, arch int, edition string) []string {
	var out []string
	for k, v := range map[string]string{
		"WINDOWS/VERSION/MAJOR": "10", "WINDOWS/VERSION/MINOR": "0",
		"WINDOWS/VERSION/BUILD": fmt.Sprint(build), "WINDOWS/VERSION/SPBUILD": fmt.Sprint(spbuild),
		"WINDOWS/ARCH": fmt.Sprint(arch), "WINDOWS/EDITIONID": edition,
		"DISPLAYNAME": "Windows Server " + edition, "FLAGS": edition + "Core",
	} {
		out = append(out, "--image-property", k+"="+v)
	}
	return out
}

// testTree makes a tree with what a WIM must carry over: nested
// directories, an empty file and directory, hard links, a path longer than
// Windows' MAX_PATH, a relative symlink, a compressible file of several
// LZX chunks, and the registry hives.
func testTree(t *testing.T, seed string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Windows/System32/config/SYSTEM", []byte("regf system hive "+seed))
	write("Windows/System32/config/SOFTWARE", []byte("regf software hive "+seed))
	write("Windows/System32/kernel32.dll", bytes.Repeat([]byte("MZ kernel "+seed+" "), 20000)) // ~300 KiB, 10 chunks
	write("Program Files/App/readme.txt", []byte("hello "+seed+"\n"))
	write("empty.txt", nil)
	// Names that differ only in case, as a Linux tree has them
	// (/usr/share/man/man7/pam.7.gz and PAM.7.gz).
	write("man/pam.7.gz", []byte("lower"))
	write("man/PAM.7.gz", []byte("upper"))
	long := ""
	for i := 0; i < 12; i++ {
		long += fmt.Sprintf("a-rather-long-directory-name-number-%02d/", i)
	}
	write(long+"deep file.txt", []byte("deep "+seed))
	if err := os.MkdirAll(filepath.Join(dir, "Users", "Public", "Empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "Program Files/App/readme.txt"), filepath.Join(dir, "Users/Public/readme-link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("App/readme.txt", filepath.Join(dir, "Program Files/readme-symlink")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// layerEntries reads a gzip layer blob of st: headers by name, contents of
// regular files.
func layerEntries(t *testing.T, st *store.Store, d digest.Digest) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	f, err := st.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, _, err := archive.Decompress(f)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if _, dup := hdrs[name]; dup {
			t.Errorf("layer: %s twice", name)
		}
		hdrs[name] = h
		if h.Typeflag == tar.TypeReg {
			if data[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	return hdrs, data
}

// compareWithApply checks that the layer's Files/ tree is what
// `wimlib-imagex apply` extracts: the same paths, kinds, bytes, symlink
// targets, and hard links where apply made them.
func compareWithApply(t *testing.T, wimPath string, index int, hdrs map[string]*tar.Header, data map[string][]byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "applied")
	wimlib(t, "apply", wimPath, fmt.Sprint(index), out)
	seen := map[string]bool{"Files": true}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == out {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		name := "Files/" + filepath.ToSlash(rel)
		seen[name] = true
		h := hdrs[name]
		if h == nil {
			t.Errorf("%s: applied, not in the layer", name)
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if h.Typeflag != tar.TypeDir {
				t.Errorf("%s: a directory, the layer has type %c", name, h.Typeflag)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			// The layer keeps the Windows form; apply on Linux turns
			// backslashes into slashes.
			if h.Typeflag != tar.TypeSymlink || strings.ReplaceAll(h.Linkname, `\`, "/") != target {
				t.Errorf("%s: symlink to %q, the layer has type %c to %q", name, target, h.Typeflag, h.Linkname)
			}
		default:
			want, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got, first := data[name], name
			if h.Typeflag == tar.TypeLink {
				first = h.Linkname
				got = data[first]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes in the layer differ from the %d applied", name, len(got), len(want))
			}
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if other, ok := inodes[ino]; ok && other != first {
				t.Errorf("%s: applied as a hard link of %s, the layer links it to %s", name, other, first)
			} else if !ok {
				inodes[ino] = first
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range hdrs {
		if strings.HasPrefix(name, "Files/") && !strings.Contains(name, ":") && !seen[name] {
			t.Errorf("%s: in the layer, not applied", name)
		}
	}
}

func install(t *testing.T, st *store.Store, path string, opts Options, ref string) (Result, error) {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	tag := ref[strings.LastIndex(ref, ":")+1:]
	return s.Install(context.Background(), st, ref, tag, false)
}

func TestWIMLayerMatchesApply(t *testing.T) {
	// XPRESS is decoded by package xpress, at its default chunk size and
	// at the least and most wimlib writes.
	for _, comp := range []string{"LZX", "none", "XPRESS", "XPRESS --chunk-size=4096", "XPRESS --chunk-size=65536"} {
		t.Run(comp, func(t *testing.T) {
			wimPath := filepath.Join(t.TempDir(), "os.wim")
			flags := strings.Fields("--compress=" + comp)
			wimlib(t, append(append([]string{"capture", testTree(t, "one"), wimPath, "ServerCore"}, flags...), windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
			wimlib(t, append([]string{"append", testTree(t, "two"), wimPath, "NanoServer"}, windowsProps(17763, 2061, 12, "ServerDatacenterNano")...)...)
			st := openStore(t)
			for i, name := range []string{"ServerCore", "NanoServer"} {
				res, err := install(t, st, wimPath, Options{Image: name}, fmt.Sprintf("localhost/os%d:1", i))
				if err != nil {
					t.Fatalf("install %s: %v", name, err)
				}
				hdrs, data := layerEntries(t, st, res.Layer.Digest)
				compareWithApply(t, wimPath, i+1, hdrs, data)
				// Windows metadata on every entry, and the hives.
				for n, h := range hdrs {
					if strings.Contains(n, ":") {
						continue
					}
					if h.PAXRecords[paxFileAttr] == "" || (strings.HasPrefix(n, "Files/") && h.PAXRecords[paxCreationTime] == "") {
						t.Errorf("%s: PAX records %v lack the Windows attributes or creation time", n, h.PAXRecords)
					}
				}
				if got, want := string(data["Hives/System_Delta"]), string(data["Files/Windows/System32/config/SYSTEM"]); got != want || got == "" {
					t.Errorf("Hives/System_Delta = %q, want the SYSTEM hive %q", got, want)
				}
			}
		})
	}
}

func TestWIMMetadata(t *testing.T) {
	wimPath := filepath.Join(t.TempDir(), "os.wim")
	wimlib(t, append([]string{"capture", testTree(t, "one"), wimPath, "Windows Server 2019 SERVERDATACENTERCORE"}, windowsProps(17763, 1879, 9, "ServerDatacenter")...)...)
	wimlib(t, append([]string{"append", testTree(t, "two"), wimPath, "Nano"}, windowsProps(20348, 5, 12, "ServerDatacenterNano")...)...)

	if _, err := Open(wimPath, Options{}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "--index") {
		t.Errorf("Open of a WIM of two images without a choice: %v, want a not-found error asking for --index", err)
	}
	for _, tc := range []struct {
		opts                            Options
		name, platform, version, defRef string
	}{
		{Options{Index: 1}, "Windows Server 2019 SERVERDATACENTERCORE", "windows/amd64", "10.0.17763.1879", "windows-server-2019-serverdatacentercore"},
		{Options{Image: "nano"}, "Nano", "windows/arm64", "10.0.20348.5", "nano"},
	} {
		s, err := Open(wimPath, tc.opts)
		if err != nil {
			t.Fatalf("Open %+v: %v", tc.opts, err)
		}
		s.Close()
		p := s.Platform
		if s.WIM.Name != tc.name || p.OS+"/"+p.Architecture != tc.platform || p.OSVersion != tc.version || s.Version != tc.version || s.DefaultName != tc.defRef {
			t.Errorf("Open %+v: name %q platform %+v version %q default %q; want %q %s %s %s", tc.opts, s.WIM.Name, p, s.Version, s.DefaultName, tc.name, tc.platform, tc.version, tc.defRef)
		}
		if !strings.HasPrefix(s.WIM.Edition, "ServerDatacenter") || !strings.HasPrefix(s.WIM.DisplayName, "Windows Server ") {
			t.Errorf("Open %+v: edition %q display name %q", tc.opts, s.WIM.Edition, s.WIM.DisplayName)
		}
	}
	if _, err := Open(wimPath, Options{Index: 3}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Open index 3 of 2: %v, want ErrNotFound", err)
	}
}

func TestWIMAlternateDataStreamAndSecurity(t *testing.T) {
	testutil.RequireTool(t, "wimlib-imagex")
	mkntfs, ntfscp := testutil.RequireTool(t, "mkntfs"), testutil.RequireTool(t, "ntfscp")
	dir := t.TempDir()
	vol := filepath.Join(dir, "ntfs.img")
	if err := os.WriteFile(vol, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(vol, 8<<20); err != nil {
		t.Fatal(err)
	}
	main, stream := filepath.Join(dir, "main"), filepath.Join(dir, "stream")
	if err := os.WriteFile(main, []byte("the file's own data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stream, []byte("Zone.Identifier data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{mkntfs, "-F", "-f", "-q", vol},
		{ntfscp, "-q", vol, main, "file.txt"},
		{ntfscp, "-q", "-a", "0x80", "-N", "Zone.Identifier", vol, stream, "file.txt"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	wimPath := filepath.Join(dir, "ads.wim")
	wimlib(t, append([]string{"capture", vol, wimPath, "ADS"}, windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
	st := openStore(t)
	res, err := install(t, st, wimPath, Options{}, "localhost/ads:1")
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := layerEntries(t, st, res.Layer.Digest)
	if got := string(data["Files/file.txt"]); got != "the file's own data\n" {
		t.Errorf("Files/file.txt = %q", got)
	}
	if got := string(data["Files/file.txt:Zone.Identifier"]); got != "Zone.Identifier data\n" {
		t.Errorf("the alternate data stream Files/file.txt:Zone.Identifier = %q", got)
	}
	// An NTFS capture carries security descriptors: raw, base64, as the
	// WIM holds them (a self-relative SECURITY_DESCRIPTOR, revision 1).
	sd := hdrs["Files/file.txt"].PAXRecords[paxRawSD]
	if sd == "" || !strings.HasPrefix(sd, "AQ") {
		t.Errorf("Files/file.txt: MSWINDOWS.rawsd = %q, want a base64 security descriptor", sd)
	}
}

// lookupTable returns the offset of the uncompressed lookup table of the
// WIM data and its entries.
func lookupTable(t *testing.T, data []byte) (int64, []lookupEntry) {
	t.Helper()
	var h wimHeader
	if err := binary.Read(bytes.NewReader(data), binary.LittleEndian, &h); err != nil {
		t.Fatal(err)
	}
	if h.LookupTable.compressed() {
		t.Fatal("lookup table compressed")
	}
	n := h.LookupTable.size() / int64(binary.Size(lookupEntry{}))
	entries := make([]lookupEntry, n)
	if err := binary.Read(bytes.NewReader(data[h.LookupTable.Offset:]), binary.LittleEndian, entries); err != nil {
		t.Fatal(err)
	}
	return h.LookupTable.Offset, entries
}

func TestWIMBrokenLeavesStoreUnchanged(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.wim")
	wimlib(t, append([]string{"capture", testTree(t, "c"), good, "C", "--compress=none"}, windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tableAt, entries := lookupTable(t, data)
	entrySize := int64(binary.Size(lookupEntry{}))
	stream := -1
	for i, e := range entries {
		if e.Res.flags()&resMetadata == 0 && e.Res.OriginalSize > 1000 {
			stream = i
		}
	}
	if stream < 0 {
		t.Fatal("no stream of over 1000 bytes")
	}
	variant := variants(t, dir, data)
	refusedAll(t, good, []brokenCase{
		{"truncated", errdefs.ErrCorrupt, variant("truncated.wim", func(b []byte) []byte { return b[:len(b)*6/10] }), layer.Limits{}},
		{"content flipped", errdefs.ErrCorrupt, variant("flipped.wim", func(b []byte) []byte {
			off := entries[stream].Res.Offset + 100
			b[off] ^= 0xff
			return b
		}), layer.Limits{}},
		{"header magic only", errdefs.ErrCorrupt, variant("header.wim", func(b []byte) []byte { return b[:100] }), layer.Limits{}},
		{"bomb: a stream declares 1 TiB", errdefs.ErrUnsafe, variant("bomb.wim", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[tableAt+int64(stream)*entrySize+16:], 1<<40)
			return b
		}), layer.Limits{}},
		{"bomb: more than the byte limit", errdefs.ErrUnsafe, good, layer.Limits{MaxBytes: 64 << 10}},
		{"bomb: more than the entry limit", errdefs.ErrUnsafe, good, layer.Limits{MaxEntries: 10}},
	})
}

// brokenCase is a damaged WIM (or a good one under tight limits) and the
// error installing it must give.
type brokenCase struct {
	name string
	want error
	path string
	lim  layer.Limits
}

// variants returns a function that writes data, changed by mutate, to
// dir/name and returns its path.
func variants(t *testing.T, dir string, data []byte) func(name string, mutate func(b []byte) []byte) string {
	return func(name string, mutate func(b []byte) []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, mutate(bytes.Clone(data)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// refusedAll runs refusedUnchanged for each case, in a subtest.
func refusedAll(t *testing.T, good string, cases []brokenCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { refusedUnchanged(t, good, tc.path, tc.lim, tc.want) })
	}
}

// refusedUnchanged installs the WIM good into a new store, then checks
// that installing broken fails with want and leaves the store as it was.
func refusedUnchanged(t *testing.T, good, broken string, lim layer.Limits, want error) {
	t.Helper()
	st := openStore(t)
	if _, err := install(t, st, good, Options{}, "localhost/keep:1"); err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, st.Root())
	_, err := install(t, st, broken, Options{Limits: lim}, "localhost/broken:1")
	if !errors.Is(err, want) {
		t.Fatalf("install: %v, want %v", err, want)
	}
	if after := treeOf(t, st.Root()); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}
}

// treeOf lists the files of a store and their sizes (leases and the lock
// aside).
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "leases") || filepath.Base(p) == "lock" {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s:%d ", rel, fi.Size())
		return nil
	})
	return b.String()
}

// TestWIMColonNameRefusedClearly: a WIM captured from a Linux tree may hold
// a name with ":" (dpkg's "libc6:amd64.list"), which a Windows layer would
// read as an alternate data stream: refused as invalid, not as corrupt.
func TestWIMColonNameRefusedClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "libc6:amd64.list"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wimPath := filepath.Join(t.TempDir(), "colon.wim")
	wimlib(t, append([]string{"capture", dir, wimPath, "Colon"}, windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
	_, err := install(t, openStore(t), wimPath, Options{}, "localhost/colon:1")
	if !errors.Is(err, errdefs.ErrInvalid) || errors.Is(err, errdefs.ErrCorrupt) || !strings.Contains(err.Error(), "libc6:amd64.list") {
		t.Fatalf("install: %v, want ErrInvalid naming the file", err)
	}
}
