package filesystem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

func rec(epoch, seq uint64, levels ...[]storagedriver.Content) []byte {
	b, _ := encodeRecord(levels, -1)
	sealRecord(b, epoch, seq)
	return b
}

func put(p, data string) storagedriver.Content {
	return storagedriver.Content{Path: p, Data: []byte(data)}
}

// TestRedoRecords reads back whole records in a row and stops at the
// first that is not one: torn, damaged, of another epoch, out of order.
func TestRedoRecords(t *testing.T) {
	a := rec(7, 1, []storagedriver.Content{put("/a/link", "1"), put("/b", "")}, []storagedriver.Content{put("/c/current/link", "3")})
	b := rec(7, 2, []storagedriver.Content{put("/a/link", "2")})
	c := rec(7, 3, []storagedriver.Content{put("/d", "4")})
	whole := bytes.Join([][]byte{a, b, c, make([]byte, 100)}, nil)
	got := readRecords(whole)
	if len(got) != 3 || got[0].seq != 1 || len(got[0].levels) != 2 || string(got[0].levels[1][0].Data) != "3" || got[0].levels[0][1].Path != "/b" || string(got[2].levels[0][0].Data) != "4" {
		t.Fatalf("read %+v", got)
	}
	// A record whose first content is read in afterwards (a commit's
	// bytes) is the same record.
	levels := [][]storagedriver.Content{{put("/blob/data", "")}, {put("/r/link", "sha256:x")}}
	hole, fill := encodeRecord(levels, 5)
	copy(fill, "bytes")
	levels[0][0].Data = []byte("bytes")
	whole2, _ := encodeRecord(levels, -1)
	if !bytes.Equal(hole, whole2) {
		t.Fatalf("record with its content filled in:\n%q\nwant\n%q", hole, whole2)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want int
	}{
		"torn last":      {bytes.Join([][]byte{a, b, c[:len(c)-1]}, nil), 2},
		"damaged":        {bytes.Join([][]byte{a, append(append([]byte{}, b[:40]...), append([]byte{b[40] ^ 1}, b[41:]...)...), c}, nil), 1},
		"other epoch":    {bytes.Join([][]byte{a, rec(8, 2, []storagedriver.Content{put("/x", "")}), c}, nil), 1},
		"gap":            {bytes.Join([][]byte{a, c}, nil), 1},
		"first cleared":  {bytes.Join([][]byte{make([]byte, redoHeader), a[redoHeader:], b}, nil), 0},
		"a path refused": {rec(7, 1, []storagedriver.Content{put("/../x", "")}), 0},
		"empty":          {nil, 0},
	} {
		if got := readRecords(tc.b); len(got) != tc.want {
			t.Errorf("%s: %d records, want %d", name, len(got), tc.want)
		}
	}
}

func TestPathSet(t *testing.T) {
	var s pathSet
	if s.touches("/a") || !s.empty() {
		t.Fatal("empty set touches")
	}
	s.add("/a/b/link")
	s.add("/a/b/link")
	for p, want := range map[string]bool{"/a/b/link": true, "/a/b": true, "/a": true, "/": true, "/a/b/link/x": true, "/a/c": false, "/a/b/linked": false, "/b": false} {
		if s.touches(p) != want {
			t.Errorf("touches(%q) = %v, want %v", p, !want, want)
		}
	}
	s.remove("/a/b/link")
	if !s.touches("/a") {
		t.Error("one of two adds removed, and the set lost the path")
	}
	s.remove("/a/b/link")
	if !s.empty() || s.touches("/a") || len(s.anc) != 0 {
		t.Errorf("set not empty after removing all: %v %v", s.self, s.anc)
	}
}

