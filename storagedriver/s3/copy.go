package s3

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Move copies src to dst inside S3, then deletes src. Objects up to
// MultipartCopyThresholdSize are copied with one CopyObject; larger ones
// with a multipart upload whose parts (MultipartCopyChunkSize each) are
// UploadPartCopy requests, MultipartCopyMaxConcurrency at a time. dst
// appears whole when the copy completes. ErrPathNotFound when src is not a
// file.
func (d *driver) Move(ctx context.Context, src, dst string) error {
	fi, err := d.statFile(ctx, src)
	if err != nil {
		return err
	}
	if fi.Size <= d.p.MultipartCopyThresholdSize {
		err = d.copyObject(ctx, src, d.copySource(src), d.key(dst), "")
	} else {
		err = d.multipartCopy(ctx, src, dst, fi.Size)
	}
	if err != nil {
		return err
	}
	_, err = d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(src))})
	return fail(ctx, "DeleteObject", src, err)
}

// copySource is the x-amz-copy-source of the object at p.
func (d *driver) copySource(p string) string { return d.copySourceKey(d.key(p)) }

// copySourceKey is the x-amz-copy-source of key.
func (d *driver) copySourceKey(key string) string {
	return url.PathEscape(d.p.Bucket) + "/" + escapeKey(key)
}

// copyPart copies the whole of source (a copySource), while it has ETag
// etag, into part num of upload id of p, inside S3.
func (d *driver) copyPart(ctx context.Context, p, id string, num int32, source, etag string) (string, error) {
	out, err := d.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket:            &d.p.Bucket,
		Key:               aws.String(d.key(p)),
		UploadId:          aws.String(id),
		PartNumber:        aws.Int32(num),
		CopySource:        aws.String(source),
		CopySourceIfMatch: aws.String(etag),
	})
	if err != nil {
		return "", fail(ctx, "UploadPartCopy", p, err)
	}
	return aws.ToString(out.CopyPartResult.ETag), nil
}

// escapeKey escapes each segment of key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// copyObject copies source (a copySource) to dstKey in one request; with
// etag set, only while the source still has that ETag. p names the source
// in errors.
func (d *driver) copyObject(ctx context.Context, p, source, dstKey, etag string) error {
	in := &s3.CopyObjectInput{
		Bucket:      &d.p.Bucket,
		Key:         aws.String(dstKey),
		CopySource:  aws.String(source),
		ContentType: aws.String("application/octet-stream"),
		// Replace, not copy: the storage class and encryption of this
		// configuration apply, and no metadata of the source follows.
		MetadataDirective: types.MetadataDirectiveReplace,
	}
	if etag != "" {
		in.CopySourceIfMatch = aws.String(etag)
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = d.storageOptions()
	in.ACL = types.ObjectCannedACL(d.p.ObjectACL)
	_, err := d.client.CopyObject(ctx, in)
	return fail(ctx, "CopyObject", p, err)
}

// multipartCopy copies src of size bytes to dst part by part, in parallel.
// On any failure the upload is aborted and dst is left as it was.
func (d *driver) multipartCopy(ctx context.Context, src, dst string, size int64) error {
	id, err := d.createUpload(ctx, dst)
	if err != nil {
		return err
	}
	chunk := d.p.MultipartCopyChunkSize
	// Grow the parts when the object would need more than S3 allows.
	if n := (size + chunk - 1) / chunk; n > maxParts {
		chunk = (size + maxParts - 1) / maxParts
	}
	n := int((size + chunk - 1) / chunk)
	parts := make([]types.CompletedPart, n)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	limit := make(chan struct{}, d.p.MultipartCopyMaxConcurrency)
	source := aws.String(d.copySource(src))
	for i := range n {
		select {
		case limit <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-limit }()
			first := int64(i) * chunk
			last := min(first+chunk, size) - 1
			out, err := d.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:          &d.p.Bucket,
				Key:             aws.String(d.key(dst)),
				UploadId:        aws.String(id),
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      source,
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				cancel(fail(ctx, "UploadPartCopy", src, err))
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		// The first failed part, or the caller's cancellation.
		_ = d.abort(context.WithoutCancel(ctx), dst, d.key(dst), id)
		return fmt.Errorf("s3 multipart copy %s to %s: %w", src, dst, err)
	}
	return d.complete(ctx, dst, id, parts)
}

// createUpload starts a multipart upload of the object at p.
func (d *driver) createUpload(ctx context.Context, p string) (string, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket:      &d.p.Bucket,
		Key:         aws.String(d.key(p)),
		ContentType: aws.String("application/octet-stream"),
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = d.storageOptions()
	in.ACL = types.ObjectCannedACL(d.p.ObjectACL)
	out, err := d.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fail(ctx, "CreateMultipartUpload", p, err)
	}
	return aws.ToString(out.UploadId), nil
}

// complete completes multipart upload id of p with parts, which makes the
// object appear whole. ErrPathNotFound when the upload is gone (aborted by
// a Delete or another writer).
func (d *driver) complete(ctx context.Context, p, id string, parts []types.CompletedPart) error {
	_, err := d.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &d.p.Bucket,
		Key:             aws.String(d.key(p)),
		UploadId:        aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return fail(ctx, "CompleteMultipartUpload", p, err)
}
