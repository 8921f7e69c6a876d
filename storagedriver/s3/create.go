package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth-registry/berth/storagedriver"
)

var _ storagedriver.Creator = (*Driver)(nil)

// Create checks p and ctx, then creates through the backend
// (storagedriver.Creator).
func (d *Driver) Create(ctx context.Context, p string) (storagedriver.FileWriter, error) {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return d.be.Create(ctx, p)
}

// Create opens a writer for content written and committed in one go
// (storagedriver.Creator): it has no tail object and cannot be resumed.
// Its first full chunk starts a multipart upload on p's key itself, one of
// its own (S3 keeps any number on one key, each invisible until it
// completes), so several writers at p, and a pending write there, leave
// each other alone. Commit publishes with one PutObject, or uploads the
// buffer as the last part and completes the upload, at p: content whose
// path is known before its first byte reaches it without a copy. Close
// and Cancel abort the parts uploaded. A process that dies leaves an
// upload no tail claims, which PurgePending removes once idle.
func (d *driver) Create(ctx context.Context, p string) (storagedriver.FileWriter, error) {
	return &writer{d: d, path: p, ctx: ctx, oneShot: true, inflight: make(chan struct{}, partsInFlight)}, nil
}

// commitOneShot publishes a writer of Create.
func (w *writer) commitOneShot(ctx context.Context) error {
	d := w.d
	if w.parts == 0 {
		if err := d.putObject(ctx, "PutObject", w.path, d.key(w.path), w.buf, nil); err != nil {
			return err
		}
		if w.uploadID != "" { // started, but its first part failed
			_ = d.abort(ctx, w.path, d.key(w.path), w.uploadID)
		}
		w.state = committed
		w.release()
		return nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	parts := w.session
	if len(w.buf) > 0 {
		if len(parts) >= maxParts {
			return fmt.Errorf("s3: %s: more than %d parts of %d bytes; raise storage.s3.chunksize", w.path, maxParts, d.p.ChunkSize)
		}
		num := int32(len(parts) + 1)
		etag, err := d.uploadPart(ctx, w.path, w.uploadID, num, w.buf)
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)})
	}
	if err := d.complete(ctx, w.path, w.uploadID, parts); err != nil {
		return err
	}
	w.state = committed
	w.release()
	return nil
}

// cancelOneShot ends a writer of Create without publishing: its parts are
// aborted. Close and Cancel both come here.
func (w *writer) cancelOneShot(ctx context.Context) error {
	_ = w.wait() // an upload in flight could outlive the abort
	w.state = cancelled
	w.release()
	if w.uploadID == "" {
		return nil
	}
	return w.d.abort(ctx, w.path, w.d.key(w.path), w.uploadID)
}
