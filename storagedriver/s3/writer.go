package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth-registry/berth/storagedriver"
)

// The user metadata of a tail object: the record of a pending write.
const (
	metaUpload = "berth-upload-id"   // its multipart upload; absent before the first part
	metaParts  = "berth-parts"       // how many parts of that upload belong to it
	metaSize   = "berth-parts-size"  // their total size
	metaChain  = "berth-parts-chain" // chainETag over their ETags, in order
)

type writerState int

const (
	open writerState = iota
	closed
	committed
	cancelled
)

func (s writerState) String() string {
	return [...]string{"open", "closed", "committed", "cancelled"}[s]
}

// writer is a pending write: parts of a multipart upload on the path's key
// (each ChunkSize, uploaded as soon as the buffer fills, a few at a time)
// and a tail of fewer bytes in memory. Close stores the tail, with the
// record of the parts, as the tail object; Writer(append=true) reads it
// back, in any process.
type writer struct {
	d    *Driver
	path string
	// ctx is the context Writer was called with. Write uploads parts and
	// Close stores the tail, and the FileWriter interface gives them no
	// context of their own; Close detaches from its cancellation so that
	// what a broken request delivered is kept.
	ctx   context.Context
	state writerState

	uploadID  string
	parts     int   // parts of the write, recorded ones and those in flight included
	partsSize int64 // their total size
	// The record read at resumption: the parts before this session, whose
	// ETags are listed and checked against it at Commit.
	recorded      int
	recordedSize  int64
	recordedChain string
	buf           []byte // the tail: bytes not yet in a part
	// unloaded is the length of a resumed tail not read yet (it is read
	// at the first write; a Commit without one copies it inside S3), and
	// tailETag the ETag it had when resumed.
	unloaded int64
	tailETag string
	released int64 // the tail's length once buf has gone back to the pool
	// tailExists says a tail object is to be replaced or deleted; dirty
	// that Close has something to record.
	tailExists, dirty bool

	// The parts uploaded by this writer, in order; uploads run in the
	// background, at most partsInFlight at a time.
	inflight chan struct{}
	uploads  sync.WaitGroup
	mu       sync.Mutex
	session  []types.CompletedPart // ETag nil until its upload ends
	upErr    error                 // the first failed upload's error
}

// Writer opens a writer at p. With append false it first discards the
// pending write at p (its tail and multipart upload); committed content stays
// until Commit replaces it. With append true it resumes the pending write
// from its tail object: ErrPathNotFound when there is none.
func (d *Driver) Writer(ctx context.Context, p string, append bool) (storagedriver.FileWriter, error) {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	w := &writer{d: d, path: p, ctx: ctx, inflight: make(chan struct{}, partsInFlight)}
	if !append {
		if err := d.discardPending(ctx, p); err != nil {
			return nil, err
		}
		w.dirty = true // Close records even an empty write: an upload just started
		return w, nil
	}
	if err := w.resume(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// discardPending aborts the multipart upload of the pending write at p and
// deletes its tail.
func (d *Driver) discardPending(ctx context.Context, p string) error {
	tail := d.tailKey(p)
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(tail)})
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fail(ctx, "HeadObject", p, err)
	}
	if id := out.Metadata[metaUpload]; id != "" {
		if err := d.abort(ctx, p, d.key(p), id); err != nil {
			return err
		}
	}
	return d.deleteObject(ctx, p, tail)
}

func (d *Driver) deleteObject(ctx context.Context, p, key string) error {
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.p.Bucket, Key: aws.String(key)})
	if err != nil && !notFound(err) {
		return fail(ctx, "DeleteObject", p, err)
	}
	return nil
}

// resume reads the record of the pending write from its tail object's
// metadata (a HEAD: asking for an upload's Size moves no bytes).
func (w *writer) resume(ctx context.Context) error {
	d := w.d
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(w.path))})
	if err != nil {
		return fail(ctx, "HeadObject", w.path, err)
	}
	m := out.Metadata
	if id := m[metaUpload]; id != "" {
		w.uploadID, w.recordedChain = id, m[metaChain]
		if w.parts, err = strconv.Atoi(m[metaParts]); err == nil {
			w.partsSize, err = strconv.ParseInt(m[metaSize], 10, 64)
		}
		if err != nil || w.parts < 1 || w.parts > maxParts || w.partsSize < 0 {
			return fmt.Errorf("s3: pending write %s: bad record %v", w.path, m)
		}
	}
	w.recorded, w.recordedSize = w.parts, w.partsSize
	n := aws.ToInt64(out.ContentLength)
	if n < 0 || n > maxPartSize {
		return fmt.Errorf("s3: pending write %s: tail of %d bytes", w.path, n)
	}
	w.unloaded, w.tailETag, w.tailExists = n, aws.ToString(out.ETag), true
	return nil
}

// load reads the resumed tail into the buffer, provided the tail object
// is still the one resume saw.
func (w *writer) load(ctx context.Context) error {
	if w.unloaded == 0 {
		return nil
	}
	d := w.d
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(w.path)), IfMatch: aws.String(w.tailETag),
	})
	if err != nil {
		if apiCode(err) == "PreconditionFailed" {
			return fmt.Errorf("s3: pending write %s changed under its writer: written by two at once?", w.path)
		}
		return fail(ctx, "GetObject", w.path, err)
	}
	defer out.Body.Close()
	buf := make([]byte, w.unloaded, max(w.unloaded, minGrowth))
	if _, err := io.ReadFull(out.Body, buf); err != nil {
		return fail(ctx, "GetObject", w.path, err)
	}
	w.buf, w.unloaded = buf, 0
	return nil
}

