package drivertest

import (
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

var writerTests = []test{
	{"WriterCommitPublishes", testWriterCommitPublishes},
	{"WriterCloseKeepsPending", testWriterCloseKeepsPending},
	{"WriterResumeNeedsPending", testWriterResumeNeedsPending},
	{"WriterWithoutAppendStartsEmpty", testWriterWithoutAppendStartsEmpty},
	{"WriterCancel", testWriterCancel},
	{"WriterEndsOnce", testWriterEndsOnce},
	{"DeleteDiscardsOpenWriter", testDeleteDiscardsOpenWriter},
}

// testWriterCommitPublishes proves that a writer's bytes appear at the path
// only on Commit, and that a write in progress creates no visible directory.
func testWriterCommitPublishes(t *testing.T, d storagedriver.Driver) {
	w := newWriter(t, d, "/w/file", false)
	write(t, w, "hello")
	wantSize(t, w, 5)
	wantNotFound(t, d, "/w/file")
	_, err := d.GetContent(t.Context(), "/w/file")
	wantErr(t, "GetContent before Commit", err, storagedriver.ErrPathNotFound)
	_, err = d.List(t.Context(), "/w")
	wantErr(t, "List of parent before Commit", err, storagedriver.ErrPathNotFound)
	commit(t, w)
	wantContent(t, d, "/w/file", "hello")
	wantList(t, d, "/w", "/w/file")
}

// testWriterCloseKeepsPending proves that Close keeps the bytes pending and
// invisible, that Writer(append=true) resumes them (Size counts them) over
// several sessions, and that Commit consumes the pending write.
func testWriterCloseKeepsPending(t *testing.T, d storagedriver.Driver) {
	w := newWriter(t, d, "/up/data", false)
	write(t, w, "hello ")
	closeW(t, w)
	wantNotFound(t, d, "/up/data")
	wantNotFound(t, d, "/up")
	wantList(t, d, "/")
	if wk, ok := d.(storagedriver.Walker); ok {
		err := wk.Walk(t.Context(), "/", func(fi storagedriver.FileInfo) error {
			t.Errorf("Walk visited %s of a pending write", fi.Path)
			return nil
		})
		if err != nil {
			t.Errorf("Walk: %v", err)
		}
	}

	w = newWriter(t, d, "/up/data", true)
	wantSize(t, w, 6)
	write(t, w, "world")
	wantSize(t, w, 11)
	closeW(t, w)
	w = newWriter(t, d, "/up/data", true)
	wantSize(t, w, 11)
	write(t, w, "!")
	commit(t, w)
	wantContent(t, d, "/up/data", "hello world!")

	_, err := d.Writer(t.Context(), "/up/data", true)
	wantErr(t, "Writer(append) after Commit", err, storagedriver.ErrPathNotFound)
}

// testWriterResumeNeedsPending proves that append=true finds only a pending
// write: not nothing, not committed content; and that an empty pending write
// (an upload just started) is one.
func testWriterResumeNeedsPending(t *testing.T, d storagedriver.Driver) {
	_, err := d.Writer(t.Context(), "/nothing", true)
	wantErr(t, "Writer(append) of nothing", err, storagedriver.ErrPathNotFound)
	putString(t, d, "/committed", "x")
	_, err = d.Writer(t.Context(), "/committed", true)
	wantErr(t, "Writer(append) of committed content", err, storagedriver.ErrPathNotFound)
	wantContent(t, d, "/committed", "x")

	closeW(t, newWriter(t, d, "/started/data", false))
	w := newWriter(t, d, "/started/data", true)
	wantSize(t, w, 0)
	write(t, w, "first chunk")
	commit(t, w)
	wantContent(t, d, "/started/data", "first chunk")
}

// testWriterWithoutAppendStartsEmpty proves that append=false discards a
// pending write at once (it cannot be resumed after the new writer ends), and that committed content stays readable until the new
// write's Commit replaces it whole.
func testWriterWithoutAppendStartsEmpty(t *testing.T, d storagedriver.Driver) {
	w := newWriter(t, d, "/t/pending", false)
	write(t, w, "old pending bytes")
	closeW(t, w)
	w = newWriter(t, d, "/t/pending", false)
	wantSize(t, w, 0)
	write(t, w, "new")
	commit(t, w)
	wantContent(t, d, "/t/pending", "new")
	_, err := d.Writer(t.Context(), "/t/pending", true)
	wantErr(t, "Writer(append) of a discarded pending write", err, storagedriver.ErrPathNotFound)

	w = newWriter(t, d, "/t/discarded", false)
	write(t, w, "old pending bytes")
	closeW(t, w)
	w = newWriter(t, d, "/t/discarded", false)
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err = d.Writer(t.Context(), "/t/discarded", true)
	wantErr(t, "Writer(append) after discarding and cancelling", err, storagedriver.ErrPathNotFound)

	putString(t, d, "/t/committed", "old committed content")
	w = newWriter(t, d, "/t/committed", false)
	wantSize(t, w, 0)
	write(t, w, "new")
	wantContent(t, d, "/t/committed", "old committed content")
	closeW(t, w)
	wantContent(t, d, "/t/committed", "old committed content")
	w = newWriter(t, d, "/t/committed", true)
	commit(t, w)
	wantContent(t, d, "/t/committed", "new")
}

// testWriterCancel proves that Cancel discards fresh and resumed bytes and
// leaves no file, directory or pending write, but never touches committed
// content.
func testWriterCancel(t *testing.T, d storagedriver.Driver) {
	w := newWriter(t, d, "/c/new/file", false)
	write(t, w, "abc")
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	wantNotFound(t, d, "/c/new/file")
	wantNotFound(t, d, "/c")
	_, err := d.Writer(t.Context(), "/c/new/file", true)
	wantErr(t, "Writer(append) after Cancel", err, storagedriver.ErrPathNotFound)

	w = newWriter(t, d, "/c/resumed", false)
	write(t, w, "abc")
	closeW(t, w)
	w = newWriter(t, d, "/c/resumed", true)
	write(t, w, "def")
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel of resumed write: %v", err)
	}
	_, err = d.Writer(t.Context(), "/c/resumed", true)
	wantErr(t, "Writer(append) after Cancel of resumed write", err, storagedriver.ErrPathNotFound)
	wantNotFound(t, d, "/c/resumed")

	putString(t, d, "/c/kept", "keep me")
	w = newWriter(t, d, "/c/kept", false)
	write(t, w, "replacement")
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel over committed content: %v", err)
	}
	wantContent(t, d, "/c/kept", "keep me")
}

