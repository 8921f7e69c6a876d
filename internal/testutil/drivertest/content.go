package drivertest

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

var contentTests = []test{
	{"Name", testName},
	{"ContentRoundTrip", testContentRoundTrip},
	{"PutContentOverwrite", testPutContentOverwrite},
	{"PutContentCreatesParents", testPutContentCreatesParents},
	{"GetContentMissing", testGetContentMissing},
	{"ReaderOffsets", testReaderOffsets},
	{"LargeStreamedWrite", testLargeStreamedWrite},
}

// testName proves the driver names itself for logs.
func testName(t *testing.T, d storagedriver.Driver) {
	if d.Name() == "" {
		t.Fatal("Name() is empty")
	}
}

// testContentRoundTrip proves that GetContent returns exactly what PutContent
// stored, for empty, nil, text, every byte value and a megabyte of noise, and
// that Stat reports its size.
func testContentRoundTrip(t *testing.T, d storagedriver.Driver) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	cases := []struct {
		name    string
		content []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"text", []byte("hello, world\n")},
		{"bytes", every},
		{"noise", prngBytes(t, 1, 1<<20)},
	}
	for _, c := range cases {
		p := "/roundtrip/" + c.name
		put(t, d, p, c.content)
		if got := get(t, d, p); !bytes.Equal(got, c.content) {
			t.Errorf("%s: GetContent = %q (%d bytes), want %d bytes", c.name, clip(got), len(got), len(c.content))
		}
		fi, err := d.Stat(t.Context(), p)
		if err != nil {
			t.Fatalf("%s: Stat: %v", c.name, err)
		}
		if fi.IsDir || fi.Size != int64(len(c.content)) || fi.Path != p {
			t.Errorf("%s: Stat = %+v, want a file of %d bytes at %s", c.name, fi, len(c.content), p)
		}
	}
}

// testPutContentOverwrite proves that PutContent replaces content whole:
// no tail of a longer old version survives a shorter new one.
func testPutContentOverwrite(t *testing.T, d storagedriver.Driver) {
	for _, s := range []string{"first version, rather long", "second", "", "third, longer than the second"} {
		putString(t, d, "/overwrite", s)
		wantContent(t, d, "/overwrite", s)
	}
}

// testPutContentCreatesParents proves that storing a deep path makes every
// parent a listable directory.
func testPutContentCreatesParents(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/p/q/r/s", "deep")
	for _, dir := range []string{"/p", "/p/q", "/p/q/r"} {
		fi, err := d.Stat(t.Context(), dir)
		if err != nil || !fi.IsDir {
			t.Errorf("Stat(%q) = %+v, %v; want a directory", dir, fi, err)
		}
	}
	wantList(t, d, "/p/q", "/p/q/r")
	wantContent(t, d, "/p/q/r/s", "deep")
}

// testGetContentMissing proves that absent files, directories and paths
// below a file are ErrPathNotFound, not empty content.
func testGetContentMissing(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/dir/file", "x")
	for _, p := range []string{"/missing", "/dir", "/dir/file/below", "/dir/fil"} {
		_, err := d.GetContent(t.Context(), p)
		wantErr(t, "GetContent("+p+")", err, storagedriver.ErrPathNotFound)
	}
}

// testReaderOffsets proves that Reader starts exactly at the offset, that the
// end of the file is a valid (empty) offset, and that offsets past the end or
// negative are ErrInvalidOffset while missing paths are ErrPathNotFound.
func testReaderOffsets(t *testing.T, d storagedriver.Driver) {
	const n = 10_000
	content := prngBytes(t, 2, n)
	put(t, d, "/reader/file", content)
	put(t, d, "/reader/empty", nil)
	for _, off := range []int64{0, 1, n / 2, n - 1, n} {
		rc, err := d.Reader(t.Context(), "/reader/file", off)
		if err != nil {
			t.Fatalf("Reader at %d: %v", off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if !bytes.Equal(got, content[off:]) {
			t.Errorf("Reader at %d returned %d bytes that differ from content[%d:] (%d bytes)", off, len(got), off, n-off)
		}
	}
	rc, err := d.Reader(t.Context(), "/reader/empty", 0)
	if err != nil {
		t.Fatalf("Reader of empty file at 0: %v", err)
	}
	if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Errorf("empty file read %q, %v", got, err)
	}
	rc.Close()

	bad := []struct {
		p    string
		off  int64
		want error
	}{
		{"/reader/file", n + 1, storagedriver.ErrInvalidOffset},
		{"/reader/file", 1 << 40, storagedriver.ErrInvalidOffset},
		{"/reader/file", -1, storagedriver.ErrInvalidOffset},
		{"/reader/empty", 1, storagedriver.ErrInvalidOffset},
		{"/reader/missing", 0, storagedriver.ErrPathNotFound},
		{"/reader", 0, storagedriver.ErrPathNotFound},
	}
	for _, b := range bad {
		rc, err := d.Reader(t.Context(), b.p, b.off)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "Reader("+b.p+")", err, b.want)
	}
}

// testLargeStreamedWrite proves that a large file written in odd-sized chunks
// over two writer sessions reads back bit for bit, from the start and from
// an offset. The data is generated and hashed as a stream.
func testLargeStreamedWrite(t *testing.T, d storagedriver.Driver) {
	size := int64(64 << 20)
	if testing.Short() {
		size = 8 << 20
	}
	const seed = 3
	const p = "/large/data"
	src := prng(seed, size)
	chunks := []int{1, 4093, 65537, 1<<20 + 7, 333_333, 17}
	buf := make([]byte, 1<<20+7)
	written := int64(0)
	writeUntil := func(w storagedriver.FileWriter, limit int64) {
		t.Helper()
		for i := 0; written < limit; i++ {
			n := int64(chunks[i%len(chunks)])
			n = min(n, limit-written)
			if _, err := io.ReadFull(src, buf[:n]); err != nil {
				t.Fatal(err)
			}
			if m, err := w.Write(buf[:n]); err != nil || int64(m) != n {
				t.Fatalf("Write of %d bytes at %d = %d, %v", n, written, m, err)
			}
			written += n
		}
	}

	w := newWriter(t, d, p, false)
	writeUntil(w, size/2+3)
	wantSize(t, w, written)
	closeW(t, w)
	w = newWriter(t, d, p, true)
	wantSize(t, w, written)
	writeUntil(w, size)
	wantSize(t, w, size)
	commit(t, w)

	fi, err := d.Stat(t.Context(), p)
	if err != nil || fi.Size != size {
		t.Fatalf("Stat = %+v, %v; want %d bytes", fi, err, size)
	}
	for _, off := range []int64{0, size/3 + 1} {
		want := sha256.New()
		ref := prng(seed, size)
		if _, err := io.CopyN(io.Discard, ref, off); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(want, ref); err != nil {
			t.Fatal(err)
		}
		rc, err := d.Reader(t.Context(), p, off)
		if err != nil {
			t.Fatalf("Reader at %d: %v", off, err)
		}
		got := sha256.New()
		n, err := io.Copy(got, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if n != size-off || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Errorf("from offset %d read %d bytes hashing %x, want %d bytes hashing %x", off, n, got.Sum(nil), size-off, want.Sum(nil))
		}
	}
}
