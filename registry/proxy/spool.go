package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// A spool is a temporary file that one writer fills with a blob coming from
// an upstream while any number of readers read it, each at its own pace,
// waiting for bytes that have not arrived yet. The writer never waits for a
// reader, so a slow client does not slow the others, and memory stays at
// one copy buffer per reader whatever the blob's size.
//
// Readers never see the last byte before the writer has finished and the
// content verified: a blob that turns out not to match its digest reaches
// every reader as an error, never as a complete body.
type spool struct {
	f       *os.File
	path    string // to remove at close; "" once unlinked
	size    int64  // the blob's size as the upstream announced it; -1 unknown
	written int64  // owned by the writer; readers read it under mu

	mu    sync.Mutex
	avail int64         // bytes readers may read
	done  bool          // the writer has finished
	err   error         // why it failed; nil with done means complete and verified
	wake  chan struct{} // closed and replaced whenever avail or done change
	users int           // the creator and open readers; the file closes at 0
}

// newSpool creates the spool file in dir, with one use for its creator
// (release it when no reader can come any more). On Unix the file is
// unlinked at once: it lives only as long as it is open, and a crash leaves
// nothing behind.
func newSpool(dir string, size int64) (*spool, error) {
	f, err := os.CreateTemp(dir, "berth-proxy-*")
	if err != nil {
		return nil, fmt.Errorf("proxy spool: %w", err)
	}
	s := &spool{f: f, path: f.Name(), size: size, wake: make(chan struct{}), users: 1}
	if os.Remove(f.Name()) == nil {
		s.path = ""
	}
	return s, nil
}

// Write appends p. Only the writer calls it.
func (s *spool) Write(p []byte) (int, error) {
	n, err := s.f.WriteAt(p, s.written)
	s.written += int64(n)
	s.mu.Lock()
	// Hold back the last byte until finish: with an unknown size any byte
	// may be the last; with a known one, the size-th (and whatever an
	// upstream sends past it, which fails verification).
	avail := s.written - 1
	if s.size >= 0 {
		avail = min(s.written, s.size-1)
	}
	if avail > s.avail {
		s.avail = avail
		s.signal()
	}
	s.mu.Unlock()
	return n, err
}

// finish ends the writer's part: with err nil every written byte becomes
// readable and readers then get io.EOF; otherwise readers get err. The
// creator's use of the file stays until its release.
func (s *spool) finish(err error) {
	s.mu.Lock()
	s.done, s.err = true, err
	if err == nil {
		s.avail = s.written
	}
	s.signal()
	s.mu.Unlock()
}

// signal wakes every waiting reader. The caller holds mu.
func (s *spool) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// state reports what a reader at off may do: read up to avail, or stop
// with err (io.EOF at the end), or wait on wake.
func (s *spool) state() (avail int64, err error, wake <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.avail, s.err, nil
	case s.done:
		return s.avail, io.EOF, nil
	}
	return s.avail, nil, s.wake
}

// wait blocks until the writer has finished and returns its verdict, or
// ctx's error.
func (s *spool) wait(ctx context.Context) error {
	for {
		_, err, wake := s.state()
		if wake == nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// length is the blob's size: announced, or known once complete; -1 before.
func (s *spool) length() int64 {
	if s.size >= 0 {
		return s.size
	}
	if avail, err, _ := s.state(); errors.Is(err, io.EOF) {
		return avail
	}
	return -1
}

// open returns a reader from byte 0 whose waits end with ctx.
func (s *spool) open(ctx context.Context) *spoolReader {
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
	return &spoolReader{s: s, ctx: ctx}
}

// release drops one use; the last closes the file.
func (s *spool) release() {
	s.mu.Lock()
	s.users--
	last := s.users == 0
	s.mu.Unlock()
	if last {
		s.f.Close()
		if s.path != "" {
			os.Remove(s.path)
		}
	}
}

// spoolReader reads a spool as an io.ReadSeeker, so that http.ServeContent
// can answer Range requests while the blob is still arriving. Seeking to the
// end needs the size, which a blob of unknown size has only once complete.
type spoolReader struct {
	s      *spool
	ctx    context.Context
	off    int64
	closed bool
}

func (r *spoolReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	for {
		avail, err, wake := r.s.state()
		if r.off < avail {
			n := int64(len(p))
			if rest := avail - r.off; n > rest {
				n = rest
			}
			got, rerr := r.s.f.ReadAt(p[:n], r.off)
			r.off += int64(got)
			if errors.Is(rerr, io.EOF) && got > 0 {
				rerr = nil
			}
			return got, rerr
		}
		if err != nil {
			return 0, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case <-wake:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *spoolReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		size := r.s.length()
		if size < 0 {
			return 0, errors.New("proxy spool: seek from the end of a blob of unknown size")
		}
		offset += size
	default:
		return 0, errors.New("proxy spool: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("proxy spool: negative position")
	}
	r.off = offset
	return offset, nil
}

// Close releases the reader's use of the spool; it is safe to call twice.
func (r *spoolReader) Close() error {
	if !r.closed {
		r.closed = true
		r.s.release()
	}
	return nil
}
