package drivertest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var treeTests = []test{
	{"StatFileAndDirectory", testStat},
	{"StatPrefixTrap", testStatPrefixTrap},
	{"StatFileOnly", testStatFileOnly},
	{"ListSorted", testListSorted},
	{"ListRoot", testListRoot},
	{"ListMissing", testListMissing},
	{"ListPrefixTrap", testListPrefixTrap},
	{"ListBeyondOnePage", testListBeyondOnePage},
	{"Move", testMove},
	{"MoveMissingOrDirectory", testMoveMissingOrDirectory},
	{"DeleteRecursive", testDeleteRecursive},
	{"DeletePrefixTrap", testDeletePrefixTrap},
	{"DeleteRemovesEmptiedDirectories", testDeleteRemovesEmptiedDirectories},
	{"DeleteDiscardsPendingWrites", testDeleteDiscardsPendingWrites},
}

// testStat proves that Stat describes files (path, size, a plausible
// modification time) and directories, including the root, and follows an
// overwrite.
func testStat(t *testing.T, d storagedriver.Driver) {
	start := time.Now()
	putString(t, d, "/s/dir/file", "12345")
	fi, err := d.Stat(t.Context(), "/s/dir/file")
	if err != nil {
		t.Fatalf("Stat of file: %v", err)
	}
	if fi.Path != "/s/dir/file" || fi.IsDir || fi.Size != 5 {
		t.Errorf("Stat of file = %+v, want a 5-byte file at /s/dir/file", fi)
	}
	// Object stores keep seconds and clocks drift; a minute either way
	// still catches a zero or garbage time.
	if fi.ModTime.Before(start.Add(-time.Minute)) || fi.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("Stat of file: ModTime %v, want about %v", fi.ModTime, start)
	}
	for _, dir := range []string{"/s/dir", "/s", "/"} {
		fi, err := d.Stat(t.Context(), dir)
		if err != nil || !fi.IsDir || fi.Path != dir {
			t.Errorf("Stat(%q) = %+v, %v; want a directory", dir, fi, err)
		}
	}
	putString(t, d, "/s/dir/file", "1234567890")
	if fi, err := d.Stat(t.Context(), "/s/dir/file"); err != nil || fi.Size != 10 {
		t.Errorf("Stat after overwrite = %+v, %v; want 10 bytes", fi, err)
	}
	wantNotFound(t, d, "/s/missing")
	wantNotFound(t, d, "/s/dir/file/below")
}

// testStatPrefixTrap proves that Stat of a directory does not mistake a
// sibling that merely shares its prefix ("/a-b", "/ab") for it, the trap of a
// listing limited to one key.
func testStatPrefixTrap(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/st/a-b/c", "x")
	putString(t, d, "/st/a.b/c", "x")
	putString(t, d, "/st/ab", "x")
	for _, p := range []string{"/st/a", "/st/a-", "/st/a."} {
		wantNotFound(t, d, p)
	}
	putString(t, d, "/st/a/z", "x")
	if fi, err := d.Stat(t.Context(), "/st/a"); err != nil || !fi.IsDir {
		t.Errorf("Stat(/st/a) = %+v, %v; want a directory", fi, err)
	}
}

// testStatFileOnly proves that storagedriver.StatFile (the driver's
// FileStatter, or Stat) describes a file as Stat does, and answers
// ErrPathNotFound for a directory, the root and a missing path alike.
func testStatFileOnly(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/sf/dir/file", "12345")
	want, err := d.Stat(t.Context(), "/sf/dir/file")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := storagedriver.StatFile(t.Context(), d, "/sf/dir/file")
	if err != nil || fi.Path != want.Path || fi.IsDir || fi.Size != 5 || !fi.ModTime.Equal(want.ModTime) {
		t.Errorf("StatFile of file = %+v, %v; want %+v", fi, err, want)
	}
	for _, p := range []string{"/sf/dir", "/sf", "/sf/missing", "/sf/dir/file/below"} {
		if fi, err := storagedriver.StatFile(t.Context(), d, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("StatFile(%q) = %+v, %v; want ErrPathNotFound", p, fi, err)
		}
	}
}

