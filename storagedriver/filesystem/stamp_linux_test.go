package filesystem_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// stampOK checks that the record at p exists, that its mtime is m, and
// that m is within StampSlack before now, never after.
func stampOK(t *testing.T, d *filesystem.Driver, p string, m time.Time) {
	t.Helper()
	fi, err := d.Stat(t.Context(), p)
	if err != nil {
		t.Fatalf("Stat(%s): %v", p, err)
	}
	if !fi.ModTime.Equal(m) {
		t.Fatalf("%s: mtime %v, Stamp said %v", p, fi.ModTime, m)
	}
	if age := time.Since(m); age < 0 || age >= storagedriver.StampSlack {
		t.Fatalf("%s: mtime %v is %v old", p, m, age)
	}
	b, err := d.GetContent(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339Nano, string(b)); err != nil {
		t.Fatalf("%s holds %q: %v", p, b, err)
	}
}

// names lists every entry of dir, the driver's temporary names included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestStamp proves that Stamp writes records into directories it makes,
// with an mtime within StampSlack of the present that Stat agrees with,
// that records made together share an inode, that it replaces a file (a
// record written by PutContent, or a record of the same inode) leaving no
// temporary name behind, that a new inode serves once the old one is a
// quarter of the slack old, and that it refuses bad paths; both with the
// links made from the inode's descriptor, where the kernel lets this
// process (it says which it did), and through /proc/self/fd.
func TestStamp(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		d := testStamp(t, false)
		t.Logf("linked from the descriptor: %v", filesystem.StampsByFd(d))
	})
	t.Run("proc", func(t *testing.T) {
		if d := testStamp(t, true); filesystem.StampsByFd(d) {
			t.Error("linked from the descriptor when told not to")
		}
	})
}

func testStamp(t *testing.T, byProc bool) *filesystem.Driver {
	root := t.TempDir()
	d := newDriver(t, root)
	if byProc {
		filesystem.StampThroughProc(d)
	}
	ctx := t.Context()
	const n = 50
	inodes := map[string]bool{}
	var first os.FileInfo
	for i := range n {
		p := fmt.Sprintf("/gc/used/sha256/%02d", i)
		m, err := d.Stamp(ctx, p)
		if err != nil {
			t.Fatalf("Stamp(%s): %v", p, err)
		}
		stampOK(t, d, p, m)
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = fi
		}
		seen := false
		for q := range inodes {
			qi, _ := os.Stat(filepath.Join(root, q))
			seen = seen || os.SameFile(qi, fi)
		}
		if !seen {
			inodes[p] = true
		}
	}
	if len(inodes) >= n {
		t.Fatalf("%d records on %d inodes: none shared", n, len(inodes))
	}

	// Over a PutContent's file, and over a record of the same inode.
	dir := filepath.Join(root, "gc/used/sha256")
	if err := d.PutContent(ctx, "/gc/used/sha256/put", []byte("old")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/gc/used/sha256/put", "/gc/used/sha256/put", "/gc/used/sha256/00"} {
		m, err := d.Stamp(ctx, p)
		if err != nil {
			t.Fatalf("Stamp(%s) again: %v", p, err)
		}
		stampOK(t, d, p, m)
	}
	for _, name := range names(t, dir) {
		if strings.Contains(name, "~") {
			t.Fatalf("left behind: %s", name)
		}
	}

	// A new inode once the first is old.
	time.Sleep(storagedriver.StampSlack/4 + 50*time.Millisecond)
	m, err := d.Stamp(ctx, "/gc/used/sha256/late")
	if err != nil {
		t.Fatal(err)
	}
	stampOK(t, d, "/gc/used/sha256/late", m)
	late, _ := os.Stat(filepath.Join(dir, "late"))
	if os.SameFile(first, late) || !late.ModTime().After(first.ModTime()) {
		t.Fatalf("a stamp %v old still served", time.Since(first.ModTime()))
	}

	if _, err := d.Stamp(ctx, "/gc/../escape"); !errors.Is(err, storagedriver.ErrInvalidPath) {
		t.Fatalf("Stamp of a bad path: %v", err)
	}
	if err := d.PutContent(ctx, "/file", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stamp(ctx, "/file/record"); err == nil {
		t.Fatal("Stamp below a file succeeded")
	}
	if err := d.Delete(ctx, "/gc/used/sha256/01"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "/gc/used/sha256/02"); err != nil {
		t.Fatalf("deleting one record took another: %v", err)
	}
	return d
}

// TestStampTouched proves that a record is never given an mtime that was
// changed from outside: a touch of one record changes the inode every
// record of its time shares, and the next Stamp links a new one.
func TestStampTouched(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	if _, err := d.Stamp(ctx, "/r/a"); err != nil {
		t.Fatal(err)
	}
	for _, when := range []time.Time{time.Now().Add(-3 * time.Hour), time.Now().Add(time.Hour)} {
		if err := os.Chtimes(filepath.Join(root, "r/a"), when, when); err != nil {
			t.Fatal(err)
		}
		m, err := d.Stamp(ctx, "/r/b")
		if err != nil {
			t.Fatal(err)
		}
		stampOK(t, d, "/r/b", m)
	}
}

// TestStampConcurrent proves that Stamps racing across inode changes (run
// it with -race) all leave a good record, and that the driver keeps at
// only its current stamp inode open.
func TestStampConcurrent(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if _, err := d.Stamp(ctx, fmt.Sprintf("/gc/relying/%d/%d", g%4, i)); err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					time.Sleep(storagedriver.StampSlack / 8)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g := range 4 {
		for i := range 40 {
			p := fmt.Sprintf("/gc/relying/%d/%d", g, i)
			if _, err := d.Stat(ctx, p); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	open := 0
	for _, e := range fds {
		if to, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(to, filepath.Join(root, "+pending")+"/#") {
			open++
		}
	}
	if open != 1 { // the current one, the others closed
		t.Fatalf("%d stamp inodes open, want 1", open)
	}
}

// TestStampAfterEveryRecordWent proves that Stamp goes on when every
// record of the current inode was deleted: such an inode cannot be linked
// again.
func TestStampAfterEveryRecordWent(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx := t.Context()
	for i := range 3 {
		if _, err := d.Stamp(ctx, "/gc/relying/x"); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		stampOK(t, d, "/gc/relying/x", mustStat(t, d, "/gc/relying/x"))
		if err := d.Delete(ctx, "/gc"); err != nil {
			t.Fatal(err)
		}
	}
}

func mustStat(t *testing.T, d *filesystem.Driver, p string) time.Time {
	t.Helper()
	fi, err := d.Stat(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime
}
