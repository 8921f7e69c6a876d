package layer

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRecordTreeRacyEntries: a file whose recorded stats are not from
// before the record began (it may have changed in the same clock tick
// without a trace in its stats) is hashed again; one recorded safely
// before keeps its recorded hash without being read.
func TestRecordTreeRacyEntries(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := RecordTree(ctx, dir, Record{})
	if err != nil {
		t.Fatal(err)
	}
	f := rec.ByPath()["f"]
	if f == nil || f.SHA256 == "" || rec.Began == 0 {
		t.Fatalf("record: %+v", rec)
	}
	if f.Ctime > rec.Began {
		t.Errorf("the record began at %d, before the ctime %d of a file made earlier", rec.Began, f.Ctime)
	}
	// A recorded hash that is not the content's tells which one was used.
	const stale = "0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		name    string
		began   int64
		trusted bool
	}{
		{"recorded well before the record began", f.Ctime + int64(racyWindow) + 1, true},
		{"recorded within the racy window before the record began", f.Ctime + int64(racyWindow), false},
		{"recorded in the tick the record began", f.Ctime, false},
		{"from a record without its start", 0, false},
	} {
		prev := Record{Files: slices.Clone(rec.Files), Began: tc.began}
		prev.ByPath()["f"].SHA256 = stale
		cur, err := RecordTree(ctx, dir, prev)
		if err != nil {
			t.Fatal(err)
		}
		if got := cur.ByPath()["f"].SHA256; (got == stale) != tc.trusted {
			t.Errorf("%s: hash %s, want the recorded one: %v", tc.name, got, tc.trusted)
		}
	}
}

// TestRecordTreeFileRewrittenInRecordTick: the same size, the mtime set
// back and (as when the rewrite falls in the clock tick of the record)
// the recorded ctime equal to the new one: the change is still found.
func TestRecordTreeFileRewrittenInRecordTick(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := RecordTree(ctx, dir, Record{})
	if err != nil {
		t.Fatal(err)
	}
	old := rec.ByPath()["f"]
	if err := os.WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(0, old.Mtime)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	now, err := RecordTree(ctx, dir, Record{})
	if err != nil {
		t.Fatal(err)
	}
	nf := now.ByPath()["f"]
	if nf.Ino != old.Ino || nf.Size != old.Size || nf.Mtime != old.Mtime {
		t.Fatalf("setup: stats %+v, recorded %+v", nf, old)
	}
	old.Ctime = nf.Ctime // the rewrite's tick was the record's
	cur, err := RecordTree(ctx, dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	changes, st := DiffTrees(rec.ByPath(), cur.Files)
	if len(changes) != 1 || changes[0].path != "f" || changes[0].kind != changeModify || st.Modified != 1 {
		t.Errorf("changes %v, %+v; want f modified", changes, st)
	}
}

// TestDiffTreesIgnoresInodes: a directory deleted and made again with
// none of its entries left gives the same layer whether or not it got its
// inode number back, and so does one emptied in place: the directory, its
// opaque marker, what it holds now. An empty directory made again is no
// change at all.
func TestDiffTreesIgnoresInodes(t *testing.T) {
	dirMeta := func(p string, ino uint64) FileMeta { return FileMeta{Path: p, Kind: kindDir, Mode: 0o755, Ino: ino} }
	fileMeta := func(p, h string, ino uint64) FileMeta {
		return FileMeta{Path: p, Kind: kindFile, Mode: 0o644, Size: 1, SHA256: h, Ino: ino, Nlink: 1}
	}
	old := Record{Files: []FileMeta{
		dirMeta(".", 1), dirMeta("d", 2), fileMeta("d/old", "o", 3), dirMeta("d/sub", 4), fileMeta("d/sub/x", "x", 5),
		dirMeta("e", 6), fileMeta("e/keep", "k", 7), fileMeta("e/gone", "g", 8), dirMeta("empty", 9),
	}}.ByPath()
	replaced := []string{"d/", "d/.wh..wh..opq", "d/fresh", "e/.wh.gone"}
	for _, tc := range []struct {
		name string
		cur  []FileMeta
		want []string
	}{
		{"other inode", []FileMeta{dirMeta(".", 1), dirMeta("d", 20), fileMeta("d/fresh", "f", 21),
			dirMeta("e", 6), fileMeta("e/keep", "k", 7), dirMeta("empty", 22)}, replaced},
		{"inode reused", []FileMeta{dirMeta(".", 1), dirMeta("d", 2), fileMeta("d/fresh", "f", 3),
			dirMeta("e", 6), fileMeta("e/keep", "k", 7), dirMeta("empty", 9)}, replaced},
		{"emptied in place", []FileMeta{dirMeta(".", 1), dirMeta("d", 2),
			dirMeta("e", 6), fileMeta("e/keep", "k", 7), dirMeta("empty", 9)},
			[]string{"d/", "d/.wh..wh..opq", "e/.wh.gone"}},
	} {
		changes, _ := DiffTrees(old, tc.cur)
		var got []string
		for _, c := range changes {
			got = append(got, entryName(c))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// entryName is the name c is written under in a layer.
func entryName(c Change) string {
	switch {
	case c.kind == changeOpaque:
		return path.Join(c.path, whiteoutOpaque)
	case c.kind == changeWhiteout:
		return path.Join(path.Dir(c.path), whiteoutPrefix+path.Base(c.path))
	case c.meta.Kind == kindDir:
		return c.path + "/"
	}
	return c.path
}
