package filesystem

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

// batchDriver is a driver on a new root whose group commit is on for
// good (a clock that stands still: however long a syncfs takes on this
// machine, it does not turn group commit off) and calls hook before each
// syncfs.
func batchDriver(t *testing.T, hook func(call int) error) *Driver {
	t.Helper()
	d, err := New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	g := d.be.group
	if g == nil {
		t.Fatal("no group commit on Linux")
	}
	epoch := time.Now()
	g.now = func() time.Time { return epoch }
	calls := 0
	g.syncfs = func(fd int) error {
		calls++
		if err := hook(calls); err != nil {
			return err
		}
		return unix.Syncfs(fd)
	}
	return d
}

// visible is which of paths a reader of d finds now.
func visible(ctx context.Context, d *Driver, paths ...string) map[string]bool {
	seen := map[string]bool{}
	for _, p := range paths {
		if _, err := d.Stat(ctx, p); err == nil {
			seen[p] = true
		}
	}
	return seen
}

// temps is the driver's temporary files left under dir.
func temps(t *testing.T, dir string) []string {
	var left []string
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), putTemp) {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// TestPutContentsLevels: every content is durable (one syncfs) before any
// file shows, and each level shows only once the level before it is
// durable; an empty level costs no syncfs, and the contents are right.
func TestPutContentsLevels(t *testing.T) {
	ctx := context.Background()
	a := []storagedriver.Content{{Path: "/r/a/1/link", Data: []byte("a1")}, {Path: "/r/a/2/link", Data: []byte("a2")}}
	b := []storagedriver.Content{{Path: "/r/b/link", Data: []byte("b")}}
	c := []storagedriver.Content{{Path: "/r/c/x/y/link", Data: []byte("c")}, {Path: "/r/a/1/link", Data: []byte("a1 again")}}
	all := []string{"/r/a/1/link", "/r/a/2/link", "/r/b/link", "/r/c/x/y/link"}
	var d *Driver
	var seen []map[string]bool
	d = batchDriver(t, func(int) error {
		seen = append(seen, visible(ctx, d, all...))
		return nil
	})
	if err := d.PutContents(ctx, a, nil, b, c); err != nil {
		t.Fatal(err)
	}
	want := []map[string]bool{
		{},
		{"/r/a/1/link": true, "/r/a/2/link": true},
		{"/r/a/1/link": true, "/r/a/2/link": true, "/r/b/link": true},
		{"/r/a/1/link": true, "/r/a/2/link": true, "/r/b/link": true, "/r/c/x/y/link": true},
	}
	if len(seen) != len(want) {
		t.Fatalf("%d syncfs calls, want %d (one for the contents, one per non-empty level)", len(seen), len(want))
	}
	for i := range want {
		for _, p := range all {
			if seen[i][p] != want[i][p] {
				t.Errorf("syncfs %d: %s visible %v, want %v", i+1, p, seen[i][p], want[i][p])
			}
		}
	}
	for p, w := range map[string]string{"/r/a/1/link": "a1 again", "/r/a/2/link": "a2", "/r/b/link": "b", "/r/c/x/y/link": "c"} {
		if got, err := d.GetContent(ctx, p); err != nil || string(got) != w {
			t.Errorf("%s: %q, %v; want %q", p, got, err, w)
		}
	}
	if left := temps(t, d.be.root); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestPutContentsFailedSync: a syncfs that fails shows nothing of the
// levels after it and leaves no temporary file.
func TestPutContentsFailedSync(t *testing.T) {
	ctx := context.Background()
	for _, failAt := range []int{1, 2} {
		d := batchDriver(t, func(call int) error {
			if call == failAt {
				return syscall.EIO
			}
			return nil
		})
		err := d.PutContents(ctx,
			[]storagedriver.Content{{Path: "/x/1", Data: []byte("1")}},
			[]storagedriver.Content{{Path: "/x/2", Data: []byte("2")}})
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("syncfs %d failing: %v, want EIO", failAt, err)
		}
		got := visible(ctx, d, "/x/1", "/x/2")
		if got["/x/2"] || failAt == 1 && got["/x/1"] {
			t.Errorf("syncfs %d failing: visible %v", failAt, got)
		}
		if left := temps(t, d.be.root); len(left) > 0 {
			t.Errorf("syncfs %d failing: temporary files left: %v", failAt, left)
		}
		if _, err := os.Stat(filepath.Join(d.be.root, "x")); failAt == 1 && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("syncfs 1 failing: the directory made for the files: %v", err)
		}
	}
}

// TestPutContentsDirectoryGone: a directory removed (by a Delete) after
// its file's content was written is made again, and the file written on
// its own, before the next level shows.
func TestPutContentsDirectoryGone(t *testing.T) {
	ctx := context.Background()
	var d *Driver
	removed := false
	var seen []map[string]bool
	d = batchDriver(t, func(call int) error {
		if call == 1 {
			removed = d.Delete(ctx, "/gone") == nil
		}
		seen = append(seen, visible(ctx, d, "/gone/dir/link", "/next"))
		return nil
	})
	err := d.PutContents(ctx,
		[]storagedriver.Content{{Path: "/gone/dir/link", Data: []byte("v")}},
		[]storagedriver.Content{{Path: "/next", Data: []byte("n")}})
	if err != nil || !removed {
		t.Fatalf("PutContents: %v (directory removed: %v)", err, removed)
	}
	// The rewritten file was durable (a syncfs after its rename) before
	// the next level showed.
	durable := false
	for i, v := range seen {
		if v["/next"] && !durable {
			t.Fatalf("syncfs %d: the next level shows before the rewritten file is durable (%v)", i+1, seen)
		}
		durable = durable || v["/gone/dir/link"]
	}
	for p, w := range map[string]string{"/gone/dir/link": "v", "/next": "n"} {
		if got, err := d.GetContent(ctx, p); err != nil || string(got) != w {
			t.Errorf("%s: %q, %v; want %q", p, got, err, w)
		}
	}
}

