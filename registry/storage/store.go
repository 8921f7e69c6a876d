package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/keylock"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/blobio"
	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/memcache"
	"github.com/berth-registry/berth/registry/storage/internal/repoindex"
	"github.com/berth-registry/berth/registry/storage/internal/times"
	"github.com/berth-registry/berth/storagedriver"
)

// Store is the content model over one driver. It is safe for concurrent use;
// several Stores (in several processes) may share one driver's storage.
type Store struct {
	driver     storagedriver.Driver
	validation Validation
	grace      time.Duration    // garbage collection's grace period (rely's fast path)
	now        func() time.Time // time.Now; tests move it
	clock      func() time.Time // of push and pull records (WithClock)
	pulls      times.PullLog    // pulls not yet flushed (internal/times)

	// relyOff, in tests only, turns rely off for one kind of request: the
	// race tests prove that each protection is needed by removing it.
	relyOff func(relyKind) bool
	// untagWaitOff, in tests only, makes Tag ignore untagging records
	// (untag, tags.go), to prove the race tests of the removers need them.
	untagWaitOff bool

	cache *blobcache.Cache // WithBlobDescriptorCache; nil: none
	mem   *memcache.Cache  // WithMemCache; nil: none
	// cacheTrustAll, in tests only, trusts cache entries of any age: the
	// cache tests prove the trust window is needed by removing it.
	cacheTrustAll bool
	// cacheCheckOnce, in tests only, trusts a hit as looked up before the
	// rely, without checking it again after.
	cacheCheckOnce bool

	uploads keylock.Map // serialises requests on one upload in this process

	index repoindex.Index // this node's view of the repository index (repoindex.go, internal/repoindex)
}

// Option configures a Store.
type Option func(*Store)

// WithValidation sets what the references of a manifest must satisfy. The
// default requires every blob and every child manifest to exist.
func WithValidation(v Validation) Option { return func(s *Store) { s.validation = v } }

// WithGCGrace sets the grace period of garbage collection the requests of
// this store protect against (DefaultGCGrace when unset): a collector run
// with a grace at least this long never deletes what a client of this store
// checked within grace/2 before referencing it. See doc.go.
func WithGCGrace(g time.Duration) Option {
	return func(s *Store) {
		if g > 0 {
			s.grace = g
		}
	}
}

// New returns a Store over d.
func New(d storagedriver.Driver, opts ...Option) *Store {
	s := &Store{driver: d, grace: DefaultGCGrace, now: time.Now, clock: time.Now}
	s.index.Driver, s.index.Every = d, DefaultIndexCheck
	s.index.Now = func() time.Time { return s.now() } // tests move s.now
	for _, o := range opts {
		o(s)
	}
	return s
}

// Driver returns the driver the store was built on.
func (s *Store) Driver() storagedriver.Driver { return s.driver }

// StatBlob returns the size of blob d as seen from repository name: the blob
// must be linked into it, as a layer or a manifest. ErrBlobUnknown otherwise.
func (s *Store) StatBlob(ctx context.Context, name string, d digest.Digest) (int64, error) {
	if err := check.NameDigest(name, d); err != nil {
		return 0, err
	}
	t := s.now()
	linkAt, linkHit, desc, sizeHit := s.cache.Lookup(ctx, name, d, s.notBefore())
	if !linkHit {
		if err := s.blobLinked(ctx, name, d); err != nil {
			return 0, err
		}
	}
	// Rely between the link check (no records for digests the
	// repository never had) and the content check (what it finds stays),
	// whether or not the cache answers them.
	if err := s.rely(ctx, name, d, relyRead); err != nil {
		return 0, err
	}
	if linkHit && !s.stillTrusted(linkAt) {
		linkHit = false
		if err := s.blobLinked(ctx, name, d); err != nil {
			return 0, err
		}
	}
	sizeHit = sizeHit && s.stillTrusted(desc.Verified)
	if !linkHit {
		s.rememberLink(ctx, name, d, t, func() error { return s.blobLinked(ctx, name, d) })
	}
	size := desc.Size
	if !sizeHit {
		var err error
		if size, err = s.blobSize(ctx, d); err != nil {
			return 0, err
		}
		s.rememberSize(ctx, d, size, t)
	}
	s.cache.Served("blob", linkHit && sizeHit)
	return size, nil
}

// OpenBlob opens blob d of repository name for reading at any offset.
func (s *Store) OpenBlob(ctx context.Context, name string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	size, err := s.StatBlob(ctx, name, d)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.openData(ctx, d, size)
	return f, size, err
}

// OpenBlobShared is OpenBlob for a short read (a small range): where the
// driver's files can be read at offsets by several readers at once (the
// filesystem's), it reads through a file the node keeps open for the blob
// (MemCache), sparing each request the open, stat, seeks and close; a
// reader there cannot hand its file to sendfile, so a long read is
// better served by OpenBlob. What may be read is decided per request as
// in OpenBlob (StatBlob: the link, rely, the size); the open file only
// holds the content, which a digest names: a blob deleted and pushed
// again has the same bytes. A file is kept a few seconds at most (internal/memcache), and
// dropped when the collector or scrub of a store sharing the cache
// deletes the blob, so that a deleted file's space is not held for long.
func (s *Store) OpenBlobShared(ctx context.Context, name string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	if s.mem == nil {
		return s.OpenBlob(ctx, name, d)
	}
	size, err := s.StatBlob(ctx, name, d)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.mem.Files().Reader(string(d), size, func() (io.ReadSeekCloser, error) { return s.openData(ctx, d, size) })
	if err != nil {
		return nil, 0, err
	}
	return f, size, nil
}

