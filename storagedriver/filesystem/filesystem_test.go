package filesystem_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestSuite proves the filesystem driver meets the storagedriver contract.
func TestSuite(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return newDriver(t, t.TempDir()) })
}

func newDriver(t *testing.T, root string) *filesystem.Driver {
	t.Helper()
	d, err := filesystem.New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	return d
}

// TestNew proves that New creates a missing root and refuses an empty one or
// one below a file.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	newDriver(t, filepath.Join(dir, "a", "b"))
	if fi, err := os.Stat(filepath.Join(dir, "a", "b")); err != nil || !fi.IsDir() {
		t.Errorf("root not created: %v", err)
	}
	if _, err := filesystem.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := filesystem.New(filepath.Join(dir, "file", "root")); err == nil {
		t.Error("New below a file succeeded")
	}
}

// TestLayout proves that "/a/b" is the file <root>/a/b, both ways, so that a
// volume written by Distribution reads as-is and the reverse.
func TestLayout(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	const p = "/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link"
	if err := d.PutContent(t.Context(), p, []byte("sha256:abc")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil || string(b) != "sha256:abc" {
		t.Errorf("file on disk = %q, %v", b, err)
	}
	onDisk := filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", "ab", "abcd", "data")
	if err := os.MkdirAll(filepath.Dir(onDisk), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(onDisk, []byte("blob"), 0o666); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetContent(t.Context(), "/docker/registry/v2/blobs/sha256/ab/abcd/data")
	if err != nil || string(got) != "blob" {
		t.Errorf("GetContent of a file written by another program = %q, %v", got, err)
	}
}

// TestReaderAndOpenReturnOSFile proves that blobs are served from an
// *os.File, which http.ServeContent can sendfile.
func TestReaderAndOpenReturnOSFile(t *testing.T) {
	d := newDriver(t, t.TempDir())
	if err := d.PutContent(t.Context(), "/f", []byte("content")); err != nil {
		t.Fatal(err)
	}
	f, err := d.Open(t.Context(), "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", f)
	}
	rc, err := d.Reader(t.Context(), "/f", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Reader returned %T, want *os.File", rc)
	}
}

// TestPathsCannotEscapeRoot proves that no path reaches outside the root:
// every method refuses traversal attempts, and afterwards nothing beside the
// root was created, read into the store or changed.
func TestPathsCannotEscapeRoot(t *testing.T) {
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o666); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, filepath.Join(parent, "root"))
	if err := d.PutContent(t.Context(), "/ok", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	escapes := []string{
		"/../secret", "/..", "/a/../../secret", "/../root/../secret", "/./../secret",
		"/..\\secret", "/%2e%2e/secret", "/...", "../secret", "/ok/../../secret",
	}
	for _, p := range escapes {
		if p == "/..." {
			continue // a valid name, not a traversal; checked below
		}
		ctx := t.Context()
		_, err1 := d.GetContent(ctx, p)
		err2 := d.PutContent(ctx, p, []byte("pwned"))
		_, err3 := d.Reader(ctx, p, 0)
		_, err4 := d.Writer(ctx, p, false)
		_, err5 := d.Stat(ctx, p)
		_, err6 := d.List(ctx, p)
		err7 := d.Move(ctx, "/ok", p)
		err8 := d.Move(ctx, p, "/stolen")
		err9 := d.Delete(ctx, p)
		err10 := d.Walk(ctx, p, func(storagedriver.FileInfo) error { return nil })
		_, err11 := d.Open(ctx, p)
		for i, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9, err10, err11} {
			if !errors.Is(err, storagedriver.ErrInvalidPath) {
				t.Errorf("call %d with %q: %v, want ErrInvalidPath", i+1, p, err)
			}
		}
	}
	// "/..." is three dots, a valid name that stays inside the root.
	if err := d.PutContent(t.Context(), "/...", []byte("dots")); err != nil {
		t.Fatalf("PutContent(/...): %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "root", "...")); err != nil || string(b) != "dots" {
		t.Errorf("/... on disk = %q, %v", b, err)
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"root", "secret"}) {
		t.Errorf("beside the root: %q, want only root and secret", names)
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Errorf("secret changed to %q", b)
	}
}

