package s3

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth-registry/berth/storagedriver"
)

// PurgePending discards the pending writes whose last activity is before
// olderThan: their tail objects under ~pending/ with the multipart uploads
// they record, then the multipart uploads below the root directory that no
// young tail claims (those of writers that died before their first Close,
// or of a multipart Move that never completed).
//
// A write's last activity is the latest of its tail's Last-Modified (its
// start or its last Close) and its parts' Last-Modified: a writer streaming
// a long blob uploads a part every ChunkSize bytes, so a write in progress
// stays young even when it started long ago and has not closed yet. That
// holds whether the tail is written at a write's start or only at its first
// Close: a multipart upload is judged by its own parts when no young tail
// claims its key.
//
// A tail is deleted only if it still has the ETag it was judged by
// (DeleteObject with If-Match), so a Close replacing it meanwhile keeps its
// write (versitygw and AWS S3 honour it; a server answering NotImplemented
// gets a plain delete). Several purges may run at once, in several
// processes; one that lists a tail another has just deleted may count it
// too, since S3 deletes a missing key without an error. With dryRun nothing
// is deleted.
func (d *driver) PurgePending(ctx context.Context, olderThan time.Time, dryRun bool) (int, int64, error) {
	var n int
	var bytes int64
	young := map[string]bool{}   // keys of files whose pending write is active
	counted := map[string]bool{} // upload ids purged (or counted, dryRun) with their tail

	tailPrefix := d.prefix + pendingDir + "/"
	in := &s3.ListObjectsV2Input{Bucket: &d.p.Bucket, Prefix: aws.String(tailPrefix), MaxKeys: aws.Int32(listMax)}
	for pages := s3.NewListObjectsV2Paginator(d.client, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return n, bytes, fail(ctx, "ListObjectsV2", "/"+pendingDir, err)
		}
		for _, o := range out.Contents {
			p := "/" + strings.TrimPrefix(aws.ToString(o.Key), tailPrefix)
			if storagedriver.CheckPath(p) != nil {
				continue // not a tail this driver wrote
			}
			if !modTime(o.LastModified).Before(olderThan) {
				young[d.key(p)] = true
				continue
			}
			purged, size, id, err := d.purgeTail(ctx, p, olderThan, dryRun)
			if err != nil {
				return n, bytes, err
			}
			if !purged {
				young[d.key(p)] = true
				continue
			}
			n++
			bytes += size
			if id != "" {
				counted[id] = true
			}
		}
	}

	mu := &s3.ListMultipartUploadsInput{Bucket: &d.p.Bucket, Prefix: aws.String(d.prefix)}
	for {
		out, err := d.client.ListMultipartUploads(ctx, mu)
		if err != nil {
			return n, bytes, fail(ctx, "ListMultipartUploads", "/", err)
		}
		for _, u := range out.Uploads {
			key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			p := d.pathOf(key)
			if p == "" || young[key] || counted[id] || !modTime(u.Initiated).Before(olderThan) {
				continue
			}
			last, size, gone, err := d.partsActivity(ctx, p, key, id)
			if err != nil {
				return n, bytes, err
			}
			if gone || !last.Before(olderThan) {
				continue
			}
			if !dryRun {
				if err := d.abort(ctx, p, key, id); err != nil {
					return n, bytes, err
				}
			}
			n++
			bytes += size
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, bytes, nil
		}
		mu.KeyMarker, mu.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

var _ storagedriver.PendingActivity = (*Driver)(nil)

// PendingActivity (of the backend) returns when the pending write of p was last active: its
// tail's Last-Modified (its start or last Close), or a part of its upload
// uploaded since (storagedriver.PendingActivity). The hash state of an
// upload travels with its tail rather than in a file, so this is how the
// upload purger sees that an upload is still being sent.
func (d *driver) PendingActivity(ctx context.Context, p string) (time.Time, bool, error) {
	head, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.tailKey(p))})
	if err != nil {
		if notFound(err) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, fail(ctx, "HeadObject (pending tail)", p, err)
	}
	last := modTime(head.LastModified)
	if id := head.Metadata[metaUpload]; id != "" {
		parts, _, gone, err := d.partsActivity(ctx, p, d.key(p), id)
		if err != nil {
			return time.Time{}, false, err
		}
		if !gone && parts.After(last) {
			last = parts
		}
	}
	return last, true, nil
}

