package drivertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

type test struct {
	name string
	fn   func(t *testing.T, d storagedriver.Driver)
}

// Run runs the suite, one subtest per property, each against a fresh driver
// from newDriver. Subtests for Walker, Opener and PendingPurger are skipped
// when the driver lacks them.
func Run(t *testing.T, newDriver func(t *testing.T) storagedriver.Driver) {
	var tests []test
	tests = append(tests, contentTests...)
	tests = append(tests, writerTests...)
	tests = append(tests, treeTests...)
	tests = append(tests, pathTests...)
	tests = append(tests, concurrencyTests...)
	tests = append(tests, walkTests...)
	tests = append(tests, openTests...)
	tests = append(tests, purgeTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDriver(t)) })
	}
}

// prng returns n bytes of deterministic pseudo-random data as a stream.
func prng(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func prngBytes(t *testing.T, seed uint64, n int) []byte {
	t.Helper()
	b, err := io.ReadAll(prng(seed, int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, d storagedriver.Driver, p string, content []byte) {
	t.Helper()
	if err := d.PutContent(t.Context(), p, content); err != nil {
		t.Fatalf("PutContent(%q): %v", p, err)
	}
}

func putString(t *testing.T, d storagedriver.Driver, p, content string) {
	t.Helper()
	put(t, d, p, []byte(content))
}

func get(t *testing.T, d storagedriver.Driver, p string) []byte {
	t.Helper()
	b, err := d.GetContent(t.Context(), p)
	if err != nil {
		t.Fatalf("GetContent(%q): %v", p, err)
	}
	return b
}

func wantContent(t *testing.T, d storagedriver.Driver, p, want string) {
	t.Helper()
	if got := get(t, d, p); string(got) != want {
		t.Fatalf("GetContent(%q) = %q, want %q", p, clip(got), clip([]byte(want)))
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func wantNotFound(t *testing.T, d storagedriver.Driver, p string) {
	t.Helper()
	_, err := d.Stat(t.Context(), p)
	wantErr(t, "Stat("+p+")", err, storagedriver.ErrPathNotFound)
}

func list(t *testing.T, d storagedriver.Driver, p string) []string {
	t.Helper()
	got, err := d.List(t.Context(), p)
	if err != nil {
		t.Fatalf("List(%q): %v", p, err)
	}
	return got
}

func wantList(t *testing.T, d storagedriver.Driver, p string, want ...string) {
	t.Helper()
	if got := list(t, d, p); !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", p, got, want)
	}
}

func newWriter(t *testing.T, d storagedriver.Driver, p string, appendTo bool) storagedriver.FileWriter {
	t.Helper()
	w, err := d.Writer(t.Context(), p, appendTo)
	if err != nil {
		t.Fatalf("Writer(%q, %v): %v", p, appendTo, err)
	}
	return w
}

func write(t *testing.T, w storagedriver.FileWriter, s string) {
	t.Helper()
	if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func wantSize(t *testing.T, w storagedriver.FileWriter, want int64) {
	t.Helper()
	if got := w.Size(); got != want {
		t.Fatalf("Size() = %d, want %d", got, want)
	}
}

func commit(t *testing.T, w storagedriver.FileWriter) {
	t.Helper()
	if err := w.Commit(t.Context()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func closeW(t *testing.T, w storagedriver.FileWriter) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// cancelled returns a context that has already ended.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return append(bytes.Clone(b[:64]), "..."...)
	}
	return b
}

// Park leaves content as a pending write at path: written and closed,
// never committed, so that Writer(path, true) can resume it. Tests of a
// driver's own pending area (purging, crash recovery) start from it.
func Park(t *testing.T, d storagedriver.Driver, path string, content []byte) {
	t.Helper()
	w, err := d.Writer(t.Context(), path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	closeW(t, w)
}
