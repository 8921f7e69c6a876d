package blobio

import (
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Uploads copy their bodies in up to copyBufs buffers of copyBufSize bytes,
// once the body is longer than its first small read: the request's
// goroutine reads into one buffer while one goroutine hashes and another
// writes the buffers read before, each buffer hashed and written at the
// same time, so that reading, hashing and writing overlap. A chunked
// upload's request then ends one buffer's write after its last read, where
// hashing the last buffer and then writing it took both in turn. Small
// bodies (the configs and layers of a push storm) take no big buffer at
// all, and a buffer is taken from the pool only when none of those taken
// is free, so that a body read no faster than it is hashed holds fewer
// than copyBufs. Three buffers are one for each of the three: a fourth
// bought no speed in alternated runs of regbench's push workloads and held
// 512 KiB more of the heap through a big push (256 KiB buffers cost a
// 1 GiB push 5% more CPU in alternated runs).
const (
	copyBufSize  = 512 << 10
	copyBufs     = 3
	copyFirstLen = 32 << 10
)

var copyPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// firstPool holds the buffers of the first read: a push storm commits
// thousands of small blobs a second, and a buffer made for each was half
// the bytes the registry allocated.
var firstPool = sync.Pool{New: func() any { b := make([]byte, copyFirstLen); return &b }}

// CopyHashed copies r to w, feeding h (may be nil) every byte written. It
// returns the bytes written; those of a body that broke off are written too,
// as io.Copy would. When it returns, h has been fed exactly the bytes
// written, unless the write failed (then it may have been fed more).
func CopyHashed(w io.Writer, r io.Reader, h hash.Hash) (int64, error) {
	fp := firstPool.Get().(*[]byte)
	defer firstPool.Put(fp)
	first := *fp
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

// copyPipelined is CopyHashed's loop for long bodies. Buffer i goes back
// to free once each of its users (the writer, and the hasher when there is
// one) has released it; refs[i] counts those left.
func copyPipelined(w io.Writer, r io.Reader, h hash.Hash) (int64, error) {
	type chunk struct{ i, n int }
	var bufs [copyBufs]*[]byte // bufs[:taken] come from the pool
	var refs [copyBufs]atomic.Int32
	free := make(chan int, copyBufs)
	taken := 0
	next := func() int {
		select {
		case i := <-free:
			return i
		default:
		}
		if taken < copyBufs {
			bufs[taken] = copyPool.Get().(*[]byte)
			taken++
			return taken - 1
		}
		return <-free
	}
	release := func(i int) {
		if refs[i].Add(-1) == 0 {
			free <- i
		}
	}
	users := int32(1)
	toWrite := make(chan chunk, copyBufs)
	toHash := make(chan chunk, copyBufs)
	hashed := make(chan struct{})
	if h != nil {
		users = 2
		go func() {
			for c := range toHash {
				h.Write((*bufs[c.i])[:c.n])
				release(c.i)
			}
			close(hashed)
		}()
	} else {
		close(hashed)
	}
	var written int64
	var failed atomic.Bool
	werrc := make(chan error, 1)
	go func() {
		var werr error
		for c := range toWrite {
			if werr == nil {
				var n int64
				n, werr = writeAll(w, (*bufs[c.i])[:c.n])
				written += n
				failed.Store(werr != nil)
			}
			release(c.i)
		}
		werrc <- werr
	}()
	var rerr error
	for !failed.Load() {
		i := next()
		n, err := io.ReadFull(r, *bufs[i])
		if n > 0 {
			refs[i].Store(users)
			toWrite <- chunk{i, n}
			if h != nil {
				toHash <- chunk{i, n}
			}
		} else {
			free <- i
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(toWrite)
	close(toHash)
	werr := <-werrc // written is final once the writer has sent this
	<-hashed
	for range taken {
		copyPool.Put(bufs[<-free])
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
