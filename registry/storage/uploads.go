package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/blobio"
	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// An Upload is a blob being received, possibly over several requests and
// several processes. Its bytes and its sha256 state live in storage under
// _uploads/<id>, so any node can continue it: the bytes as the pending
// write of _uploads/<id> itself where the driver keeps pending writes
// apart (layout.UploadPendingPath: on the filesystem a file among the
// repository's other pending uploads, with no directory of its own to make
// and remove), else in _uploads/<id>/data (see Upload.writer for uploads an
// earlier Berth began); on a driver
// whose writers keep a state (storagedriver.StateKeeper: S3, and the
// filesystem on Linux) the hash state is recorded with the pending write
// itself, in the request that records the chunk, rather than as a file of
// its own.
// A blob pushed whole in its committing request goes straight to the
// blob's path where the driver allows (storagedriver.Creator: S3), with no
// move afterwards (uploads_direct.go).
//
// Bytes are hashed while they are written. A state that cannot be restored
// (a crash between writing bytes and saving the state, or a digest of another
// algorithm) is recovered at Commit by hashing the stored bytes once more.
//
// A write that fails discards the upload (see Append and Commit), and the
// discarding runs on a context detached from the caller's (cleanupContext):
// the caller is typically a request whose client has just gone away, which
// is exactly when its context has ended and the clean-up must still happen.
type Upload struct {
	store  *Store
	name   string
	id     string
	offset int64
	// data is the path of the upload's pending write, once its writer
	// was opened (StartUpload, writer).
	data string
	// bare: the upload has nothing in storage but its pending write at
	// layout.UploadPendingPath (its committing request found it empty, so
	// no chunk saved a hash state into its directory, and nothing was
	// committed there): a commit that consumed or cancelled that write
	// leaves nothing of it to delete.
	bare bool
}

// cleanupTimeout bounds the clean-up of an upload once its caller is gone.
const cleanupTimeout = 30 * time.Second

// cleanupContext returns a context for discarding what a failed or
// finished operation leaves behind: it keeps ctx's values but not its
// cancellation, which has usually just happened (the client hung up), and
// ends after cleanupTimeout instead, so that a stuck backend cannot hold the
// clean-up forever.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// StartUpload begins an upload into repository name.
func (s *Store) StartUpload(ctx context.Context, name string) (*Upload, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	id, err := newUploadID()
	if err != nil {
		return nil, err
	}
	u := &Upload{store: s, name: name, id: id, data: layout.UploadDataPath(name, id)}
	// A driver that keeps pending writes apart (storagedriver.PendingPurger)
	// holds all of an upload that is not pushed in chunks: its pending
	// write says the upload exists, and the purger ages it by its own
	// times. The start time Distribution's layout has is written only
	// where the data stays in place, as a file the purger can date: on a
	// filesystem, its file and two directories (_uploads/<id>) were a
	// third of the inodes a pushed blob created, and removed again at the
	// commit; on S3, a PUT and the listings of the directory's Delete.
	if s.pendingApart() {
		u.data = layout.UploadPendingPath(name, id)
		// The id is new: its pending write is made in one step where the
		// driver can (on a filesystem, one file created where a Writer
		// and its Close cost seven calls, a rename among them).
		if ps, ok := s.driver.(storagedriver.PendingStarter); ok {
			if err := ps.StartPending(ctx, u.data); !errors.Is(err, errors.ErrUnsupported) {
				if err != nil {
					return nil, err
				}
				return u, nil
			}
		}
	} else {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		// Not fsynced: nothing of an upload is durable before its commit
		// (its data neither), and the purger goes by the files' times when
		// this one is missing or unreadable.
		if err := s.driver.PutContent(storagedriver.Volatile(ctx), layout.UploadStartedAtPath(name, id), []byte(now)); err != nil {
			return nil, err
		}
	}
	w, err := s.driver.Writer(ctx, u.data, false)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		// Half an upload (a start time, no data) could never be resumed.
		_ = u.cancelLocked(ctx)
		return nil, err
	}
	return u, nil
}

// ResumeUpload finds upload id of repository name. ErrUploadUnknown when
// there is none.
func (s *Store) ResumeUpload(ctx context.Context, name, id string) (*Upload, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if !check.UploadID(id) {
		return nil, fmt.Errorf("upload %q: %w", id, ErrUploadUnknown)
	}
	u := &Upload{store: s, name: name, id: id}
	release, err := u.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	w, err := u.writer(ctx)
	if err != nil {
		return nil, err
	}
	u.offset = w.Size()
	return u, w.Close()
}

// Upload names upload id of repository name without reading storage: its
// Append or Commit finds it (ErrUploadUnknown when there is none), and
// Offset is known only after them. It saves a PATCH or a PUT the request
// ResumeUpload would make to learn the offset first.
func (s *Store) Upload(name, id string) (*Upload, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if !check.UploadID(id) {
		return nil, fmt.Errorf("upload %q: %w", id, ErrUploadUnknown)
	}
	return &Upload{store: s, name: name, id: id, offset: -1}, nil
}

