package s3

import (
	"bytes"
	"context"
	"encoding/base64"
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
	metaState  = "berth-state"       // the caller's state (storagedriver.StateKeeper), base64
)

type writerState int

const (
	open writerState = iota
	closed
	committed
	cancelled
	discarded // its pending write was deleted while it was open
)

func (s writerState) String() string {
	return [...]string{"open", "closed", "committed", "cancelled", "discarded"}[s]
}

// writer is a pending write: parts of a multipart upload on the path's key
// (each ChunkSize, uploaded as soon as the buffer fills, a few at a time)
// and a tail of fewer bytes in memory. Close stores the tail, with the
// record of the parts, as the tail object; Writer(append=true) reads it
// back, in any process. The tail object exists from the moment the write
// starts: it is how a Delete of the directory discards an open writer.
type writer struct {
	d    *driver
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
	// tailETag the ETag the tail object had when the writer opened, which
	// Close replaces only while it is still there.
	unloaded int64
	tailETag string
	released int64 // the tail's length once buf has gone back to the pool
	dirty    bool  // Close has something to record

	// oneShot marks a writer of Create: no tail object, no resumption.
	oneShot bool
	// kept is the caller's state (storagedriver.StateKeeper): the one
	// read at resumption, replaced by SetState, stored by Close.
	kept []byte

	// The parts uploaded by this writer, in order; uploads run in the
	// background, at most partsInFlight at a time.
	inflight chan struct{}
	uploads  sync.WaitGroup
	mu       sync.Mutex
	session  []types.CompletedPart // ETag nil until its upload ends
	upErr    error                 // the first failed upload's error
}

// Writer opens a writer at p. With append false it starts a new pending
// write at p, discarding the one there (its tail and multipart upload);
// committed content stays until Commit replaces it. With append true it
// resumes the pending write from its tail object: ErrPathNotFound when
// there is none.
func (d *driver) Writer(ctx context.Context, p string, append bool) (storagedriver.FileWriter, error) {
	w := &writer{d: d, path: p, ctx: ctx, inflight: make(chan struct{}, partsInFlight)}
	start := w.start
	if append {
		start = w.resume
	}
	if err := start(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// start begins the pending write with an empty tail object. That marker is
// what a Delete of the directory finds and removes while the writer is
// still open, and what Close and Commit check before they record or
// publish anything. With no pending write at the path, as for every new
// upload, it is one conditional PutObject (If-None-Match); otherwise the
// old write's upload is aborted and its tail overwritten.
func (w *writer) start(ctx context.Context) error {
	d := w.d
	etag, err := d.putTail(ctx, w.path, nil, nil, "", "*")
	if apiCode(err) == "PreconditionFailed" {
		if err = d.abortPending(ctx, w.path); err == nil {
			etag, err = d.putTail(ctx, w.path, nil, nil, "", "")
		}
	}
	w.tailETag = etag
	return err
}

// abortPending aborts the multipart upload of the pending write at p.
func (d *driver) abortPending(ctx context.Context, p string) error {
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(p))})
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fail(ctx, "HeadObject", p, err)
	}
	if id := out.Metadata[metaUpload]; id != "" {
		return d.abort(ctx, p, d.key(p), id)
	}
	return nil
}

// putTail stores the tail object of the pending write of p, on S3's
// conditions: ifMatch an ETag it must still have, ifNoneMatch "*" when
// there must be none. It returns the new ETag. A tail gone is
// ErrPathNotFound, a condition failed S3's PreconditionFailed.
func (d *driver) putTail(ctx context.Context, p string, content []byte, meta map[string]string, ifMatch, ifNoneMatch string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        &d.p.Bucket,
		Key:           aws.String(d.tailKey(p)),
		Body:          bytes.NewReader(content),
		ContentLength: aws.Int64(int64(len(content))),
		ContentType:   aws.String("application/octet-stream"),
		Metadata:      meta,
	}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	if ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(ifNoneMatch)
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = d.storageOptions()
	in.ACL = types.ObjectCannedACL(d.p.ObjectACL)
	out, err := d.client.PutObject(ctx, in)
	if err != nil {
		return "", fail(ctx, "PutObject (pending tail)", p, err)
	}
	return aws.ToString(out.ETag), nil
}

