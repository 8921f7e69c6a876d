package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	// partsInFlight bounds the parts one writer uploads at once: one part
	// uploads while the next chunk fills, so that reading overlaps
	// sending and a writer holds at most two chunks in memory.
	partsInFlight = 1
	// partBuffers bounds the parts the whole driver (one per process)
	// uploads in the background at once, and the idle chunk buffers it
	// keeps for them. A writer that finds every slot taken uploads its
	// part itself before it reads on: concurrent pushes share a fixed
	// number of spare chunks rather than each adding one.
	partBuffers = 4
	// minGrowth is the first buffer of a writer: small writes stay small.
	minGrowth = 64 << 10
	// poolFrom is the capacity from which a growing buffer is swapped for
	// a pooled chunk rather than doubled: the doublings of every write's
	// first chunk would otherwise leave its size again in garbage.
	poolFrom = 1 << 20
)

// Write buffers b, starting the upload of a part each time the buffer
// holds ChunkSize bytes.
func (w *writer) Write(b []byte) (int, error) {
	if err := w.writable(); err != nil {
		return 0, err
	}
	if err := w.load(w.ctx); err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		if err := w.room(); err != nil {
			return n, err
		}
		c := copy(w.buf[len(w.buf):cap(w.buf)], b)
		w.buf = w.buf[:len(w.buf)+c]
		b = b[c:]
		n += c
		w.dirty = true
	}
	return n, nil
}

// ReadFrom reads r straight into the part buffer, so that io.Copy into the
// writer makes no intermediate copy.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.writable(); err != nil {
		return 0, err
	}
	if err := w.load(w.ctx); err != nil {
		return 0, err
	}
	var n int64
	for {
		if err := w.room(); err != nil {
			return n, err
		}
		m, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		if m > 0 {
			w.buf = w.buf[:len(w.buf)+m]
			n += int64(m)
			w.dirty = true
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// room makes space in the buffer: it sends a full buffer off as a part,
// and grows a small one (doubling, up to ChunkSize), so that a small write
// holds little memory.
func (w *writer) room() error {
	if err := w.failed(); err != nil {
		return err
	}
	chunk := int(w.d.p.ChunkSize)
	if len(w.buf) >= chunk {
		// Not cancelled with the request: parts in flight when a client
		// goes away are still recorded by Close.
		if err := w.flush(context.WithoutCancel(w.ctx)); err != nil {
			return err
		}
	}
	if len(w.buf) < cap(w.buf) {
		return nil
	}
	var grown []byte
	if next := max(2*cap(w.buf), minGrowth); next < min(poolFrom, chunk) {
		grown = make([]byte, len(w.buf), next)
	} else {
		grown = w.d.getBuffer()[:len(w.buf)]
	}
	copy(grown, w.buf)
	w.d.putBuffer(w.buf)
	w.buf = grown
	return nil
}

// flush sends the buffer off as the next part, starting the multipart
// upload on the first, and continues in a fresh buffer. It waits while
// partsInFlight uploads run.
func (w *writer) flush(ctx context.Context) error {
	d := w.d
	if w.parts >= maxParts {
		return fmt.Errorf("s3: %s: more than %d parts of %d bytes; raise storage.s3.chunksize", w.path, maxParts, d.p.ChunkSize)
	}
	if w.uploadID == "" {
		id, err := d.createUpload(ctx, w.path)
		if err != nil {
			return err
		}
		w.uploadID = id
	}
	select {
	case w.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	num, buf := int32(w.parts+1), w.buf
	w.mu.Lock()
	i := len(w.session)
	w.session = append(w.session, types.CompletedPart{PartNumber: aws.Int32(num)})
	w.mu.Unlock()
	w.parts++
	w.partsSize += int64(len(buf))
	w.dirty = true
	upload := func() {
		etag, err := d.uploadPart(ctx, w.path, w.uploadID, num, buf)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.upErr = cmpOr(w.upErr, err)
			return
		}
		w.session[i].ETag = aws.String(etag)
	}
	select {
	case d.background <- struct{}{}:
		w.buf = d.getBuffer()
		w.uploads.Go(func() {
			defer func() { <-w.inflight; <-d.background }()
			upload()
			d.putBuffer(buf)
		})
	default:
		// Every background slot is taken: upload here, then fill the
		// same buffer again.
		upload()
		<-w.inflight
		w.buf = buf[:0]
	}
	return nil
}

func (d *driver) uploadPart(ctx context.Context, p, id string, num int32, b []byte) (string, error) {
	out, err := d.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &d.p.Bucket,
		Key:           aws.String(d.key(p)),
		UploadId:      aws.String(id),
		PartNumber:    aws.Int32(num),
		Body:          bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
	})
	if err != nil {
		return "", fail(ctx, "UploadPart", p, err)
	}
	return aws.ToString(out.ETag), nil
}

// failed returns the error of a part upload that failed, if any.
func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.upErr
}

// wait waits for the uploads in flight and returns the first failure.
func (w *writer) wait() error {
	w.uploads.Wait()
	return w.failed()
}

// release hands the buffer back once the writer has ended.
func (w *writer) release() {
	w.released = int64(len(w.buf))
	w.d.putBuffer(w.buf)
	w.buf = nil
}

// chain is chainETag over the write's parts: the record's, then this
// session's. Only after wait.
func (w *writer) chain() string {
	c := w.recordedChain
	for _, p := range w.session {
		c = chainETag(c, aws.ToString(p.ETag))
	}
	return c
}

// chainETag extends a chain of part ETags with etag. A resumed write checks
// at Commit that the parts S3 lists still chain to the recorded value, so
// that a part overwritten by a concurrent writer of the same pending write
// is caught before anything is published.
func chainETag(chain, etag string) string {
	h := sha256.Sum256([]byte(chain + "\n" + strings.Trim(etag, `"`)))
	return hex.EncodeToString(h[:16])
}

// getBuffer returns an empty buffer of ChunkSize capacity: an idle one, or
// a new one.
func (d *driver) getBuffer() []byte {
	select {
	case b := <-d.buffers:
		return b[:0]
	default:
		return make([]byte, 0, d.p.ChunkSize)
	}
}

// putBuffer keeps a full-size buffer for another part while fewer than
// partBuffers are idle, and leaves the rest to the garbage collector.
func (d *driver) putBuffer(b []byte) {
	if int64(cap(b)) != d.p.ChunkSize {
		return
	}
	select {
	case d.buffers <- b:
	default:
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