func (w *writer) writable() error {
	if w.state != open {
		return errors.New("s3: writer already " + w.state.String())
	}
	return w.failed()
}

// Size is the length of the parts plus the buffered tail.
func (w *writer) Size() int64 { return w.partsSize + int64(len(w.buf)) + w.unloaded + w.released }

// Close waits for the parts in flight, then stores the tail and the record
// of the parts as the tail object, unless this writer changed nothing.
// When a part failed it records nothing and returns the failure: the
// pending write stays as it was before this writer. It is a no-op after
// Commit, Cancel or Close.
func (w *writer) Close() error {
	if w.state != open {
		return nil
	}
	w.state = closed
	defer w.release()
	if err := w.wait(); err != nil {
		return err
	}
	if !w.dirty {
		return nil
	}
	var meta map[string]string
	if w.parts > 0 {
		meta = map[string]string{
			metaUpload: w.uploadID,
			metaParts:  strconv.Itoa(w.parts),
			metaSize:   strconv.FormatInt(w.partsSize, 10),
			metaChain:  w.chain(),
		}
	}
	ctx := context.WithoutCancel(w.ctx)
	return w.d.putObject(ctx, "PutObject (pending tail)", w.path, w.d.tailKey(w.path), w.buf, meta)
}

// Cancel aborts the multipart upload and deletes the tail object. With an
// ended ctx it returns ctx's error and changes nothing.
func (w *writer) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.state != open {
		return errors.New("s3: writer already " + w.state.String())
	}
	w.wait() // an upload in flight could outlive the abort
	d := w.d
	if w.uploadID != "" {
		if err := d.abort(ctx, w.path, d.key(w.path), w.uploadID); err != nil {
			return err
		}
	}
	if w.tailExists {
		if err := d.deleteObject(ctx, w.path, d.tailKey(w.path)); err != nil {
			return err
		}
	}
	w.state = cancelled
	w.release()
	return nil
}

// Commit publishes the write at its path: a write that never filled a
// part with one PutObject, a longer one by uploading the tail as the last
// part and completing the multipart upload. Either makes the object appear
// whole. The tail object goes afterwards. ErrPathNotFound when the pending
// write was discarded meanwhile (a Delete of its directory); with an ended
// ctx it returns ctx's error and publishes nothing.
func (w *writer) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.writable(); err != nil {
		return err
	}
	d := w.d
	tail := d.copySourceKey(d.tailKey(w.path))
	switch {
	case w.parts == 0 && w.unloaded > 0:
		if err := d.copyObject(ctx, w.path, tail, d.key(w.path), w.tailETag); err != nil {
			return err
		}
	case w.parts == 0:
		if err := d.putObject(ctx, "PutObject", w.path, d.key(w.path), w.buf, nil); err != nil {
			return err
		}
		if w.uploadID != "" { // started, but its first part failed
			d.abort(ctx, w.path, d.key(w.path), w.uploadID)
		}
	default:
		if err := w.wait(); err != nil {
			return err
		}
		parts, err := w.allParts(ctx)
		if err != nil {
			return err
		}
		// The tail becomes the last part, which may be short. It joins
		// the record only by completing: should Commit fail, Close records
		// it as the tail still, so that no short part ends up in the
		// middle of a write that goes on.
		// A tail not read is copied inside S3.
		if len(w.buf) > 0 || w.unloaded > 0 {
			if len(parts) >= maxParts {
				return fmt.Errorf("s3: %s: more than %d parts of %d bytes; raise storage.s3.chunksize", w.path, maxParts, d.p.ChunkSize)
			}
			num := int32(len(parts) + 1)
			var etag string
			if w.unloaded > 0 {
				etag, err = d.copyPart(ctx, w.path, w.uploadID, num, tail, w.tailETag)
			} else {
				etag, err = d.uploadPart(ctx, w.path, w.uploadID, num, w.buf)
			}
			if err != nil {
				return err
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)})
		}
		if err := d.complete(ctx, w.path, w.uploadID, parts); err != nil {
			return err
		}
	}
	w.state = committed
	w.release()
	if w.tailExists {
		return d.deleteObject(ctx, w.path, d.tailKey(w.path))
	}
	return nil
}

// allParts returns the parts of the write: the recorded ones as S3 lists
// them, checked against the record, then this session's.
func (w *writer) allParts(ctx context.Context) ([]types.CompletedPart, error) {
	if w.recorded == 0 {
		return w.session, nil
	}
	d := w.d
	parts := make([]types.CompletedPart, 0, w.parts)
	var size int64
	chain := ""
	in := &s3.ListPartsInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(w.path)), UploadId: aws.String(w.uploadID)}
	for pages := s3.NewListPartsPaginator(d.client, in); pages.HasMorePages() && len(parts) < w.recorded; {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fail(ctx, "ListParts", w.path, err)
		}
		for _, p := range out.Parts {
			if int(aws.ToInt32(p.PartNumber)) != len(parts)+1 || len(parts) == w.recorded {
				break
			}
			parts = append(parts, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
			size += aws.ToInt64(p.Size)
			chain = chainETag(chain, aws.ToString(p.ETag))
		}
	}
	if len(parts) != w.recorded || size != w.recordedSize || chain != w.recordedChain {
		return nil, fmt.Errorf("s3: pending write %s: its parts changed since they were recorded (%d parts, %d bytes listed; %d parts, %d bytes recorded): was it written by two writers at once?",
			w.path, len(parts), size, w.recorded, w.recordedSize)
	}
	return append(parts, w.session...), nil
}