// purgeTail discards the pending write of p, whose tail was listed as last
// modified before olderThan, unless it turns out active: its tail replaced
// since, or a part of its multipart upload uploaded since olderThan. It
// returns whether it discarded the write (with dryRun: would have), the
// bytes of its tail and parts, and the id of its upload.
func (d *driver) purgeTail(ctx context.Context, p string, olderThan time.Time, dryRun bool) (bool, int64, string, error) {
	tail := d.tailKey(p)
	head, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(tail)})
	if err != nil {
		if notFound(err) {
			return false, 0, "", nil // committed, cancelled or purged meanwhile
		}
		return false, 0, "", fail(ctx, "HeadObject (pending tail)", p, err)
	}
	if !modTime(head.LastModified).Before(olderThan) {
		return false, 0, "", nil
	}
	size := aws.ToInt64(head.ContentLength)
	id := head.Metadata[metaUpload]
	if id != "" {
		last, parts, gone, err := d.partsActivity(ctx, p, d.key(p), id)
		if err != nil {
			return false, 0, "", err
		}
		if !gone && !last.Before(olderThan) {
			return false, 0, "", nil
		}
		size += parts
	}
	// A writer streaming a long write records its parts only at Close, so
	// its tail (written at its start, or by the Close before) can be old
	// while it uploads parts to an upload the tail does not name yet.
	if active, err := d.uploading(ctx, p, id, olderThan); err != nil || active {
		return false, 0, "", err
	}
	if dryRun {
		return true, size, id, nil
	}
	_, err = d.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: &d.p.Bucket, Key: aws.String(tail), IfMatch: head.ETag,
	})
	if apiCode(err) == "NotImplemented" {
		// A server without conditional deletes: the window between the
		// HEAD and the delete is then open, as it is for Delete.
		_, err = d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.p.Bucket, Key: aws.String(tail)})
	}
	switch {
	case apiCode(err) == "PreconditionFailed":
		return false, 0, "", nil // a Close replaced it: the write is active
	case err != nil && notFound(err):
		return false, 0, "", nil // another purge was first
	case err != nil:
		return false, 0, "", fail(ctx, "DeleteObject (pending tail)", p, err)
	}
	if id != "" {
		if err := d.abort(ctx, p, d.key(p), id); err != nil {
			return false, 0, "", err
		}
	}
	return true, size, id, nil
}

// partsActivity returns when the last part of multipart upload id of key
// was uploaded (the zero time when it has none: the caller has judged its
// initiation), and the parts' total size; gone when the upload no longer
// exists.
func (d *driver) partsActivity(ctx context.Context, p, key, id string) (last time.Time, size int64, gone bool, err error) {
	in := &s3.ListPartsInput{Bucket: &d.p.Bucket, Key: aws.String(key), UploadId: aws.String(id)}
	for pages := s3.NewListPartsPaginator(d.client, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			if notFound(err) {
				return time.Time{}, 0, true, nil
			}
			return time.Time{}, 0, false, fail(ctx, "ListParts", p, err)
		}
		for _, part := range out.Parts {
			if t := modTime(part.LastModified); t.After(last) {
				last = t
			}
			size += aws.ToInt64(part.Size)
		}
	}
	return last, size, false, nil
}

// uploading reports whether a multipart upload on p's key other than
// recorded was started or received a part since olderThan: a writer of p
// at work, not yet recorded in the tail.
func (d *driver) uploading(ctx context.Context, p, recorded string, olderThan time.Time) (bool, error) {
	key := d.key(p)
	in := &s3.ListMultipartUploadsInput{Bucket: &d.p.Bucket, Prefix: aws.String(key)}
	for {
		out, err := d.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return false, fail(ctx, "ListMultipartUploads", p, err)
		}
		for _, u := range out.Uploads {
			id := aws.ToString(u.UploadId)
			if aws.ToString(u.Key) != key || id == recorded {
				continue
			}
			if !modTime(u.Initiated).Before(olderThan) {
				return true, nil
			}
			last, _, gone, err := d.partsActivity(ctx, p, key, id)
			if err != nil {
				return false, err
			}
			if !gone && !last.Before(olderThan) {
				return true, nil
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return false, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
