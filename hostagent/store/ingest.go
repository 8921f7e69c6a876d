package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/iox"
	"github.com/berth-registry/berth/internal/oci"
)

// FetchFunc opens the content of a blob from offset on. It returns the
// offset its reader actually starts at: a server may ignore the Range and
// send everything (start 0).
type FetchFunc func(ctx context.Context, offset int64) (rc io.ReadCloser, start int64, err error)

// IngestObserver hears how one ingest goes; either func may be nil.
type IngestObserver struct {
	Start func(resumedFrom int64) // bytes already there, not fetched again
	Write func(n int)             // n more bytes arrived
}

// Ingest downloads the blob desc through fetch unless it is published
// already. Bytes arrive in ingest/<hex>, which one writer at a time holds
// (flock): a second process wanting the same blob waits for the first and
// then finds it published. A partial file left by an interrupted download is
// hashed and continued from its end with a Range request. The content is
// hashed while it streams and published only when digest and size match;
// otherwise the partial file is dropped and errdefs.ErrCorrupt returned.
// It reports whether it had anything to do.
func (s *Store) Ingest(ctx context.Context, desc v1.Descriptor, fetch FetchFunc, obs IngestObserver) (fetched bool, err error) {
	if err := oci.CheckDigest(desc.Digest); err != nil {
		return false, err
	}
	if desc.Size < 0 {
		return false, fmt.Errorf("blob %s: negative size", desc.Digest)
	}
	path := s.Path(IngestDir, desc.Digest.Encoded())
	for {
		if s.HasBlob(desc.Digest, desc.Size) {
			return false, nil
		}
		f, err := LockFileWait(ctx, path)
		if err != nil {
			return false, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		// The file we locked may have been published or dropped by the
		// writer we waited for; then start over with what is there now.
		if !SameFile(f, path) {
			f.Close()
			continue
		}
		if s.HasBlob(desc.Digest, desc.Size) {
			// Published meanwhile: what this open created (or a
			// leftover) is not needed.
			os.Remove(path)
			f.Close()
			continue
		}
		err = s.ingestLocked(ctx, f, path, desc, fetch, obs)
		f.Close()
		return err == nil, err
	}
}

// SameFile reports whether the open file f is still the file at path (not
// renamed away or replaced meanwhile).
func SameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func (s *Store) ingestLocked(ctx context.Context, f *os.File, path string, desc v1.Descriptor, fetch FetchFunc, obs IngestObserver) error {
	for attempt := 0; ; attempt++ {
		resumed, err := s.fill(ctx, f, desc, fetch, obs)
		if err == nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			if err := s.Publish(path, desc.Digest); err != nil {
				return fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			return nil
		}
		if !errors.Is(err, errdefs.ErrCorrupt) {
			// Keep what arrived for the next attempt; a sync makes it
			// survive more than this process.
			_ = f.Sync()
			return err
		}
		// Bad content: never keep it. A resumed download may have been
		// spoilt by its old part, so one fresh attempt follows.
		if terr := f.Truncate(0); terr != nil {
			os.Remove(path)
			return err
		}
		if resumed == 0 || attempt > 0 {
			os.Remove(path)
			return err
		}
	}
}

// fill completes the partial file f so that it holds the whole of desc,
// and checks its digest. It returns how many bytes were already there.
func (s *Store) fill(ctx context.Context, f *os.File, desc v1.Descriptor, fetch FetchFunc, obs IngestObserver) (resumed int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	have := fi.Size()
	if have > desc.Size {
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		have = 0
	}
	h := desc.Digest.Algorithm().Hash()
	if have > 0 {
		// Hash what an earlier attempt left before continuing after it.
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return 0, fmt.Errorf("blob %s: rehash partial download: %w", desc.Digest, err)
		}
	}
	resumed = have
	if obs.Start != nil {
		obs.Start(have)
	}
	if have < desc.Size {
		rc, start, err := fetch(ctx, have)
		if err != nil {
			return resumed, err
		}
		defer rc.Close()
		if start != have {
			if start != 0 {
				return resumed, fmt.Errorf("blob %s: asked for bytes from %d, got from %d", desc.Digest, have, start)
			}
			// The server sent everything: start over.
			if err := f.Truncate(0); err != nil {
				return resumed, fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			h.Reset()
			have, resumed = 0, 0
		}
		if _, err := f.Seek(have, io.SeekStart); err != nil {
			return resumed, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		// One byte more than expected is read so that an over-long body
		// is noticed.
		w := &iox.ProgressWriter{W: io.MultiWriter(f, h), Fn: obs.Write}
		n, err := io.Copy(w, iox.ContextReader(ctx, io.LimitReader(rc, desc.Size-have+1)))
		have += n
		if err != nil {
			return resumed, fmt.Errorf("blob %s: download: %w", desc.Digest, err)
		}
	}
	if have != desc.Size {
		return resumed, fmt.Errorf("blob %s: got %d bytes, want %d: %w", desc.Digest, have, desc.Size, errdefs.ErrCorrupt)
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		return resumed, fmt.Errorf("blob %s: content hashes to %s: %w", desc.Digest, got, errdefs.ErrCorrupt)
	}
	return resumed, nil
}