// ID identifies the upload within its repository.
func (u *Upload) ID() string { return u.id }

// Offset is the number of bytes received so far; -1 for an Upload
// (Store.Upload) before its Append or Commit.
func (u *Upload) Offset() int64 { return u.offset }

// Append writes r at the end of the upload. With start >= 0 the caller claims
// the chunk begins at start, and ErrRangeInvalid is returned when it does not
// (nothing is written; the upload stands as it was).
//
// When the write fails, because r broke off (the client went away mid-chunk)
// or the driver failed, the upload is discarded, even on a canceled ctx, and
// the error returned; the upload is then unknown. Keeping the bytes that did
// arrive would let a client resume from Offset, but an upload whose client
// has gone is seldom resumed (docker and containerd start a failed layer
// over), and until purged it would hold its data in storage.
func (u *Upload) Append(ctx context.Context, r io.Reader, start int64) error {
	release, err := u.lock(ctx)
	if err != nil {
		return err
	}
	defer release()
	w, err := u.writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	h, n, err := u.write(ctx, w, r, start)
	if errors.Is(err, ErrRangeInvalid) {
		return err
	}
	// A driver that keeps a state with the pending write records the hash
	// state in the same request as the chunk; others get a file of it.
	kept := false
	if err == nil && h != nil && n > 0 {
		kept = keepHash(w, h, u.offset)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		u.discard(ctx, w)
		return err
	}
	if h != nil && n > 0 && !kept {
		u.saveHash(ctx, h, u.offset-n)
	}
	return nil
}

// write appends r (may be nil) to w, the upload's open writer, after
// checking that the chunk starts where the upload stands. It returns the
// sha256 state after the write (nil when none could be restored) and the
// number of bytes written; bytes of a body that broke off stay in w.
func (u *Upload) write(ctx context.Context, w storagedriver.FileWriter, r io.Reader, start int64) (hash.Hash, int64, error) {
	u.offset = w.Size()
	if start >= 0 && start != u.offset {
		return nil, 0, fmt.Errorf("chunk starts at %d, upload is at %d: %w", start, u.offset, ErrRangeInvalid)
	}
	h := keptHash(w, u.offset)
	if h == nil {
		h = u.loadHash(ctx, u.offset)
	}
	if r == nil {
		return h, 0, nil
	}
	n, err := blobio.CopyHashed(w, r, h)
	u.offset += n
	return h, n, err
}

// Commit appends r (may be nil), verifies that the upload's bytes hash to d,
// and publishes them as blob d linked into the repository. On a mismatch it
// returns ErrDigestInvalid and discards the upload: nothing is published.
// The last chunk and the commit share one writer: no hash state is saved
// and no pending write recorded for bytes that are committed at once.
//
// Every failure but a misplaced last chunk (ErrRangeInvalid: nothing is
// written and the upload stands) discards the upload, even on a canceled
// ctx, as Append does: a commit that failed half-way, for a client that
// went away or a backend that failed, is not resumed by anyone.
func (u *Upload) Commit(ctx context.Context, d digest.Digest, r io.Reader, start int64) (int64, error) {
	if err := CheckDigest(d); err != nil {
		return 0, err
	}
	release, err := u.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer release()

	w, err := u.writer(ctx)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	u.bare = w.Size() == 0 && u.data == layout.UploadPendingPath(u.name, u.id)
	if size, done, err := u.commitDirect(ctx, w, d, r, start); done {
		return size, err
	}
	h, _, err := u.write(ctx, w, r, start)
	if errors.Is(err, ErrRangeInvalid) {
		return 0, err
	}
	size := w.Size()
	if err == nil {
		err = u.publish(ctx, w, h, d)
	}
	if err != nil {
		u.discard(ctx, w)
		return 0, err
	}
	return size, nil
}

// discard ends w, the upload's open writer, and removes the upload, on a
// clean-up context: its caller has failed, often because ctx has ended.
// The writer is cancelled before the upload's directory is deleted, so that
// a driver keeping the write elsewhere (an S3 multipart upload) drops it too.
func (u *Upload) discard(ctx context.Context, w storagedriver.FileWriter) {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	_ = w.Cancel(ctx) // fs.ErrClosed after a Commit: nothing is pending then
	_ = u.cancelLocked(ctx)
}

// Cancel discards the upload. It runs to its end even when ctx is canceled
// meanwhile (the clean-up is bounded by cleanupTimeout instead).
func (u *Upload) Cancel(ctx context.Context) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	release, err := u.lock(ctx)
	if err != nil {
		return err
	}
	defer release()
	if !u.store.pendingApart() {
		return u.cancelLocked(ctx)
	}
	// The upload may have nothing in its directory (StartUpload): its
	// pending write says whether it exists. Deleting the directory then
	// discards the write wherever it is, at the directory's path or in it.
	w, err := u.writer(ctx)
	if err != nil {
		return err
	}
	if err := w.Cancel(ctx); err != nil {
		w.Close()
		return err
	}
	if err := u.cancelLocked(ctx); err != nil && !errors.Is(err, ErrUploadUnknown) {
		return err
	}
	return nil
}