// openData opens the content of blob d, of the given size.
func (s *Store) openData(ctx context.Context, d digest.Digest, size int64) (io.ReadSeekCloser, error) {
	p := layout.BlobDataPath(d)
	// The size is known: a driver that would ask its backend for it
	// (S3's HEAD) is spared that request.
	if o, ok := s.driver.(storagedriver.SizedOpener); ok {
		f, err := o.OpenSized(ctx, p, size)
		if !errors.Is(err, errors.ErrUnsupported) {
			if err != nil {
				return nil, blobErr(d, err)
			}
			return f, nil
		}
	} else if o, ok := s.driver.(storagedriver.Opener); ok {
		f, err := o.Open(ctx, p)
		if err != nil {
			return nil, blobErr(d, err)
		}
		return f, nil
	}
	return blobio.NewOffsetReader(size, func(off int64) (io.ReadCloser, error) {
		return s.driver.Reader(ctx, p, off)
	}), nil
}

// BlobRedirectURL returns a URL the client may fetch blob d from directly, or
// "" when the driver cannot give one. The caller has checked the blob with
// StatBlob.
func (s *Store) BlobRedirectURL(ctx context.Context, method string, d digest.Digest) (string, error) {
	r, ok := s.driver.(storagedriver.Redirector)
	if !ok {
		return "", nil
	}
	return r.RedirectURL(ctx, method, layout.BlobDataPath(d))
}

// DeleteBlob unlinks blob d from repository name. The content itself stays
// until garbage collection. ErrBlobUnknown when it was not linked.
func (s *Store) DeleteBlob(ctx context.Context, name string, d digest.Digest) error {
	if err := check.NameDigest(name, d); err != nil {
		return err
	}
	err := s.driver.Delete(ctx, pathDir(layout.LayerLinkPath(name, d)))
	s.cache.ForgetLink(ctx, name, d)
	if err != nil {
		return blobErr(d, err)
	}
	if err := s.index.RemoveIfGone(ctx, name); err != nil {
		return err
	}
	// Acknowledged, it stays unlinked after a crash.
	return storagedriver.Sync(ctx, s.driver)
}

// MountBlob links blob d into repository name without an upload. With from
// set, the blob must be linked into from; with from empty, it must exist
// anywhere in the registry. ErrBlobUnknown when it cannot be mounted.
func (s *Store) MountBlob(ctx context.Context, name, from string, d digest.Digest) (int64, error) {
	if err := check.NameDigest(name, d); err != nil {
		return 0, err
	}
	if from != "" {
		if err := CheckName(from); err != nil {
			return 0, err
		}
		if err := s.blobLinked(ctx, from, d); err != nil {
			return 0, err
		}
	}
	t := s.now()
	if err := s.rely(ctx, name, d, relyMount); err != nil {
		return 0, err
	}
	size, _, err := s.cachedBlobSize(ctx, d, t)
	if err != nil {
		return 0, err
	}
	if err := s.link(ctx, layout.LayerLinkPath(name, d), d); err != nil {
		return 0, err
	}
	// Written after the rely: it stays as long as the size does.
	s.cache.SetLink(ctx, name, d, t, s.cacheTTL(t))
	if err := s.index.Add(ctx, name, true); err != nil {
		return 0, err
	}
	return size, s.refuseLayerIfDeleting(ctx, name, d)
}

func (s *Store) blobLinked(ctx context.Context, name string, d digest.Digest) error {
	err := s.readLink(ctx, layout.LayerLinkPath(name, d), d)
	if errors.Is(err, ErrBlobUnknown) {
		err = s.readLink(ctx, layout.RevisionLinkPath(name, d), d)
	}
	return err
}

// readLink checks that the link at p exists and names d.
func (s *Store) readLink(ctx context.Context, p string, d digest.Digest) error {
	b, err := s.driver.GetContent(ctx, p)
	if err != nil {
		return blobErr(d, err)
	}
	if digest.Digest(b) != d {
		return fmt.Errorf("link %s names %q: %w", p, b, ErrBlobUnknown)
	}
	return nil
}

func (s *Store) link(ctx context.Context, p string, d digest.Digest) error {
	return s.driver.PutContent(ctx, p, []byte(d))
}

func (s *Store) blobSize(ctx context.Context, d digest.Digest) (int64, error) {
	fi, err := storagedriver.StatFile(ctx, s.driver, layout.BlobDataPath(d))
	if err != nil {
		return 0, blobErr(d, err)
	}
	return fi.Size, nil
}

func (s *Store) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	_, err := s.blobSize(ctx, d)
	if errors.Is(err, ErrBlobUnknown) {
		return false, nil
	}
	return err == nil, err
}

// blobErr turns a driver's not-found into ErrBlobUnknown.
func blobErr(d digest.Digest, err error) error {
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)
	}
	return err
}

func pathDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}
