package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
)

func tarOf(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEachEntry: every entry in order; a damaged tar is ErrCorrupt named
// by what; fn's error and the end of ctx stop the walk.
func TestEachEntry(t *testing.T) {
	ctx := t.Context()
	whole := tarOf(t, "a", "b", "c")
	var seen []string
	collect := func(hdr *tar.Header) error {
		seen = append(seen, hdr.Name)
		return nil
	}
	if err := EachEntry(ctx, tar.NewReader(bytes.NewReader(whole)), "test tar", collect); err != nil || strings.Join(seen, ",") != "a,b,c" {
		t.Fatalf("whole tar: %v, saw %v", err, seen)
	}

	seen = nil
	cut := tar.NewReader(bytes.NewReader(whole[:1024+100])) // inside b's header
	err := EachEntry(ctx, cut, "test tar", collect)
	if !errors.Is(err, errdefs.ErrCorrupt) || !strings.HasPrefix(err.Error(), "test tar: ") || strings.Join(seen, ",") != "a" {
		t.Errorf("cut tar: %v, saw %v", err, seen)
	}

	boom := errors.New("boom")
	n := 0
	err = EachEntry(ctx, tar.NewReader(bytes.NewReader(whole)), "test tar", func(*tar.Header) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Errorf("fn failing at the second entry: %v after %d calls", err, n)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = EachEntry(cctx, tar.NewReader(bytes.NewReader(whole)), "test tar", func(*tar.Header) error {
		t.Error("called after ctx ended")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
