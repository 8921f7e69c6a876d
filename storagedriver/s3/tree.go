package s3

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth-registry/berth/storagedriver"
)

// keyAfterAll sorts after every key that begins with the prefix it is
// appended to (valid paths are ASCII; it is the largest code point).
const keyAfterAll = "\U0010FFFF"

// Stat describes p: a file when an object has its key, a directory when at
// least one object's key begins with p's key and "/". The root is always a
// directory. ErrPathNotFound otherwise.
func (d *driver) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	if p == "/" {
		return storagedriver.FileInfo{Path: p, IsDir: true}, nil
	}
	fi, err := d.statFile(ctx, p)
	if !errors.Is(err, storagedriver.ErrPathNotFound) {
		return fi, err
	}
	isDir, err := d.hasKeys(ctx, p, d.dirPrefix(p))
	if err != nil {
		return storagedriver.FileInfo{}, err
	}
	if !isDir {
		return storagedriver.FileInfo{}, storagedriver.PathNotFound(p)
	}
	return storagedriver.FileInfo{Path: p, IsDir: true}, nil
}

// StatFile checks p and ctx, then describes the object at p with one
// HeadObject (storagedriver.FileStatter): no listing to tell a directory
// from nothing when there is none.
func (d *Driver) StatFile(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return storagedriver.FileInfo{}, err
	}
	return d.be.statFile(ctx, p)
}

// statFile describes the object at p with HeadObject.
func (d *driver) statFile(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(p))})
	if err != nil {
		return storagedriver.FileInfo{}, fail(ctx, "HeadObject", p, err)
	}
	fi := storagedriver.FileInfo{Path: p, Size: aws.ToInt64(out.ContentLength), ModTime: modTime(out.LastModified)}
	return fi, nil
}

// hasKeys reports whether at least one object's key begins with prefix.
func (d *driver) hasKeys(ctx context.Context, p, prefix string) (bool, error) {
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &d.p.Bucket, Prefix: aws.String(prefix), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return false, fail(ctx, "ListObjectsV2", p, err)
	}
	return len(out.Contents) > 0, nil
}

// List returns the children of directory p: one ListObjectsV2 with
// delimiter "/" per 1,000 children. ErrPathNotFound when p has none and is
// not the root.
func (d *driver) List(ctx context.Context, p string) ([]string, error) {
	in := &s3.ListObjectsV2Input{
		Bucket:    &d.p.Bucket,
		Prefix:    aws.String(d.dirPrefix(p)),
		Delimiter: aws.String("/"),
		MaxKeys:   aws.Int32(listMax),
	}
	var children []string
	for pages := s3.NewListObjectsV2Paginator(d.client, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fail(ctx, "ListObjectsV2", p, err)
		}
		for _, o := range out.Contents {
			if c := d.pathOf(aws.ToString(o.Key)); c != "" {
				children = append(children, c)
			}
		}
		for _, cp := range out.CommonPrefixes {
			if c := d.pathOf(strings.TrimSuffix(aws.ToString(cp.Prefix), "/")); c != "" {
				children = append(children, c)
			}
		}
	}
	if len(children) == 0 && p != "/" {
		return nil, fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
	}
	slices.Sort(children)
	return slices.Compact(children), nil
}

// Walk visits everything below directory p from one flat listing of its
// keys (ListObjectsV2 without delimiter, in pages of 1,000 continued with
// start-after). Keys come in byte order, which is Walk's order; a directory
// is visited just before its first key. ErrSkipDir restarts the listing
// after the skipped directory's last possible key.
func (d *driver) Walk(ctx context.Context, p string, fn storagedriver.WalkFunc) error {
	prefix := d.dirPrefix(p)
	startAfter := ""
	var shown []string // the directories of the last key visited, outermost first
	visited := false
	for {
		in := &s3.ListObjectsV2Input{Bucket: &d.p.Bucket, Prefix: aws.String(prefix), MaxKeys: aws.Int32(listMax)}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		out, err := d.client.ListObjectsV2(ctx, in)
		if err != nil {
			return fail(ctx, "ListObjectsV2", p, err)
		}
		restart := ""
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			startAfter = key
			fp := d.pathOf(key)
			if fp == "" {
				continue
			}
			visited = true
			skipped, err := d.walkFile(ctx, p, fp, o, &shown, fn)
			if err != nil {
				return err
			}
			if skipped != "" {
				restart = d.key(skipped) + "/" + keyAfterAll
				break
			}
		}
		switch {
		case restart != "":
			startAfter = restart
		case !aws.ToBool(out.IsTruncated) || len(out.Contents) == 0:
			if !visited && p != "/" {
				return fmt.Errorf("directory %w", storagedriver.PathNotFound(p))
			}
			return nil
		}
	}
}

