package drivertest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var pathTests = []test{
	{"InvalidPaths", testInvalidPaths},
	{"RootOnlyForDirectories", testRootOnlyForDirectories},
	{"EndedContext", testEndedContext},
	{"ContextCancelledDuringWalk", testContextCancelledDuringWalk},
}

// invalidPaths are refused by every method: relative, empty or dot
// segments, trailing slashes, characters outside [A-Za-z0-9._-].
var invalidPaths = []string{
	"", "a", "a/b", "/a/../b", "/..", "/.", "/a/.", "/../etc/passwd", "/a//b", "//",
	"/a/", "/a/./b", "/a b", "/a\x00", "/a\nb", "/ä", "/日本", "/a\\b", "/a:b",
	"/a~b", "/a+b", "/a#b", "/%2e%2e", "/a*",
}

// calls invokes every method of d (and of its Walker and Opener) on p with
// ctx, using other as the second path of Move, and returns the errors by
// method name. Writers that open are closed.
func calls(ctx context.Context, d storagedriver.Driver, p, other string) map[string]error {
	errs := map[string]error{}
	_, errs["GetContent"] = d.GetContent(ctx, p)
	errs["PutContent"] = d.PutContent(ctx, p, []byte("x"))
	rc, err := d.Reader(ctx, p, 0)
	if err == nil {
		rc.Close()
	}
	errs["Reader"] = err
	for name, appendTo := range map[string]bool{"Writer": false, "Writer(append)": true} {
		w, err := d.Writer(ctx, p, appendTo)
		if err == nil {
			w.Close()
		}
		errs[name] = err
	}
	_, errs["Stat"] = d.Stat(ctx, p)
	_, errs["List"] = d.List(ctx, p)
	errs["Move from"] = d.Move(ctx, p, other)
	errs["Move to"] = d.Move(ctx, other, p)
	errs["Delete"] = d.Delete(ctx, p)
	if wk, ok := d.(storagedriver.Walker); ok {
		errs["Walk"] = wk.Walk(ctx, p, func(storagedriver.FileInfo) error { return nil })
	}
	if op, ok := d.(storagedriver.Opener); ok {
		f, err := op.Open(ctx, p)
		if err == nil {
			f.Close()
		}
		errs["Open"] = err
	}
	return errs
}

// testInvalidPaths proves that every method refuses every malformed path
// with ErrInvalidPath, and that none of those calls changed the store.
func testInvalidPaths(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/ok", "ok")
	for _, p := range invalidPaths {
		for name, err := range calls(t.Context(), d, p, "/ok") {
			wantErr(t, name+"("+strconv.Quote(p)+")", err, storagedriver.ErrInvalidPath)
		}
	}
	wantContent(t, d, "/ok", "ok")
	wantList(t, d, "/", "/ok")
}

// testRootOnlyForDirectories proves that "/" is refused as a file path
// (ErrInvalidPath) and accepted by Stat, List and Walk.
func testRootOnlyForDirectories(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/ok", "ok")
	dirMethods := map[string]bool{"Stat": true, "List": true, "Walk": true}
	for name, err := range calls(t.Context(), d, "/", "/ok") {
		if dirMethods[name] {
			if err != nil {
				t.Errorf("%s(/): %v", name, err)
			}
			continue
		}
		wantErr(t, name+"(/)", err, storagedriver.ErrInvalidPath)
	}
	wantContent(t, d, "/ok", "ok")
}

// testEndedContext proves that every method, and Commit and Cancel of a
// writer, return the context's error once it has ended, and that those calls
// changed nothing: no file written, moved or deleted, nothing committed.
func testEndedContext(t *testing.T, d storagedriver.Driver) {
	putString(t, d, "/cx/file", "data")
	w := newWriter(t, d, "/cx/pending", false)
	write(t, w, "abc")
	closeW(t, w)
	w = newWriter(t, d, "/cx/open", false)
	write(t, w, "abc")

	ctx := cancelled(t)
	for name, err := range calls(ctx, d, "/cx/file", "/cx/other") {
		wantErr(t, name, err, context.Canceled)
	}
	_, err := d.Writer(ctx, "/cx/pending", true)
	wantErr(t, "Writer(append) of a pending write", err, context.Canceled)
	wantErr(t, "Commit", w.Commit(ctx), context.Canceled)
	wantErr(t, "Cancel", w.Cancel(ctx), context.Canceled)
	wantNotFound(t, d, "/cx/open")
	if err := w.Close(); err != nil {
		t.Errorf("Close after refused Commit and Cancel: %v", err)
	}
	wantContent(t, d, "/cx/file", "data")
	wantNotFound(t, d, "/cx/other")
	w = newWriter(t, d, "/cx/pending", true)
	wantSize(t, w, 3)
	closeW(t, w)

	dl, stop := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer stop()
	_, err = d.GetContent(dl, "/cx/file")
	wantErr(t, "GetContent past deadline", err, context.DeadlineExceeded)
}

// testContextCancelledDuringWalk proves that a walk stops soon after its
// context is cancelled and returns the context's error.
func testContextCancelledDuringWalk(t *testing.T, d storagedriver.Driver) {
	wk, ok := d.(storagedriver.Walker)
	if !ok {
		t.Skip("driver does not implement Walker")
	}
	for _, p := range []string{"/cw/a/1", "/cw/a/2", "/cw/b/1", "/cw/c", "/cw/d", "/cw/e/f/g"} {
		putString(t, d, p, p)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	visited := 0
	err := wk.Walk(ctx, "/", func(storagedriver.FileInfo) error {
		visited++
		cancel()
		return nil
	})
	wantErr(t, "Walk cancelled at the first entry", err, context.Canceled)
	if visited > 2 {
		t.Errorf("Walk visited %d entries after its context was cancelled", visited-1)
	}
}
