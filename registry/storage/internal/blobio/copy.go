package blobio

import (
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Uploads copy their bodies in up to copyBufs buffers of copyBufSize bytes,
// once the body is longer than its first small read: the request's
// goroutine reads and hashes one buffer while another goroutine writes the
// previous one, so that hashing and writing overlap. Small bodies (the
// configs and layers of a push storm) take no big buffer at all, and a
// buffer is taken only when the writer has none to give back: hashing is
// slower than writing to a filesystem, so an upload there holds two
// (1 MiB), where it took all four (2 MiB) from the pool, which kept them
// alive into the next workloads. (256 KiB buffers halved that again but
// cost a 1 GiB push 5% more CPU in alternated runs.)
const (
	copyBufSize  = 512 << 10
	copyBufs     = 4
	copyFirstLen = 32 << 10
)

var copyPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// CopyHashed copies r to w, feeding h (may be nil) every byte written. It
// returns the bytes written; those of a body that broke off are written too,
// as io.Copy would. Every byte written was hashed before it, and none is
// hashed that was not written unless the write failed.
func CopyHashed(w io.Writer, r io.Reader, h hash.Hash) (int64, error) {
	first := make([]byte, copyFirstLen)
	n, rerr := io.ReadFull(r, first)
	if h != nil {
		h.Write(first[:n])
	}
	written, err := writeAll(w, first[:n])
	if err != nil {
		return written, err
	}
	switch {
	case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
		return written, nil
	case rerr != nil:
		return written, rerr
	}
	more, err := copyPipelined(w, r, h)
	return written + more, err
}

// copyPipelined is CopyHashed's loop for long bodies.
func copyPipelined(w io.Writer, r io.Reader, h hash.Hash) (int64, error) {
	type chunk struct {
		buf *[]byte
		n   int
	}
	free := make(chan *[]byte, copyBufs)
	taken := 0 // buffers taken from the pool; each is in free, full or in use
	next := func() *[]byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if taken < copyBufs {
			taken++
			return copyPool.Get().(*[]byte)
		}
		return <-free
	}
	full := make(chan chunk, copyBufs)
	var written int64
	var failed atomic.Bool
	werrc := make(chan error, 1)
	go func() {
		var werr error
		for c := range full {
			if werr == nil {
				var n int64
				n, werr = writeAll(w, (*c.buf)[:c.n])
				written += n
				failed.Store(werr != nil)
			}
			free <- c.buf
		}
		werrc <- werr
	}()
	var rerr error
	for !failed.Load() {
		buf := next()
		n, err := io.ReadFull(r, *buf)
		if n > 0 {
			if h != nil {
				h.Write((*buf)[:n])
			}
			full <- chunk{buf, n}
		} else {
			free <- buf
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(full)
	werr := <-werrc // written is final once the writer has sent this
	for range taken {
		copyPool.Put(<-free)
	}
	if werr != nil {
		return written, werr
	}
	return written, rerr
}

// writeAll writes b to w; a short write without an error is one.
func writeAll(w io.Writer, b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}
