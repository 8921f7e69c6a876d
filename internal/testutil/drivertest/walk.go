package drivertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var walkTests = []test{
	{"WalkOrder", testWalkOrder},
	{"WalkSkipDirAndStop", testWalkSkipDirAndStop},
	{"WalkMissing", testWalkMissing},
	{"WalkCallbackMayModify", testWalkCallbackMayModify},
}

var openTests = []test{
	{"OpenSeek", testOpenSeek},
	{"OpenServesRanges", testOpenServesRanges},
	{"OpenMissing", testOpenMissing},
}

func walker(t *testing.T, d storagedriver.Driver) storagedriver.Walker {
	wk, ok := d.(storagedriver.Walker)
	if !ok {
		t.Skip("driver does not implement Walker")
	}
	return wk
}

// walkTree is the tree of the Walk tests; its names straddle '/' in byte
// order: '-' (0x2d) and '.' (0x2e) sort before it, '0' (0x30) after.
var walkTree = []string{"/w/a/x", "/w/a-c", "/w/a.c", "/w/a0", "/w/b/c/d", "/w/b/e", "/w/A", "/wa/z"}

// walkPaths walks p and returns the visited paths, directories marked with a
// trailing "/".
func walkPaths(t *testing.T, wk storagedriver.Walker, p string, fn storagedriver.WalkFunc) ([]string, error) {
	var got []string
	err := wk.Walk(t.Context(), p, func(fi storagedriver.FileInfo) error {
		s := fi.Path
		if fi.IsDir {
			s += "/"
		}
		got = append(got, s)
		if fn != nil {
			return fn(fi)
		}
		return nil
	})
	return got, err
}

// testWalkOrder proves that Walk visits everything below its path, and not
// the path itself or siblings sharing its prefix, in byte-wise order of paths
// where a directory sorts as its path plus "/", parents before children; and
// that it reports sizes and times of files.
func testWalkOrder(t *testing.T, d storagedriver.Driver) {
	wk := walker(t, d)
	for _, p := range walkTree {
		putString(t, d, p, p)
	}
	want := []string{"/w/A", "/w/a-c", "/w/a.c", "/w/a/", "/w/a/x", "/w/a0", "/w/b/", "/w/b/c/", "/w/b/c/d", "/w/b/e"}
	got, err := walkPaths(t, wk, "/w", func(fi storagedriver.FileInfo) error {
		if !fi.IsDir && (fi.Size != int64(len(fi.Path)) || fi.ModTime.IsZero()) {
			t.Errorf("Walk reported %+v, want size %d and a modification time", fi, len(fi.Path))
		}
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Walk(/w) = %q, %v\nwant %q", got, err, want)
	}
	got, err = walkPaths(t, wk, "/", nil)
	want = append(append([]string{"/w/"}, want...), "/wa/", "/wa/z")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Walk(/) = %q, %v\nwant %q", got, err, want)
	}
}

// testWalkSkipDirAndStop proves that ErrSkipDir for a directory skips only
// its contents, and that any other error stops the walk at once and is
// returned.
func testWalkSkipDirAndStop(t *testing.T, d storagedriver.Driver) {
	wk := walker(t, d)
	for _, p := range walkTree {
		putString(t, d, p, p)
	}
	got, err := walkPaths(t, wk, "/w", func(fi storagedriver.FileInfo) error {
		if fi.Path == "/w/a" || fi.Path == "/w/b/c" {
			return storagedriver.ErrSkipDir
		}
		return nil
	})
	want := []string{"/w/A", "/w/a-c", "/w/a.c", "/w/a/", "/w/a0", "/w/b/", "/w/b/c/", "/w/b/e"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Walk skipping /w/a and /w/b/c = %q, %v\nwant %q", got, err, want)
	}

	errStop := errors.New("stop here")
	got, err = walkPaths(t, wk, "/w", func(fi storagedriver.FileInfo) error {
		if fi.Path == "/w/a/x" {
			return errStop
		}
		return nil
	})
	wantErr(t, "Walk stopped by the callback", err, errStop)
	if want := []string{"/w/A", "/w/a-c", "/w/a.c", "/w/a/", "/w/a/x"}; !slices.Equal(got, want) {
		t.Errorf("Walk stopped at /w/a/x visited %q, want %q", got, want)
	}
}

