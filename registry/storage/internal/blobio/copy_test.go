package blobio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestCopyHashed checks the pipelined copy of upload bodies: every byte
// arrives in order and is hashed, at sizes around its buffer boundaries, in
// reads of odd sizes; a body that breaks off keeps what arrived; a failing
// write stops the copy with its error.
func TestCopyHashed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, copyFirstLen - 1, copyFirstLen, copyFirstLen + 1,
		copyFirstLen + copyBufSize, copyFirstLen + copyBufs*copyBufSize + 7, 5<<20 + 3} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		for _, r := range []io.Reader{bytes.NewReader(src), iotest.OneByteReader(bytes.NewReader(src)), iotest.HalfReader(bytes.NewReader(src))} {
			if size > 1<<20 && r != nil && !isBytesReader(r) {
				continue // one byte at a time is slow under -race
			}
			var dst bytes.Buffer
			h := sha256.New()
			n, err := CopyHashed(&dst, r, h)
			if err != nil || n != int64(size) || !bytes.Equal(dst.Bytes(), src) {
				t.Fatalf("size %d: n %d, err %v, equal %v", size, n, err, bytes.Equal(dst.Bytes(), src))
			}
			if want := sha256.Sum256(src); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("size %d: wrong hash", size)
			}
		}
	}

	src := make([]byte, 3<<20)
	broken := errors.New("client went away")
	var dst bytes.Buffer
	n, err := CopyHashed(&dst, io.MultiReader(bytes.NewReader(src[:2<<20+5]), iotest.ErrReader(broken)), sha256.New())
	if !errors.Is(err, broken) || n != 2<<20+5 || dst.Len() != 2<<20+5 {
		t.Fatalf("broken body: n %d, written %d, err %v; want %d and %v", n, dst.Len(), err, 2<<20+5, broken)
	}

	full := errors.New("disk full")
	fw := &failingWriter{left: copyFirstLen + copyBufSize + 10, err: full}
	n, err = CopyHashed(fw, bytes.NewReader(src), sha256.New())
	if !errors.Is(err, full) || n != copyFirstLen+copyBufSize+10 {
		t.Fatalf("failing write: n %d, err %v; want %d and %v", n, err, copyFirstLen+copyBufSize+10, full)
	}
}

func isBytesReader(r io.Reader) bool { _, ok := r.(*bytes.Reader); return ok }

// failingWriter accepts left bytes, then fails.
type failingWriter struct {
	left int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}