// testListSorted proves that List returns the full paths of direct children
// only, each directory once, sorted byte-wise (uppercase before '_' before
// lowercase, "a" before "a-c" before "a.c").
func testListSorted(t *testing.T, d storagedriver.Driver) {
	for _, name := range []string{"b", "a-c", "a.c", "A", "0", "_x", "B", "a/nested", "a/deeper/x"} {
		putString(t, d, "/l/"+name, name)
	}
	wantList(t, d, "/l", "/l/0", "/l/A", "/l/B", "/l/_x", "/l/a", "/l/a-c", "/l/a.c", "/l/b")
	wantList(t, d, "/l/a", "/l/a/deeper", "/l/a/nested")
}

// testListRoot proves that the root lists as empty (not missing) in an empty
// driver, and lists top-level files and directories otherwise.
func testListRoot(t *testing.T, d storagedriver.Driver) {
	got, err := d.List(t.Context(), "/")
	if err != nil || len(got) != 0 {
		t.Fatalf("List(/) of an empty driver = %q, %v; want nothing, no error", got, err)
	}
	putString(t, d, "/z", "file")
	putString(t, d, "/x/y", "nested")
	wantList(t, d, "/", "/x", "/z")
}

// testListMissing proves that listing a missing path or a file is
// ErrPathNotFound.
func testListMissing(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/f", "file")
	for _, p := range []string{"/missing", "/f", "/f/below"} {
		_, err := d.List(t.Context(), p)
		wantErr(t, "List("+p+")", err, storagedriver.ErrPathNotFound)
	}
}

// testListPrefixTrap proves that List of "/a" holds only what is below "/a/",
// not "/ab", "/a-b" or "/a.b".
func testListPrefixTrap(t *testing.T, d storagedriver.Driver) {
	for _, p := range []string{"/pt/a/x", "/pt/ab/y", "/pt/a-b/z", "/pt/a.b", "/pt/abc"} {
		putString(t, d, p, p)
	}
	wantList(t, d, "/pt/a", "/pt/a/x")
}

// testListBeyondOnePage proves that List returns every child, sorted, when
// there are more than an object store returns per page (1,000 for S3), and
// nothing of sibling prefixes.
func testListBeyondOnePage(t *testing.T, d storagedriver.Driver) {
	const n = 1200
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("/many/f%d", i)) // f1, f10, f100: byte order is not numeric order
	}
	putAll(t, d, want)
	putString(t, d, "/many-sibling/x", "x")
	putString(t, d, "/manyx", "x")
	slices.Sort(want)
	got := list(t, d, "/many")
	if !slices.Equal(got, want) {
		t.Fatalf("List(/many) returned %d paths (sorted: %v), want %d sorted", len(got), slices.IsSorted(got), len(want))
	}
}