// cancelLocked removes the upload's directory, with its data, pending
// writes (the driver's Delete discards those at the directory's path too)
// and hash states, on a clean-up context.
func (u *Upload) cancelLocked(ctx context.Context) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := u.store.driver.Delete(ctx, layout.UploadDir(u.name, u.id))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return fmt.Errorf("upload %s: %w", u.id, ErrUploadUnknown)
	}
	return err
}

// pendingApart reports whether the driver keeps pending writes where no
// path reaches (storagedriver.PendingPurger): then an upload's data is
// the pending write of its directory's path (layout.UploadPendingPath),
// and the directory holds only what saveHash and commitData put there.
func (s *Store) pendingApart() bool {
	_, ok := s.driver.(storagedriver.PendingPurger)
	return ok
}

// writer takes over the upload's pending write: at
// layout.UploadPendingPath on a driver that keeps pending writes apart,
// else at layout.UploadDataPath, where an earlier Berth parked it on every
// driver; so an upload begun before an upgrade is found there when the
// other path has no pending write, and goes on there to its end.
// ErrUploadUnknown when neither has one.
func (u *Upload) writer(ctx context.Context) (storagedriver.FileWriter, error) {
	d := u.store.driver
	if u.store.pendingApart() {
		p := layout.UploadPendingPath(u.name, u.id)
		w, err := d.Writer(ctx, p, true)
		if err == nil {
			u.data = p
			return w, nil
		}
		if !errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil, err
		}
	}
	p := layout.UploadDataPath(u.name, u.id)
	w, err := d.Writer(ctx, p, true)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("upload %s: %w", u.id, ErrUploadUnknown)
	}
	if err == nil {
		u.data = p
	}
	return w, err
}

// keepHash asks w to record h, the sha256 state after offset bytes, with
// its pending write (storagedriver.StateKeeper); false when it cannot.
func keepHash(w storagedriver.FileWriter, h hash.Hash, offset int64) bool {
	k, ok := w.(storagedriver.StateKeeper)
	if !ok {
		return false
	}
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return false
	}
	return k.SetState(binary.BigEndian.AppendUint64(b, uint64(offset)))
}

// keptHash restores the sha256 state w's pending write recorded
// (keepHash), provided it is the state after offset bytes; nil otherwise.
func keptHash(w storagedriver.FileWriter, offset int64) hash.Hash {
	if offset == 0 {
		return sha256.New()
	}
	k, ok := w.(storagedriver.StateKeeper)
	if !ok {
		return nil
	}
	b := k.State()
	if len(b) < 8 || int64(binary.BigEndian.Uint64(b[len(b)-8:])) != offset {
		return nil
	}
	h := sha256.New()
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b[:len(b)-8]) != nil {
		return nil
	}
	return h
}

// loadHash restores the sha256 state after offset bytes, or returns nil.
func (u *Upload) loadHash(ctx context.Context, offset int64) hash.Hash {
	h := sha256.New()
	if offset == 0 {
		return h
	}
	b, err := u.store.driver.GetContent(ctx, layout.UploadHashStatePath(u.name, u.id, digest.SHA256, offset))
	if err != nil {
		return nil
	}
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b) != nil {
		return nil
	}
	return h
}

// saveHash stores the state after u.offset bytes and drops the one at prev.
// Failing to save is not an error: Commit then hashes the stored bytes.
func (u *Upload) saveHash(ctx context.Context, h hash.Hash, prev int64) {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return
	}
	// Not fsynced, as the upload's data is not before its commit: a state
	// lost in a crash is recovered at Commit from the stored bytes.
	d := u.store.driver
	if d.PutContent(storagedriver.Volatile(ctx), layout.UploadHashStatePath(u.name, u.id, digest.SHA256, u.offset), b) == nil && prev > 0 {
		_ = d.Delete(ctx, layout.UploadHashStatePath(u.name, u.id, digest.SHA256, prev))
	}
}

// hashStored hashes the committed content at p with alg.
func (s *Store) hashStored(ctx context.Context, p string, alg digest.Algorithm) (digest.Digest, error) {
	rc, err := s.driver.Reader(ctx, p, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dg := alg.Digester()
	if _, err := io.Copy(dg.Hash(), rc); err != nil {
		return "", err
	}
	return dg.Digest(), nil
}

// lock serialises the requests of this process on one upload; a chunk and a
// commit racing on one upload would otherwise interleave their bytes.
func (u *Upload) lock(ctx context.Context) (func(), error) {
	return u.store.uploads.Lock(ctx, u.name+"/"+u.id)
}

func newUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
