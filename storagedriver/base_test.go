package storagedriver_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// backend records every call that reaches it; the Base in front of it must
// stop bad arguments first.
type backend struct{ calls []string }

func (b *backend) called(op string, paths ...string) {
	b.calls = append(b.calls, op+" "+strings.Join(paths, " "))
}

func (b *backend) Name() string { return "recording" }
func (b *backend) GetContent(_ context.Context, p string) ([]byte, error) {
	b.called("GetContent", p)
	return nil, nil
}
func (b *backend) PutContent(_ context.Context, p string, _ []byte) error {
	b.called("PutContent", p)
	return nil
}
func (b *backend) Reader(_ context.Context, p string, _ int64) (io.ReadCloser, error) {
	b.called("Reader", p)
	return io.NopCloser(strings.NewReader("")), nil
}
func (b *backend) Writer(_ context.Context, p string, _ bool) (storagedriver.FileWriter, error) {
	b.called("Writer", p)
	return nil, nil
}
func (b *backend) Stat(_ context.Context, p string) (storagedriver.FileInfo, error) {
	b.called("Stat", p)
	return storagedriver.FileInfo{}, nil
}
func (b *backend) List(_ context.Context, p string) ([]string, error) {
	b.called("List", p)
	return nil, nil
}
func (b *backend) Move(_ context.Context, src, dst string) error {
	b.called("Move", src, dst)
	return nil
}
func (b *backend) Delete(_ context.Context, p string) error {
	b.called("Delete", p)
	return nil
}
func (b *backend) Walk(_ context.Context, p string, _ storagedriver.WalkFunc) error {
	b.called("Walk", p)
	return nil
}
func (b *backend) Open(_ context.Context, p string) (io.ReadSeekCloser, error) {
	b.called("Open", p)
	return nil, nil
}
func (b *backend) RedirectURL(_ context.Context, _, p string) (string, error) {
	b.called("RedirectURL", p)
	return "", nil
}
func (b *backend) PurgePending(context.Context, time.Time, bool) (int, int64, error) {
	b.called("PurgePending")
	return 0, 0, nil
}

type front struct {
	*storagedriver.Base
	storagedriver.BaseWalker
	storagedriver.BaseOpener
	storagedriver.BaseRedirector
	storagedriver.BasePurger
}

func newFront() (*front, *backend) {
	be := &backend{}
	b := storagedriver.NewBase(be)
	return &front{b, b.Walker(be), b.Opener(be), b.Redirector(be), b.Purger(be)}, be
}

// calls is every operation of the front on path p (Move from p and to p).
func calls(ctx context.Context, f *front, p string) map[string]func() error {
	return map[string]func() error{
		"GetContent":  func() error { _, err := f.GetContent(ctx, p); return err },
		"PutContent":  func() error { return f.PutContent(ctx, p, nil) },
		"Reader":      func() error { _, err := f.Reader(ctx, p, 0); return err },
		"Writer":      func() error { _, err := f.Writer(ctx, p, false); return err },
		"Stat":        func() error { _, err := f.Stat(ctx, p); return err },
		"List":        func() error { _, err := f.List(ctx, p); return err },
		"MoveFrom":    func() error { return f.Move(ctx, p, "/ok") },
		"MoveTo":      func() error { return f.Move(ctx, "/ok", p) },
		"Delete":      func() error { return f.Delete(ctx, p) },
		"Walk":        func() error { return f.Walk(ctx, p, nil) },
		"Open":        func() error { _, err := f.Open(ctx, p); return err },
		"RedirectURL": func() error { _, err := f.RedirectURL(ctx, "GET", p); return err },
	}
}

func TestBaseRefusesBadPathsBeforeTheBackend(t *testing.T) {
	for _, p := range []string{"", "a", "/a/../b", "/..", "/a/", "//", "/a b", "/a/./b", "/~pending/x", "/+pending"} {
		f, be := newFront()
		for op, call := range calls(t.Context(), f, p) {
			err := call()
			if !errors.Is(err, storagedriver.ErrInvalidPath) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s(%q): %v, want ErrInvalidPath naming the path", op, p, err)
			}
		}
		if len(be.calls) != 0 {
			t.Errorf("path %q reached the backend: %q", p, be.calls)
		}
	}
}

func TestBaseRootOnlyWhereAllowed(t *testing.T) {
	f, be := newFront()
	dirOps := map[string]bool{"Stat": true, "List": true, "Walk": true}
	for op, call := range calls(t.Context(), f, "/") {
		err := call()
		if dirOps[op] != (err == nil) {
			t.Errorf("%s(\"/\"): %v", op, err)
		}
	}
	slices.Sort(be.calls)
	if want := []string{"List /", "Stat /", "Walk /"}; !slices.Equal(be.calls, want) {
		t.Errorf("backend calls %q, want %q", be.calls, want)
	}
}

func TestBaseRefusesAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, be := newFront()
	for op, call := range calls(ctx, f, "/a/b") {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with an ended context: %v", op, err)
		}
	}
	if len(be.calls) != 0 {
		t.Errorf("an ended context reached the backend: %q", be.calls)
	}
}

func TestBaseForwardsValidCalls(t *testing.T) {
	f, be := newFront()
	for op, call := range calls(t.Context(), f, "/a/b") {
		if err := call(); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	if _, _, err := f.PurgePending(t.Context(), time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if f.Name() != "recording" {
		t.Errorf("Name %q", f.Name())
	}
	if len(be.calls) != 13 {
		t.Errorf("backend calls %q, want all 13", be.calls)
	}
}