// writeLog writes records to a log file of root, as a crash leaves them.
func writeLog(t *testing.T, root string, i int, recs ...[]byte) {
	t.Helper()
	dir := filepath.Join(root, redoDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Join(recs, nil), make([]byte, 4096)...)
	if err := os.WriteFile(filepath.Join(dir, "log."+string(rune('0'+i))), b, 0o666); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, d *Driver, p string) string {
	t.Helper()
	b, err := d.GetContent(context.Background(), p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRedoReplay opens roots holding the log a crash left: the first
// driver to open one, the owner or another, puts every whole record in
// place in order, across both files, and empties the log.
func TestRedoReplay(t *testing.T) {
	for _, owner := range []bool{false, true} {
		root := t.TempDir()
		// log.1 holds the older records: it was current before log.0.
		writeLog(t, root, 1,
			rec(5, 1, []storagedriver.Content{put("/r/_layers/x/link", "sha256:x"), put("/blobs/x/data", "X")}, []storagedriver.Content{put("/r/tag/current/link", "old")}),
			rec(5, 2, []storagedriver.Content{put("/r/other", "o")}))
		writeLog(t, root, 0,
			rec(9, 3, []storagedriver.Content{put("/r/tag/current/link", "new")}),
			rec(9, 4, []storagedriver.Content{put("/torn", "t")})[:40])
		if err := os.MkdirAll(filepath.Join(root, "r/tag/current"), 0o777); err != nil {
			t.Fatal(err)
		}
		// Renamed into place, its content lost.
		if err := os.WriteFile(filepath.Join(root, "r/tag/current/link"), nil, 0o666); err != nil {
			t.Fatal(err)
		}
		var opts []Option
		if owner {
			opts = append(opts, WithRedoLog())
		}
		d, err := New(root, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if (d.be.redo != nil) != owner {
			t.Fatalf("owner %v: redo %v", owner, d.be.redo)
		}
		for p, want := range map[string]string{"/r/_layers/x/link": "sha256:x", "/blobs/x/data": "X", "/r/tag/current/link": "new", "/r/other": "o", "/torn": "<none>"} {
			if got := content(t, d, p); got != want {
				t.Errorf("owner %v: %s holds %q after replay, want %q", owner, p, got, want)
			}
		}
		for i := range 2 {
			b, err := os.ReadFile(filepath.Join(root, redoDir, "log."+string(rune('0'+i))))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(readRecords(b)); n != 0 {
				t.Errorf("owner %v: log.%d holds %d records after replay", owner, i, n)
			}
		}
	}
}

// logged returns the paths of the records in d's log now.
func loggedPaths(t *testing.T, d *Driver) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range d.be.redo.files {
		b := make([]byte, 1<<20)
		n, err := unix.Pread(f.fd, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range readRecords(b[:n]) {
			for _, l := range r.levels {
				for _, c := range l {
					out[c.Path] = string(c.Data)
				}
			}
		}
	}
	return out
}

func ownerDriver(t *testing.T, root string) *Driver {
	t.Helper()
	d, err := New(root, WithRedoLog())
	if err != nil {
		t.Fatal(err)
	}
	if d.be.redo == nil {
		t.Fatal("not the owner of the redo log")
	}
	return d
}

// TestRedoFence: a change made without the log waits until no record of
// the log touches its paths, and while it runs, writes to them go without
// the log.
func TestRedoFence(t *testing.T) {
	ctx := context.Background()
	d := ownerDriver(t, t.TempDir())
	d.be.redo.every = time.Hour // checkpoints only where the test makes them
	if err := d.PutContent(ctx, "/r/a/link", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/s/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); got["/r/a/link"] != "1" || got["/s/b"] != "2" {
		t.Fatalf("log holds %v", got)
	}
	// A Delete of the directory above a logged file: the log is
	// emptied of it first, so that a replay cannot bring it back.
	if err := d.Delete(ctx, "/r"); err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); len(got) != 0 {
		t.Fatalf("log holds %v after the Delete of a directory above one of its files", got)
	}
	if err := d.PutContent(ctx, "/s/c", []byte("3")); err != nil {
		t.Fatal(err)
	}
	// While a change without the log runs on /s, a write below it goes
	// without the log too.
	release, err := d.be.redo.fence("/s")
	if err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); len(got) != 0 {
		t.Fatalf("log holds %v after a fence on their directory", got)
	}
	if err := d.PutContent(ctx, "/s/d", []byte("4")); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/t/e", []byte("5")); err != nil {
		t.Fatal(err)
	}
	got := loggedPaths(t, d)
	release()
	if _, ok := got["/s/d"]; ok || got["/t/e"] != "5" {
		t.Fatalf("during a fence on /s, the log holds %v; want /t/e only", got)
	}
	if c := content(t, d, "/s/d"); c != "4" {
		t.Fatalf("/s/d holds %q", c)
	}
	// A Move into a logged path.
	if err := d.PutContent(ctx, "/u/src", []byte("6")); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "/u/src", "/t/e"); err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); got["/t/e"] != "" || got["/u/src"] != "" {
		t.Fatalf("log holds %v after a Move onto and from its files", got)
	}
}