// testWriterEndsOnce proves that after Commit, Cancel or Close the writer
// refuses Write, Commit and Cancel, while Close stays a harmless no-op that
// does not resurrect a pending write.
func testWriterEndsOnce(t *testing.T, d storagedriver.Driver) {
	ends := map[string]func(w storagedriver.FileWriter) error{
		"Commit": func(w storagedriver.FileWriter) error { return w.Commit(t.Context()) },
		"Cancel": func(w storagedriver.FileWriter) error { return w.Cancel(t.Context()) },
		"Close":  func(w storagedriver.FileWriter) error { return w.Close() },
	}
	for name, end := range ends {
		p := "/end/" + name
		w := newWriter(t, d, p, false)
		write(t, w, "x")
		if err := end(w); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := w.Write([]byte("y")); err == nil {
			t.Errorf("Write after %s succeeded", name)
		}
		if err := w.Commit(t.Context()); err == nil {
			t.Errorf("Commit after %s succeeded", name)
		}
		if err := w.Cancel(t.Context()); err == nil {
			t.Errorf("Cancel after %s succeeded", name)
		}
		for range 2 {
			if err := w.Close(); err != nil {
				t.Errorf("Close after %s: %v", name, err)
			}
		}
		resumed, err := d.Writer(t.Context(), p, true)
		if name == "Close" {
			if err != nil {
				t.Fatalf("Writer(append) after Close: %v", err)
			}
			wantSize(t, resumed, 1)
			closeW(t, resumed)
		} else {
			wantErr(t, "Writer(append) after "+name+" and Close", err, storagedriver.ErrPathNotFound)
		}
	}
	wantContent(t, d, "/end/Commit", "x")
	wantNotFound(t, d, "/end/Cancel")
	wantNotFound(t, d, "/end/Close")
}

// testDeleteDiscardsOpenWriter proves that deleting a directory also
// discards the write of a writer still open below it, one that has not
// Closed yet and so may have left no record of itself: its Commit fails
// with ErrPathNotFound and publishes nothing, and a Close instead of the
// Commit records nothing, so a purged upload cannot reappear.
func testDeleteDiscardsOpenWriter(t *testing.T, d storagedriver.Driver) {
	ctx := t.Context()
	for _, end := range []string{"Commit", "Close"} {
		dir := "/up/" + end
		w := newWriter(t, d, dir+"/data", false)
		write(t, w, "abc")
		put(t, d, dir+"/startedat", []byte("now"))
		if err := d.Delete(ctx, dir); err != nil {
			t.Fatal(err)
		}
		if end == "Commit" {
			wantErr(t, "Commit after Delete", w.Commit(ctx), storagedriver.ErrPathNotFound)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close after Delete: %v", err)
		}
		for _, p := range []string{dir + "/data", dir} {
			wantNotFound(t, d, p)
		}
		_, err := d.Writer(ctx, dir+"/data", true)
		wantErr(t, "Writer(append) after Delete and "+end, err, storagedriver.ErrPathNotFound)
	}
	wantNotFound(t, d, "/up")
}
