package storage

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// publish commits w, the upload's writer holding all its bytes, checks that
// they hash to d (h is their sha256 state, or nil), moves them to blob d and
// links it into the repository; then the upload is gone.
//
// When h holds the digest and the driver's writer is a Relocator, the bytes
// are checked first and committed straight to the blob's path (or dropped
// when the blob exists): one fsync and one rename, where a commit into the
// upload and a Move cost two of each on a filesystem. Otherwise they are
// committed into the upload (commitData), read back and moved.
func (u *Upload) publish(ctx context.Context, w storagedriver.FileWriter, h hash.Hash, d digest.Digest) error {
	s := u.store
	var data string
	rel, direct := w.(storagedriver.Relocator)
	direct = direct && h != nil && d.Algorithm() == digest.SHA256
	if !direct {
		var err error
		if data, err = u.commitData(ctx, w); err != nil {
			return err
		}
	}
	var got digest.Digest
	if h != nil && d.Algorithm() == digest.SHA256 {
		got = digest.NewDigest(digest.SHA256, h)
	} else {
		var err error
		if got, err = s.hashStored(ctx, data, d.Algorithm()); err != nil {
			return err
		}
	}
	if got != d {
		return fmt.Errorf("upload hashed to %s, not %s: %w", got, d, ErrDigestInvalid)
	}
	// Before the data is published: a collector deleting d right now
	// finishes first, so that what is published here stays.
	t := s.now()
	if err := s.rely(ctx, u.name, d, relyCommit); err != nil {
		return err
	}
	exists, err := s.blobExists(ctx, d)
	if err != nil {
		return err
	}
	// The repository's link is written ahead (storagedriver.Stage): the
	// wait that makes the bytes durable makes it so too, and showing it
	// costs one wait more, not two.
	link, err := storagedriver.Stage(ctx, s.driver, layout.LayerLinkPath(u.name, d), []byte(d))
	if err != nil {
		return err
	}
	switch {
	case exists && direct:
		// Nothing to write: the bytes go with the upload.
		_ = w.Cancel(ctx)
	case direct:
		err = errors.ErrUnsupported
		if rw, ok := w.(storagedriver.RelocatorWith); ok {
			// The link in the same durable step, shown after the bytes.
			if err = rw.CommitToWith(ctx, layout.BlobDataPath(d), link); err == nil {
				link = published{}
			}
		}
		if errors.Is(err, errors.ErrUnsupported) {
			err = rel.CommitTo(ctx, layout.BlobDataPath(d))
		}
		if errors.Is(err, errors.ErrUnsupported) {
			if data, err = u.commitData(ctx, w); err == nil {
				err = s.driver.Move(ctx, data, layout.BlobDataPath(d))
			}
		}
	case !exists:
		err = s.driver.Move(ctx, data, layout.BlobDataPath(d))
	}
	if err != nil {
		link.Discard()
		return err
	}
	return u.linkPublished(ctx, d, w.Size(), t, link)
}

// published is a Staged published already, with a commit.
type published struct{}

func (published) Publish(context.Context) error { return nil }
func (published) Discard()                      {}

// commitData commits w, the upload's writer, into the upload for its bytes
// to be read back or moved, and returns where they are: the upload's data
// file (layout.UploadDataPath). A pending write at layout.UploadPendingPath
// goes there by the writer's CommitTo: committed at its own path it would
// be a file named as the upload's directory, which a filesystem cannot
// hold beside the directory's hash states (saveHash). A writer that cannot
// (no Relocator: S3's, where a key and keys below it do not clash)
// commits at its own path.
func (u *Upload) commitData(ctx context.Context, w storagedriver.FileWriter) (string, error) {
	u.bare = false // its bytes are in the upload's directory now
	if dst := layout.UploadDataPath(u.name, u.id); u.data != dst {
		if rel, ok := w.(storagedriver.Relocator); ok {
			if err := rel.CommitTo(ctx, dst); !errors.Is(err, errors.ErrUnsupported) {
				return dst, err
			}
		}
	}
	return u.data, w.Commit(ctx)
}