// TestPutContentsUnsupported: with group commit off, or a Volatile
// context, the driver declines and storagedriver.PutContents writes the
// levels itself; a bad path writes nothing.
func TestPutContentsUnsupported(t *testing.T) {
	ctx := context.Background()
	d := batchDriver(t, func(int) error { return nil })
	d.be.group.offUntil.Store(time.Now().Add(time.Hour).UnixNano())
	levels := [][]storagedriver.Content{{{Path: "/u/1", Data: []byte("1")}}, {{Path: "/u/2", Data: []byte("2")}}}
	if err := d.PutContents(ctx, levels...); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("group commit off: %v, want ErrUnsupported", err)
	}
	if err := d.PutContents(storagedriver.Volatile(ctx), levels...); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("volatile: %v, want ErrUnsupported", err)
	}
	if err := storagedriver.PutContents(ctx, d, levels...); err != nil {
		t.Fatal(err)
	}
	if got := visible(ctx, d, "/u/1", "/u/2"); len(got) != 2 {
		t.Errorf("written by the fallback: %v", got)
	}
	d.be.group.offUntil.Store(0)
	err := d.PutContents(ctx, []storagedriver.Content{{Path: "/ok", Data: nil}}, []storagedriver.Content{{Path: "/bad/../x", Data: nil}})
	if !errors.Is(err, storagedriver.ErrInvalidPath) {
		t.Fatalf("bad path: %v, want ErrInvalidPath", err)
	}
	if got := visible(ctx, d, "/ok"); len(got) != 0 {
		t.Error("a batch with a bad path wrote a file")
	}
}

// TestStagePublish: a staged file is not seen before Publish; a durable
// write in between makes its content durable, so that Publish waits for
// one syncfs only (the rename's), else two; Discard leaves nothing.
func TestStagePublish(t *testing.T) {
	ctx := context.Background()
	calls := 0
	d := batchDriver(t, func(int) error { calls++; return nil })
	for _, between := range []bool{true, false} {
		s, err := d.Stage(ctx, "/s/link", []byte("staged"))
		if err != nil {
			t.Fatal(err)
		}
		if visible(ctx, d, "/s/link")["/s/link"] {
			t.Fatal("a staged file is seen before Publish")
		}
		if between {
			if err := d.PutContent(ctx, "/other", []byte("o")); err != nil {
				t.Fatal(err)
			}
		}
		calls = 0
		if err := s.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		want := 2
		if between {
			want = 1
		}
		if calls != want {
			t.Errorf("durable write in between %v: Publish made %d syncfs calls, want %d", between, calls, want)
		}
		if got, err := d.GetContent(ctx, "/s/link"); err != nil || string(got) != "staged" {
			t.Errorf("published: %q, %v", got, err)
		}
		if err := d.Delete(ctx, "/s/link"); err != nil {
			t.Fatal(err)
		}
	}
	s, err := d.Stage(ctx, "/s/discarded", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if left := temps(t, d.be.root); len(left) > 0 || visible(ctx, d, "/s/discarded")["/s/discarded"] {
		t.Errorf("after Discard: temporary files %v", left)
	}
	// The directories made for a discarded file go with it.
	s, err = d.Stage(ctx, "/new/dir/link", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if _, err := os.Stat(filepath.Join(d.be.root, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Discard, the directory made for the file: %v", err)
	}
}

// TestWriteOntoADirectory: the small writes rename without looking at
// their destination first (rename(2) refuses a directory there by
// itself). A write onto a directory, empty or not, fails each way, leaves
// the directory as it was and no temporary file, and with group commit
// on and off.
func TestWriteOntoADirectory(t *testing.T) {
	for _, group := range []bool{true, false} {
		d := batchDriver(t, func(int) error { return nil })
		if !group {
			d.be.group.offUntil.Store(time.Now().Add(time.Hour).UnixNano())
		}
		ctx := t.Context()
		if err := d.PutContent(ctx, "/full/inside", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d.be.root, "empty"), 0o777); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/full", "/empty"} {
			writes := map[string]func() error{
				"PutContent": func() error { return d.PutContent(ctx, p, []byte("y")) },
				"PutContents": func() error {
					return storagedriver.PutContents(ctx, d, []storagedriver.Content{{Path: p, Data: []byte("y")}})
				},
				"Stage": func() error {
					s, err := storagedriver.Stage(ctx, d, p, []byte("y"))
					if err != nil {
						return err
					}
					return s.Publish(ctx)
				},
			}
			for name, write := range writes {
				if err := write(); err == nil {
					t.Errorf("group commit %v: %s onto directory %s succeeded", group, name, p)
				}
				if fi, err := os.Stat(filepath.Join(d.be.root, p)); err != nil || !fi.IsDir() {
					t.Errorf("group commit %v: after %s, %s: %v, %v; want the directory", group, name, p, fi, err)
				}
			}
		}
		if b, err := d.GetContent(ctx, "/full/inside"); err != nil || string(b) != "x" {
			t.Errorf("group commit %v: /full/inside = %q, %v", group, b, err)
		}
		if left := temps(t, d.be.root); len(left) > 0 {
			t.Errorf("group commit %v: temporary files left: %v", group, left)
		}
	}
}
