package filesystem_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestPurgePending proves that PurgePending removes the pending writes idle
// since before the cutoff, parked ones and the files of writers that died,
// with the directories they leave empty, and keeps young ones; that a
// parked write just claimed by a writer counts as active however old it
// was; that a dry run removes nothing; and that a second purge finds
// nothing.
func TestPurgePending(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	pending := filepath.Join(root, "+pending")
	old := time.Now().Add(-2 * time.Hour)
	age := func(p string) {
		t.Helper()
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	park := func(p string, b []byte) { drivertest.Park(t, d, p, b) }

	park("/old/a", bytes.Repeat([]byte("a"), 100))
	age(filepath.Join(pending, "old", "a"))
	park("/deep/x/y", bytes.Repeat([]byte("y"), 10))
	age(filepath.Join(pending, "deep", "x", "y"))
	// A writer whose process died: its session file stays, never renamed.
	crashed, err := d.Writer(ctx, "/crash/c", false)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = crashed.Write(bytes.Repeat([]byte("c"), 50))
	sessions, _ := filepath.Glob(filepath.Join(pending, "crash", ".w~*"))
	if len(sessions) != 1 {
		t.Fatalf("session files of the crashed writer: %v", sessions)
	}
	age(sessions[0])
	// Parked long ago, resumed just now by a client coming back.
	park("/old/resumed", []byte("before "))
	age(filepath.Join(pending, "old", "resumed"))
	resumed, err := d.Writer(ctx, "/old/resumed", true)
	if err != nil {
		t.Fatal(err)
	}
	park("/young/b", []byte("young"))

	cutoff := time.Now().Add(-time.Hour)
	const wantN, wantBytes = 3, 100 + 10 + 50
	n, b, err := d.PurgePending(ctx, cutoff, true)
	if err != nil || n != wantN || b != wantBytes {
		t.Fatalf("dry run: %d files, %d bytes, %v; want %d, %d", n, b, err, wantN, wantBytes)
	}
	for _, p := range []string{filepath.Join(pending, "old", "a"), filepath.Join(pending, "deep", "x", "y"), sessions[0]} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after the dry run: %v", err)
		}
	}

	n, b, err = d.PurgePending(ctx, cutoff, false)
	if err != nil || n != wantN || b != wantBytes {
		t.Fatalf("purge: %d files, %d bytes, %v; want %d, %d", n, b, err, wantN, wantBytes)
	}
	for _, p := range []string{"/old/a", "/deep/x/y"} {
		if _, err := d.Writer(ctx, p, true); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("resuming %s after the purge: %v, want ErrPathNotFound", p, err)
		}
	}
	for _, dir := range []string{"deep", "crash"} {
		if _, err := os.Stat(filepath.Join(pending, dir)); !os.IsNotExist(err) {
			t.Errorf("+pending/%s left behind: %v", dir, err)
		}
	}
	if _, err := resumed.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := resumed.Commit(ctx); err != nil {
		t.Fatalf("commit of the write resumed before the purge: %v", err)
	}
	if got := readAll(t, d, "/old/resumed"); got != "before after" {
		t.Errorf("resumed write committed %q, want %q", got, "before after")
	}
	if w, err := d.Writer(ctx, "/young/b", true); err != nil {
		t.Errorf("young parked write: %v", err)
	} else {
		w.Close()
	}
	if n, b, err := d.PurgePending(ctx, cutoff, false); err != nil || n != 0 || b != 0 {
		t.Errorf("second purge: %d files, %d bytes, %v; want nothing", n, b, err)
	}
	crashed.Close() // its file is gone: nothing to park
}

func readAll(t *testing.T, d storagedriver.Driver, p string) string {
	t.Helper()
	rc, err := d.Reader(t.Context(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