// commitDirect commits an upload that receives all its bytes in its
// committing request (a monolithic PUT after the POST) on a driver that
// can write content straight to its final path (storagedriver.Creator:
// S3). The digest is known before the first byte, so the bytes go to the
// blob's own path and are hashed on the way; they are published there, by
// the writer's Commit, only once they hashed to d and the rely let them
// be: a failed or mismatched upload publishes nothing, as in publish. On
// S3 this saves the copy of every blob from the upload's key to the
// blob's, and the requests of the move.
//
// done is false, and nothing was done, when the upload already holds
// bytes or the driver cannot; the caller then commits as usual. w is the
// upload's writer, open; on failure the upload is discarded.
func (u *Upload) commitDirect(ctx context.Context, w storagedriver.FileWriter, d digest.Digest, r io.Reader, start int64) (size int64, done bool, err error) {
	c, ok := u.store.driver.(storagedriver.Creator)
	if !ok || r == nil || w.Size() != 0 || start > 0 || !d.Algorithm().Available() {
		return 0, false, nil
	}
	bw, err := c.Create(ctx, layout.BlobDataPath(d))
	if errors.Is(err, errors.ErrUnsupported) {
		return 0, false, nil
	}
	u.offset = 0
	if err == nil {
		size, err = u.writeDirect(ctx, bw, d, r)
	}
	if err != nil {
		if bw != nil {
			cctx, cancel := cleanupContext(ctx)
			_ = bw.Cancel(cctx)
			cancel()
		}
		u.discard(ctx, w)
		return 0, true, err
	}
	// Published: the upload's pending write, which linkPublished left to
	// its writer, goes too.
	cctx, cancel := cleanupContext(ctx)
	_ = w.Cancel(cctx)
	cancel()
	return size, true, nil
}

// writeDirect streams r into bw, checks it hashes to d, relies on d and
// publishes; then links d into the repository.
func (u *Upload) writeDirect(ctx context.Context, bw storagedriver.FileWriter, d digest.Digest, r io.Reader) (int64, error) {
	s := u.store
	dg := d.Algorithm().Digester()
	n, err := io.Copy(bw, io.TeeReader(r, dg.Hash()))
	u.offset = n
	if err != nil {
		return 0, err
	}
	if got := dg.Digest(); got != d {
		return 0, fmt.Errorf("upload hashed to %s, not %s: %w", got, d, ErrDigestInvalid)
	}
	// As in publish: a collector deleting d right now finishes first, so
	// that what is published here stays.
	t := s.now()
	if err := s.rely(ctx, u.name, d, relyCommit); err != nil {
		return 0, err
	}
	if err := bw.Commit(ctx); err != nil {
		return 0, err
	}
	return n, u.linkPublished(ctx, d, n, t, nil)
}

// linkPublished links blob d, of size bytes and published after a rely
// that began at t, into the upload's repository, by link when it is not
// nil (the link staged ahead); then the upload is gone.
func (u *Upload) linkPublished(ctx context.Context, d digest.Digest, size int64, t time.Time, link storagedriver.Staged) error {
	s := u.store
	var err error
	if link != nil {
		err = link.Publish(ctx)
	} else {
		err = s.link(ctx, layout.LayerLinkPath(u.name, d), d)
	}
	if err != nil {
		return err
	}
	// Both written or found after the rely: a HEAD that follows the push
	// is answered from the cache.
	s.rememberSize(ctx, d, size, t)
	s.cache.SetLink(ctx, u.name, d, t, s.cacheTTL(t))
	if err := s.index.Add(ctx, u.name, true); err != nil {
		return err
	}
	if err := s.refuseLayerIfDeleting(ctx, u.name, d); err != nil {
		return err
	}
	// Published: what is left of the upload (its start time, hash states,
	// data committed to be read back, a pending write an earlier Berth
	// began) goes, whether or not the client is still there to hear of
	// it. A bare upload left nothing but its pending write, which its
	// writer's CommitTo consumed or its caller cancels.
	if !u.bare {
		_ = u.cancelLocked(ctx)
	}
	return nil
}