// TestDriverFilesNeverListed proves that the driver's own files (temporary
// files of PutContent, pending and in-progress writes, its pending tree) and
// stray names that are not valid segments never show in List or Walk, even
// while writes are under way.
func TestDriverFilesNeverListed(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	valid := map[string]bool{"/t": true, "/t/f": true, "/t/g": true, "/t/h": true}
	for _, stray := range []string{".put~123", ".w~123", "x#y", "lost+found"} {
		if err := os.MkdirAll(filepath.Join(root, "t"), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "t", stray), nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var puts, commits atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if err := d.PutContent(ctx, "/t/f", bytes.Repeat([]byte("x"), i%4096)); err != nil {
				t.Errorf("PutContent: %v", err)
				return
			}
			puts.Add(1)
		}
	})
	wg.Go(func() {
		for ; !stop.Load(); commits.Add(1) {
			w, err := d.Writer(ctx, "/t/g", false)
			if err == nil {
				_, err = w.Write([]byte("pending"))
			}
			if err == nil {
				err = w.Commit(ctx)
			}
			if err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	})
	// List and walk while both writers make progress, however the scheduler
	// shares the CPUs.
	for i := 0; i < 200 || puts.Load() < 50 || commits.Load() < 50; i++ {
		if t.Failed() {
			break
		}
		paths, err := d.List(ctx, "/t")
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		_ = d.Walk(ctx, "/", func(fi storagedriver.FileInfo) error {
			paths = append(paths, fi.Path)
			return nil
		})
		for _, p := range paths {
			if !valid[p] {
				t.Fatalf("listed %q", p)
			}
		}
	}
	stop.Store(true)
	wg.Wait()

	pending, err := d.Writer(ctx, "/t/h", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := pending.Close(); err != nil {
		t.Fatal(err)
	}
	open, err := d.Writer(ctx, "/t/i", false)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if got, _ := d.List(ctx, "/"); !slices.Equal(got, []string{"/t"}) {
		t.Errorf("List(/) = %q, want only /t", got)
	}
	if got, _ := d.List(ctx, "/t"); !slices.Equal(got, []string{"/t/f", "/t/g"}) {
		t.Errorf("List(/t) = %q, want /t/f and /t/g", got)
	}
}

// TestNoDebris proves that finished writes leave no temporary file on disk:
// after Commit, Cancel and Delete of an upload directory, the disk holds
// exactly the committed files, and the directories of pending writes that
// the next writes would use again, until PurgePending removes them.
func TestNoDebris(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	write := func(p string, appendTo bool) storagedriver.FileWriter {
		w, err := d.Writer(ctx, p, appendTo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if err := write("/c/committed", false).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write("/x/cancelled", false).Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write("/up/1/data", false).Close(); err != nil {
		t.Fatal(err)
	}
	w := write("/up/1/data", true)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/up/1/startedat", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "/up/1"); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/p/link", []byte("sha256:abc")); err != nil {
		t.Fatal(err)
	}
	onDisk := func() (got []string) {
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(root, path)
			if rel == "+redo" && e != nil && e.IsDir() {
				return filepath.SkipDir // the redo log's locks, kept
			}
			got = append(got, filepath.ToSlash(rel))
			return err // fails the test below
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{".", "+pending", "+pending/c", "+pending/up", "+pending/x", "c", "c/committed", "p", "p/link"}
	if got := onDisk(); !slices.Equal(got, want) {
		t.Errorf("on disk: %q\nwant %q", got, want)
	}
	if _, _, err := d.PurgePending(ctx, time.Now().Add(-time.Hour), false); err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 2, 5)
	if got := onDisk(); !slices.Equal(got, want) {
		t.Errorf("on disk after PurgePending: %q\nwant %q", got, want)
	}
}

// TestPutContentAtomicUnderReaders proves that readers racing with
// overwrites of a large file see the old or the new content whole, never a
// mix or a truncated file, and that a reader opened before an overwrite
// goes on reading the old version to its end.
func TestPutContentAtomicUnderReaders(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx := t.Context()
	a := bytes.Repeat([]byte("a"), 1<<20)
	b := bytes.Repeat([]byte("b"), 3<<19)
	whole := func(got []byte) bool { return bytes.Equal(got, a) || bytes.Equal(got, b) }
	if err := d.PutContent(ctx, "/f", a); err != nil {
		t.Fatal(err)
	}
	early, err := d.Reader(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if _, err := io.ReadFull(early, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				got, err := d.GetContent(ctx, "/f")
				if err != nil || !whole(got) {
					t.Errorf("GetContent during overwrite: %d bytes, %v", len(got), err)
					return
				}
				rc, err := d.Reader(ctx, "/f", 0)
				if err == nil {
					got, err = io.ReadAll(rc)
					rc.Close()
				}
				if err != nil || !whole(got) {
					t.Errorf("Reader during overwrite: %d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	for i := range 40 {
		content := a
		if i%2 == 0 {
			content = b
		}
		if err := d.PutContent(ctx, "/f", content); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	rest, err := io.ReadAll(early)
	if err != nil || !bytes.Equal(rest, a[10:]) || strings.Contains(string(rest), "b") {
		t.Errorf("reader opened before the overwrites read %d more bytes, %v; want the rest of the old version", len(rest), err)
	}
}

// TestResumeAfterWriterKilled proves that a pending write outlives a
// process killed while it was continuing that write: the next
// Writer(append=true), in another process, takes it over with at least the
// content closed before, as the storagedriver contract promises. (The
// registry keeps an upload's bytes this way: each PATCH resumes, appends
// and closes, so a crash in one PATCH must not lose the chunks
// acknowledged before.) The killed writer is a child process: this test
// binary run again.
func TestResumeAfterWriterKilled(t *testing.T) {
	const p = "/up/1/data"
	if root := os.Getenv("BERTH_FS_KILLED_WRITER_ROOT"); root != "" {
		d := newDriver(t, root)
		w, err := d.Writer(t.Context(), p, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(" and more")); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("writing\n")
		select {} // until killed
	}

	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	w, err := d.Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("closed")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestResumeAfterWriterKilled$")
	child.Env = append(os.Environ(), "BERTH_FS_KILLED_WRITER_ROOT="+root)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = child.Process.Kill()
	_ = child.Wait()
	if line != "writing\n" {
		t.Fatalf("child wrote %q, want it to be writing", line)
	}

	w, err = d.Writer(ctx, p, true)
	if err != nil {
		t.Fatalf("Writer(append) after the writer's process was killed: %v", err)
	}
	if _, err := w.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetContent(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("closed")) || !bytes.HasSuffix(got, []byte("!")) {
		t.Errorf("content %q, want what was closed, maybe what the killed writer wrote, then what was written after", got)
	}
	// A writer that is alive keeps its write: no second one takes it over.
	w, err = d.Writer(ctx, "/up/2/data", false)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if w, err = d.Writer(ctx, "/up/2/data", true); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := d.Writer(ctx, "/up/2/data", true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("second Writer(append) while the first is open: %v, want ErrPathNotFound", err)
	}
}

// TestWritersRaceDirectoryPruning proves that starting writers in a
// directory of pending writes that other writers' Cancel keeps pruning and
// recreating never fails: a directory removed between MkdirAll's mkdir
// (EEXIST) and its check surfaced as "file exists" (a 500 for a blob
// upload's POST, found by the soak).
func TestWritersRaceDirectoryPruning(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx := t.Context()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 1500 {
				p := fmt.Sprintf("/repo/u%d-%d/data", g, i)
				w, err := d.Writer(ctx, p, false)
				if err != nil {
					if failures.Add(1) <= 3 {
						t.Errorf("Writer(%s): %v", p, err)
					}
					continue
				}
				if err := w.Cancel(ctx); err != nil {
					t.Errorf("end of %s: %v", p, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d Writer calls failed", n, 8*1500)
	}
}

// TestStartPending: the pending write StartPending makes is the one a
// Writer and its Close leave (empty, resumed at size 0, nothing visible
// at the path before a commit), in directories it makes; a second one at
// the path fails with fs.ErrExist, and a bad path is refused.
func TestStartPending(t *testing.T) {
	ctx := t.Context()
	d := newDriver(t, t.TempDir())
	const p = "/docker/registry/v2/repositories/team/app/_uploads/0f6e"
	if err := d.StartPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := d.StartPending(ctx, p); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second StartPending: %v, want fs.ErrExist", err)
	}
	if _, err := d.Stat(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Stat before the commit: %v, want not found", err)
	}
	w, err := d.Writer(ctx, p, true)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if w.Size() != 0 {
		t.Errorf("resumed at %d, want 0", w.Size())
	}
	if _, err := w.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, err := d.GetContent(ctx, p); err != nil || string(got) != "data" {
		t.Errorf("committed %q, %v", got, err)
	}
	if err := d.StartPending(ctx, "/a/../b"); err == nil {
		t.Error("StartPending of /a/../b succeeded")
	}
}