// TestRedoOwnerYields: a driver opened beside the owner (another command
// of the registry) makes it stop logging and empty its log before it
// starts; the owner logs again once that driver is gone.
func TestRedoOwnerYields(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d := ownerDriver(t, root)
	if again, err := New(root, WithRedoLog()); err != nil || again.be.redo != nil {
		t.Fatalf("a second owner of one root: %v, %v", again, err)
	} else {
		unix.Close(again.be.intent)
	}
	if err := d.PutContent(ctx, "/a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); got["/a"] != "1" {
		t.Fatalf("log holds %v", got)
	}
	other, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	d.be.redo.mu.Lock()
	state := d.be.redo.state
	d.be.redo.mu.Unlock()
	if state != redoIdle {
		t.Fatalf("owner in state %d while another driver holds the root", state)
	}
	if got := loggedPaths(t, d); len(got) != 0 {
		t.Fatalf("log holds %v once another driver opened the root", got)
	}
	if err := d.PutContent(ctx, "/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := loggedPaths(t, d); len(got) != 0 {
		t.Fatalf("the owner logged %v while another driver holds the root", got)
	}
	if c := content(t, other, "/b"); c != "2" {
		t.Fatalf("the other driver reads %q", c)
	}
	unix.Close(other.be.intent) // the other command ends
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := d.PutContent(ctx, "/c", []byte("3")); err != nil {
			t.Fatal(err)
		}
		if loggedPaths(t, d)["/c"] == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner did not log again once the other driver was gone")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedoIdleGivesRoomBack: the log files' path sets keep their maps from
// one checkpoint to the next while records come, and give them back once
// the tender goes idle; the next record is logged as before.
func TestRedoIdleGivesRoomBack(t *testing.T) {
	ctx := context.Background()
	d := ownerDriver(t, t.TempDir())
	r := d.be.redo
	for i := range 50 {
		if err := d.PutContent(ctx, fmt.Sprintf("/r/%d/link", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	held := len(r.files[r.cur].paths.self)
	r.mu.Unlock()
	if held == 0 {
		t.Fatal("the current log file holds no paths after 50 logged writes")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		state, maps := r.state, [...]map[string]int{r.files[0].paths.self, r.files[0].paths.anc, r.files[1].paths.self, r.files[1].paths.anc}
		r.mu.Unlock()
		if state == redoIdle {
			for i, m := range maps {
				if m != nil {
					t.Fatalf("idle, and path map %d still held (%d entries)", i, len(m))
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log is not idle 20 s after its last record (state %d)", state)
		}
	}
	// The owner takes the log again a poll after going idle.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := d.PutContent(ctx, "/again", []byte("2")); err != nil {
			t.Fatal(err)
		}
		if got := loggedPaths(t, d); got["/again"] == "2" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("10 s after idle, the log holds %v", got)
		}
	}
}

// TestRedoShareLinks: Share files of a level with equal content are one
// inode, written once; a Share file with other content, a file not
// marked Share, and a Share twin whose path exists already (replaced,
// not linked) are files of their own; and each holds what it should.
func TestRedoShareLinks(t *testing.T) {
	ctx := context.Background()
	d := ownerDriver(t, t.TempDir())
	shared := func(p, data string) storagedriver.Content {
		c := put(p, data)
		c.Share = true
		return c
	}
	if err := d.PutContent(ctx, "/r/exists/link", []byte("old")); err != nil {
		t.Fatal(err)
	}
	levels := [][]storagedriver.Content{
		{put("/blobs/m/data", "manifest")},
		{shared("/r/rev/m/link", "sha256:m"), shared("/r/pushed/m", "rec"), shared("/r/tags/a/index/m/link", "sha256:m"),
			shared("/r/tags/b/index/m/link", "sha256:m"), shared("/r/pushed/tags/a", "rec"), shared("/r/exists/link", "sha256:m"),
			shared("/r/other/link", "sha256:o")},
		{put("/r/tags/a/current/link", "sha256:m")},
	}
	if err := d.PutContents(ctx, levels...); err != nil {
		t.Fatal(err)
	}
	ino := func(p string) uint64 {
		var st unix.Stat_t
		if err := unix.Stat(d.be.full(p), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	for _, group := range [][]string{
		{"/r/rev/m/link", "/r/tags/a/index/m/link", "/r/tags/b/index/m/link"},
		{"/r/pushed/m", "/r/pushed/tags/a"},
	} {
		for _, p := range group[1:] {
			if ino(p) != ino(group[0]) {
				t.Errorf("%s and %s: inodes %d and %d, want one", group[0], p, ino(group[0]), ino(p))
			}
		}
	}
	for _, p := range []string{"/r/exists/link", "/r/other/link", "/r/tags/a/current/link"} {
		if ino(p) == ino("/r/rev/m/link") {
			t.Errorf("%s shares the revision link's inode", p)
		}
	}
	for _, l := range levels {
		for _, c := range l {
			if got := content(t, d, c.Path); got != string(c.Data) {
				t.Errorf("%s holds %q, want %q", c.Path, got, c.Data)
			}
		}
	}
	if left := temps(t, d.be.root); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Replaced later, a twin is a file of its own again: the other keeps
	// its content.
	if err := d.PutContent(ctx, "/r/tags/a/index/m/link", []byte("changed")); err != nil {
		t.Fatal(err)
	}
	if got := content(t, d, "/r/rev/m/link"); got != "sha256:m" {
		t.Errorf("the revision link holds %q after its twin was replaced", got)
	}
}

// TestParentDir: parentDir is path.Dir on the driver's paths.
func TestParentDir(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "/docker/registry/v2/blobs/sha256/ab/ab01/data", "/a/b.c/d~e"} {
		if got, want := parentDir(p), path.Dir(p); got != want {
			t.Errorf("parentDir(%q) = %q, want %q", p, got, want)
		}
	}
}