// testWalkMissing proves that walking a missing path or a file is
// ErrPathNotFound, and that walking an empty root visits nothing.
func testWalkMissing(t *testing.T, d storagedriver.Driver) {
	wk := walker(t, d)
	got, err := walkPaths(t, wk, "/", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Walk of an empty root = %q, %v; want nothing", got, err)
	}
	putString(t, d, "/file", "x")
	for _, p := range []string{"/missing", "/file"} {
		_, err := walkPaths(t, wk, p, nil)
		wantErr(t, "Walk("+p+")", err, storagedriver.ErrPathNotFound)
	}
}

// testWalkCallbackMayModify proves that the callback may use the driver,
// here deleting every file it is shown (as garbage collection does), without
// deadlock or error, and that the walk then leaves nothing behind.
func testWalkCallbackMayModify(t *testing.T, d storagedriver.Driver) {
	wk := walker(t, d)
	for _, p := range walkTree {
		putString(t, d, p, p)
	}
	deleted := 0
	_, err := walkPaths(t, wk, "/", func(fi storagedriver.FileInfo) error {
		if fi.IsDir {
			return nil
		}
		deleted++
		return d.Delete(t.Context(), fi.Path)
	})
	if err != nil {
		t.Fatalf("Walk deleting as it goes: %v", err)
	}
	if deleted != len(walkTree) {
		t.Errorf("Walk showed %d files, want %d", deleted, len(walkTree))
	}
	wantList(t, d, "/")
}

func opener(t *testing.T, d storagedriver.Driver) storagedriver.Opener {
	op, ok := d.(storagedriver.Opener)
	if !ok {
		t.Skip("driver does not implement Opener")
	}
	return op
}

// testOpenSeek proves that Open gives random access: reads after seeks from
// the start, the current position and the end match the content.
func testOpenSeek(t *testing.T, d storagedriver.Driver) {
	op := opener(t, d)
	content := prngBytes(t, 4, 5000)
	put(t, d, "/o/f", content)
	f, err := op.Open(t.Context(), "/o/f")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	steps := []struct {
		off    int64
		whence int
		pos    int64
		n      int
	}{
		{1234, io.SeekStart, 1234, 100},
		{10, io.SeekCurrent, 1344, 56},
		{-10, io.SeekEnd, 4990, 10},
		{0, io.SeekStart, 0, 5000},
	}
	for _, s := range steps {
		pos, err := f.Seek(s.off, s.whence)
		if err != nil || pos != s.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", s.off, s.whence, pos, err, s.pos)
		}
		buf := make([]byte, s.n)
		if _, err := io.ReadFull(f, buf); err != nil {
			t.Fatalf("read %d at %d: %v", s.n, pos, err)
		}
		if !bytes.Equal(buf, content[pos:pos+int64(s.n)]) {
			t.Errorf("read %d at %d differs from the content", s.n, pos)
		}
	}
	if n, err := f.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at end = %d, %v; want io.EOF", n, err)
	}
}

// testOpenServesRanges proves that an opened file serves HTTP range requests
// through http.ServeContent, the way blobs are pulled.
func testOpenServesRanges(t *testing.T, d storagedriver.Driver) {
	op := opener(t, d)
	content := prngBytes(t, 5, 3000)
	put(t, d, "/o/blob", content)
	f, err := op.Open(t.Context(), "/o/blob")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	req := httptest.NewRequest(http.MethodGet, "/blob", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	rec := httptest.NewRecorder()
	http.ServeContent(rec, req, "", time.Time{}, f)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), content[1000:2000]) {
		t.Errorf("range request: status %d, %d bytes; want 206 with content[1000:2000]", rec.Code, rec.Body.Len())
	}
}

// testOpenMissing proves that Open of a missing path, a directory or a write
// not yet committed is ErrPathNotFound.
func testOpenMissing(t *testing.T, d storagedriver.Driver) {
	op := opener(t, d)
	putString(t, d, "/o/dir/f", "x")
	w := newWriter(t, d, "/o/pending", false)
	write(t, w, "not yet")
	closeW(t, w)
	for _, p := range []string{"/o/missing", "/o/dir", "/o/pending"} {
		f, err := op.Open(t.Context(), p)
		if err == nil {
			f.Close()
		}
		wantErr(t, "Open("+p+")", err, storagedriver.ErrPathNotFound)
	}
}