func (d *driver) deleteObject(ctx context.Context, p, key string) error {
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
	if v := m[metaState]; v != "" {
		if w.kept, err = base64.StdEncoding.DecodeString(v); err != nil {
			return fmt.Errorf("s3: pending write %s: bad state in its record: %w", w.path, err)
		}
	}
	n := aws.ToInt64(out.ContentLength)
	if n < 0 || n > maxPartSize {
		return fmt.Errorf("s3: pending write %s: tail of %d bytes", w.path, n)
	}
	w.unloaded, w.tailETag = n, aws.ToString(out.ETag)
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

// SetState records b with the pending write at the next Close
// (storagedriver.StateKeeper), in the tail object's metadata.
func (w *writer) SetState(b []byte) bool {
	if len(b) > storagedriver.MaxState || w.state != open {
		return false
	}
	w.kept = bytes.Clone(b)
	w.dirty = true
	return true
}

// State is the state recorded with the pending write this writer resumed.
func (w *writer) State() []byte { return w.kept }

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
// pending write stays as it was before this writer. It replaces the tail
// object only while it exists: when a Delete discarded the write meanwhile
// it records nothing, aborts the parts uploaded since and returns nil, as
// Close of a discarded write does on every driver. It is a no-op after
// Commit, Cancel or Close.
func (w *writer) Close() error {
	if w.state != open {
		return nil
	}
	ctx := context.WithoutCancel(w.ctx)
	if w.oneShot {
		return w.cancelOneShot(ctx)
	}
	// A tail that can be a part is sent as one (S3 takes any part of at
	// least MinChunkSize but the last): the next writer then has no tail
	// to fetch, and the tail object holds the record only. A client
	// PATCHing chunks of 5 MiB or more thus sends each byte to S3 once.
	var err error
	if len(w.buf) >= MinChunkSize {
		err = w.flush(ctx)
	}
	w.state = closed
	defer w.release()
	if werr := w.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if !w.dirty {
		return nil
	}
	meta := map[string]string{}
	if w.parts > 0 {
		meta[metaUpload] = w.uploadID
		meta[metaParts] = strconv.Itoa(w.parts)
		meta[metaSize] = strconv.FormatInt(w.partsSize, 10)
		meta[metaChain] = w.chain()
	}
	if w.kept != nil {
		meta[metaState] = base64.StdEncoding.EncodeToString(w.kept)
	}
	err = w.replaceTail(ctx, meta)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		w.discard(ctx)
		return nil
	}
	return err
}

// replaceTail stores the buffer and meta as the tail object while it
// exists. A tail replaced by another writer of the same pending write (a
// retried PATCH on another node) is replaced again, as an unconditional
// write would: the last Close wins, and Commit's check of the parts
// against the record keeps a mix of two writers' bytes from publishing.
func (w *writer) replaceTail(ctx context.Context, meta map[string]string) error {
	d := w.d
	for range 3 {
		_, err := d.putTail(ctx, w.path, w.buf, meta, w.tailETag, "")
		if apiCode(err) != "PreconditionFailed" {
			return err
		}
		out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(w.path))})
		if err != nil {
			return fail(ctx, "HeadObject (pending tail)", w.path, err)
		}
		w.tailETag = aws.ToString(out.ETag)
	}
	return fmt.Errorf("s3: pending write %s: its tail keeps changing under its writer: written by several at once?", w.path)
}

// discard ends a writer whose pending write a Delete removed: the parts it
// uploaded since (to an upload the Delete may not have seen) are aborted.
func (w *writer) discard(ctx context.Context) {
	w.state = discarded
	if w.uploadID != "" {
		_ = w.d.abort(ctx, w.path, w.d.key(w.path), w.uploadID)
	}
	w.release()
}

// present returns ErrPathNotFound when the tail object is gone: a Delete
// discarded the write while this writer was open.
func (w *writer) present(ctx context.Context) error {
	d := w.d
	_, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(w.path))})
	return fail(ctx, "HeadObject (pending tail)", w.path, err)
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
	if w.oneShot {
		return w.cancelOneShot(ctx)
	}
	_ = w.wait() // an upload in flight could outlive the abort
	d := w.d
	if w.uploadID != "" {
		if err := d.abort(ctx, w.path, d.key(w.path), w.uploadID); err != nil {
			return err
		}
	}
	if err := d.deleteObject(ctx, w.path, d.tailKey(w.path)); err != nil {
		return err
	}
	w.state = cancelled
	w.release()
	return nil
}

// Commit publishes the write at its path: a write that never filled a
// part with one PutObject, a longer one by uploading the tail as the last
// part and completing the multipart upload. Either makes the object appear
// whole. The tail object goes afterwards. ErrPathNotFound when the pending
// write was discarded meanwhile (a Delete of its directory): the tail
// object is checked just before publishing, with one HEAD, unless the
// publishing request itself copies the tail; with an ended ctx it returns
// ctx's error and publishes nothing.
func (w *writer) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.writable(); err != nil {
		return err
	}
	err := w.commit(ctx)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		w.discard(ctx)
	}
	return err
}

func (w *writer) commit(ctx context.Context) error {
	if w.oneShot {
		return w.commitOneShot(ctx)
	}
	d := w.d
	tail := d.copySourceKey(d.tailKey(w.path))
	switch {
	case w.parts == 0 && w.unloaded > 0: // the copy fails with the tail gone
		if err := d.copyObject(ctx, w.path, tail, d.key(w.path), w.tailETag); err != nil {
			return err
		}
	case w.parts == 0:
		if err := w.present(ctx); err != nil {
			return err
		}
		if err := d.putObject(ctx, "PutObject", w.path, d.key(w.path), w.buf, nil); err != nil {
			return err
		}
		if w.uploadID != "" { // started, but its first part failed
			_ = d.abort(ctx, w.path, d.key(w.path), w.uploadID)
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
		// A Delete aborts the uploads below the directory it deletes, but
		// not one this writer started after it.
		if err := w.present(ctx); err != nil {
			return err
		}
		if err := d.complete(ctx, w.path, w.uploadID, parts); err != nil {
			return err
		}
	}
	w.state = committed
	w.release()
	return d.deleteObject(ctx, w.path, d.tailKey(w.path))
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