// walkFile visits the directories of file fp not yet visited, then fp. It
// returns the directory whose contents fn asked to skip, if any.
func (d *driver) walkFile(ctx context.Context, root, fp string, o types.Object, shown *[]string, fn storagedriver.WalkFunc) (string, error) {
	dirs := parents(root, fp)
	common := 0
	for common < len(dirs) && common < len(*shown) && dirs[common] == (*shown)[common] {
		common++
	}
	*shown = append((*shown)[:common], dirs[common:]...)
	for i := common; i < len(dirs); i++ {
		if err := visit(ctx, fn, storagedriver.FileInfo{Path: dirs[i], IsDir: true}); err != nil {
			if errors.Is(err, storagedriver.ErrSkipDir) {
				*shown = (*shown)[:i]
				return dirs[i], nil
			}
			return "", err
		}
	}
	fi := storagedriver.FileInfo{Path: fp, Size: aws.ToInt64(o.Size), ModTime: modTime(o.LastModified)}
	if err := visit(ctx, fn, fi); err != nil && !errors.Is(err, storagedriver.ErrSkipDir) {
		return "", err
	}
	return "", nil
}

func visit(ctx context.Context, fn storagedriver.WalkFunc, fi storagedriver.FileInfo) error {
	if err := fn(fi); err != nil {
		return err
	}
	return ctx.Err()
}

// parents lists the directories strictly between root and file fp,
// outermost first.
func parents(root, fp string) []string {
	var dirs []string
	start := len(root)
	if root == "/" {
		start = 0
	}
	for i := start + 1; i < len(fp); i++ {
		if fp[i] == '/' {
			dirs = append(dirs, fp[:i])
		}
	}
	return dirs
}

// Delete removes p and everything below it: the objects, in DeleteObjects
// batches of 1,000, and the pending writes (their tails and multipart
// uploads). ErrPathNotFound when no object was there.
func (d *driver) Delete(ctx context.Context, p string) error {
	key := d.key(p)
	// One listing of the keys that begin with key's usually finds all: the
	// key itself sorts first, then its siblings whose names extend its
	// ("a-b", "a.b"), which are left out, then those below it ("a/").
	// Only when they fill more than a page are those below listed apart.
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &d.p.Bucket, Prefix: aws.String(key), MaxKeys: aws.Int32(listMax),
	})
	if err != nil {
		return fail(ctx, "ListObjectsV2", p, err)
	}
	var keys, below []string
	for _, o := range out.Contents {
		switch k := aws.ToString(o.Key); {
		case k == key:
			keys = append(keys, k)
		case strings.HasPrefix(k, key+"/"):
			below = append(below, k)
		}
	}
	if aws.ToBool(out.IsTruncated) {
		if below, err = d.keysWithPrefix(ctx, p, key+"/", ""); err != nil {
			return err
		}
	}
	keys = append(keys, below...)
	// Pending writes are few: one listing finds the tail at p and those
	// below it, among the tails of siblings sharing p's name as a prefix.
	tails, err := d.keysWithPrefix(ctx, p, d.tailKey(p), d.tailKey(p))
	if err != nil {
		return err
	}
	// A multipart upload without a tail is left by a writer that never
	// closed (a crash): worth a listing when a directory goes.
	if len(tails) > 0 || len(below) > 0 {
		if err := d.abortUploads(ctx, p, key); err != nil {
			return err
		}
	}
	if err := d.deleteKeys(ctx, p, append(keys, tails...)); err != nil {
		return err
	}
	if len(keys) == 0 {
		return storagedriver.PathNotFound(p)
	}
	return nil
}

// keysWithPrefix lists the keys that begin with prefix and, when at is
// set, are at itself or below at + "/".
func (d *driver) keysWithPrefix(ctx context.Context, p, prefix, at string) ([]string, error) {
	var keys []string
	in := &s3.ListObjectsV2Input{Bucket: &d.p.Bucket, Prefix: aws.String(prefix), MaxKeys: aws.Int32(listMax)}
	for pages := s3.NewListObjectsV2Paginator(d.client, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fail(ctx, "ListObjectsV2", p, err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if at == "" || k == at || strings.HasPrefix(k, at+"/") {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// deleteKeys deletes keys with DeleteObjects, 1,000 at a time.
func (d *driver) deleteKeys(ctx context.Context, p string, keys []string) error {
	for batch := range slices.Chunk(keys, listMax) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := d.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &d.p.Bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fail(ctx, "DeleteObjects", p, err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) != "NoSuchKey" {
				return fmt.Errorf("s3 DeleteObjects %s: %s: %s %s", p, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
	}
	return nil
}

// abortUploads aborts the multipart uploads of key and below key + "/".
func (d *driver) abortUploads(ctx context.Context, p, key string) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &d.p.Bucket, Prefix: aws.String(key)}
	for {
		out, err := d.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fail(ctx, "ListMultipartUploads", p, err)
		}
		for _, u := range out.Uploads {
			k := aws.ToString(u.Key)
			if k != key && !strings.HasPrefix(k, key+"/") {
				continue
			}
			if err := d.abort(ctx, p, k, aws.ToString(u.UploadId)); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// abort aborts one multipart upload; one already gone is no error.
func (d *driver) abort(ctx context.Context, p, key, uploadID string) error {
	_, err := d.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &d.p.Bucket, Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	if err != nil && !notFound(err) {
		return fail(ctx, "AbortMultipartUpload", p, err)
	}
	return nil
}

// modTime is t, or now for servers that send no Last-Modified.
func modTime(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Now()
	}
	return *t
}