// putAll stores each path's own name as its content, a few at a time.
func putAll(t *testing.T, d storagedriver.Driver, paths []string) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 8 {
		wg.Go(func() {
			for p := range next {
				if err := d.PutContent(t.Context(), p, []byte(p)); err != nil {
					t.Errorf("PutContent(%q): %v", p, err)
				}
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// testMove proves that Move renames a file into a new deep directory, that
// it replaces an existing destination, that the source is gone afterwards,
// and that a directory it empties disappears.
func testMove(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/m/src", "content")
	if err := d.Move(t.Context(), "/m/src", "/m/deep/er/dst"); err != nil {
		t.Fatalf("Move: %v", err)
	}
	wantContent(t, d, "/m/deep/er/dst", "content")
	wantNotFound(t, d, "/m/src")
	_, err := d.GetContent(t.Context(), "/m/src")
	wantErr(t, "GetContent of moved source", err, storagedriver.ErrPathNotFound)

	putString(t, d, "/m/a", "the content of a")
	putString(t, d, "/m/b", "b's")
	if err := d.Move(t.Context(), "/m/a", "/m/b"); err != nil {
		t.Fatalf("Move over existing: %v", err)
	}
	wantContent(t, d, "/m/b", "the content of a")
	wantNotFound(t, d, "/m/a")

	putString(t, d, "/mv/only/f", "f")
	if err := d.Move(t.Context(), "/mv/only/f", "/mv/elsewhere"); err != nil {
		t.Fatalf("Move out of directory: %v", err)
	}
	wantNotFound(t, d, "/mv/only")
	wantList(t, d, "/mv", "/mv/elsewhere")
}

// testMoveMissingOrDirectory proves that moving a missing source or a
// directory is ErrPathNotFound and changes nothing.
func testMoveMissingOrDirectory(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/m/dst", "untouched")
	err := d.Move(t.Context(), "/m/none", "/m/dst")
	wantErr(t, "Move of missing source", err, storagedriver.ErrPathNotFound)
	wantContent(t, d, "/m/dst", "untouched")

	putString(t, d, "/m/dir/f", "f")
	err = d.Move(t.Context(), "/m/dir", "/m/dir2")
	wantErr(t, "Move of a directory", err, storagedriver.ErrPathNotFound)
	wantContent(t, d, "/m/dir/f", "f")
	wantNotFound(t, d, "/m/dir2")
}

// testDeleteRecursive proves that Delete removes a file, and a directory
// with everything below it, and that deleting what is absent (or already
// deleted) is ErrPathNotFound.
func testDeleteRecursive(t *testing.T, d storagedriver.Driver) {
	files := []string{"/d/dir/a", "/d/dir/sub/b", "/d/dir/sub/deeper/c"}
	for _, p := range append(files, "/d/keep", "/d/file") {
		putString(t, d, p, p)
	}
	if err := d.Delete(t.Context(), "/d/dir"); err != nil {
		t.Fatalf("Delete of directory: %v", err)
	}
	for _, p := range append(files, "/d/dir", "/d/dir/sub") {
		wantNotFound(t, d, p)
	}
	if err := d.Delete(t.Context(), "/d/file"); err != nil {
		t.Fatalf("Delete of file: %v", err)
	}
	wantNotFound(t, d, "/d/file")
	wantList(t, d, "/d", "/d/keep")
	for _, p := range []string{"/d/dir", "/d/file", "/missing", "/d/keep/below"} {
		wantErr(t, "Delete("+p+")", d.Delete(t.Context(), p), storagedriver.ErrPathNotFound)
	}
}

// testDeletePrefixTrap proves that deleting "/a" spares "/ab", "/a-b",
// "/a.b" and "/abc/…", whether "/a" is a directory or a file.
func testDeletePrefixTrap(t *testing.T, d storagedriver.Driver) {
	for _, p := range []string{"/t/a/x", "/t/ab", "/t/a-b/c", "/t/a.b", "/t/abc/d"} {
		putString(t, d, p, p)
	}
	if err := d.Delete(t.Context(), "/t/a"); err != nil {
		t.Fatalf("Delete(/t/a): %v", err)
	}
	wantList(t, d, "/t", "/t/a-b", "/t/a.b", "/t/ab", "/t/abc")
	if err := d.Delete(t.Context(), "/t/ab"); err != nil {
		t.Fatalf("Delete(/t/ab): %v", err)
	}
	wantList(t, d, "/t", "/t/a-b", "/t/a.b", "/t/abc")
	wantContent(t, d, "/t/abc/d", "/t/abc/d")
}

// testDeleteRemovesEmptiedDirectories proves that directories left empty by
// a Delete disappear up to the first one still holding something.
func testDeleteRemovesEmptiedDirectories(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/e/x/y/only", "x")
	putString(t, d, "/e/other", "o")
	if err := d.Delete(t.Context(), "/e/x/y/only"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, d, "/e/x/y")
	wantNotFound(t, d, "/e/x")
	wantList(t, d, "/e", "/e/other")
}

// testDeleteDiscardsPendingWrites proves that deleting a directory (an
// upload being purged) discards the pending writes below it, so they cannot
// be resumed.
func testDeleteDiscardsPendingWrites(t *testing.T, d storagedriver.Driver) {
	w := newWriter(t, d, "/up/1/data", false)
	write(t, w, "abc")
	closeW(t, w)
	putString(t, d, "/up/1/startedat", "now")
	if err := d.Delete(t.Context(), "/up/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := d.Writer(t.Context(), "/up/1/data", true)
	wantErr(t, "Writer(append) after Delete of its directory", err, storagedriver.ErrPathNotFound)
	wantNotFound(t, d, "/up/1/data")
}
