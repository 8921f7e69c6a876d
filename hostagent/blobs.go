package hostagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
)

// maxMetadataSize caps what is read whole into memory: manifests, indexes
// and image configs. Registries cap manifests at 4 MiB; configs of real
// images are a few KiB (history included).
const maxMetadataSize = 16 << 20

// hasBlob reports whether the blob d is published with the given size (any
// size when size < 0).
func (s *store) hasBlob(d digest.Digest, size int64) bool {
	if oci.CheckDigest(d) != nil {
		return false
	}
	fi, err := os.Stat(s.blobPath(d))
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// openBlob opens the published blob d; ErrNotFound when it is missing.
func (s *store) openBlob(d digest.Digest) (*os.File, error) {
	if err := oci.CheckDigest(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return f, err
}

// readBlob reads a small blob whole and checks that it hashes to d, so that
// a corrupt manifest or config is reported, not parsed.
func (s *store) readBlob(d digest.Digest) ([]byte, error) {
	f, err := s.openBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("blob %s: larger than %d bytes", d, maxMetadataSize)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s hashes to %s: %w", d, got, ErrCorrupt)
	}
	return b, nil
}

// putBlob publishes data as the blob d after checking that it hashes to d.
func (s *store) putBlob(d digest.Digest, data []byte) error {
	if err := oci.CheckDigest(d); err != nil {
		return err
	}
	if got := digest.FromBytes(data); got != d {
		return fmt.Errorf("content for %s hashes to %s: %w", d, got, ErrCorrupt)
	}
	if s.hasBlob(d, int64(len(data))) {
		return nil
	}
	tmp, err := os.CreateTemp(s.path(ingestDir), ".put-*")
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, bytes.NewReader(data))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.publish(tmp.Name(), d)
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}

// publish moves a verified, synced file into place as the blob d.
func (s *store) publish(from string, d digest.Digest) error {
	if err := os.Chmod(from, 0o644); err != nil {
		return err
	}
	to := s.blobPath(d)
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return oci.SyncDir(filepath.Dir(to))
}

// fetchFunc opens the content of a blob from offset on. It returns the
// offset its reader actually starts at: a server may ignore the Range and
// send everything (start 0).
type fetchFunc func(ctx context.Context, offset int64) (rc io.ReadCloser, start int64, err error)

// ingestObserver hears how one ingest goes; either func may be nil.
type ingestObserver struct {
	start func(resumedFrom int64) // bytes already there, not fetched again
	write func(n int)             // n more bytes arrived
}

// ingest downloads the blob desc through fetch unless it is published
// already. Bytes arrive in ingest/<hex>, which one writer at a time holds
// (flock): a second process wanting the same blob waits for the first and
// then finds it published. A partial file left by an interrupted download is
// hashed and continued from its end with a Range request. The content is
// hashed while it streams and published only when digest and size match;
// otherwise the partial file is dropped and ErrCorrupt returned.
// It reports whether it had anything to do.
func (s *store) ingest(ctx context.Context, desc v1.Descriptor, fetch fetchFunc, obs ingestObserver) (fetched bool, err error) {
	if err := oci.CheckDigest(desc.Digest); err != nil {
		return false, err
	}
	if desc.Size < 0 {
		return false, fmt.Errorf("blob %s: negative size", desc.Digest)
	}
	path := s.path(ingestDir, desc.Digest.Encoded())
	for {
		if s.hasBlob(desc.Digest, desc.Size) {
			return false, nil
		}
		f, err := lockFileWait(ctx, path)
		if err != nil {
			return false, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		// The file we locked may have been published or dropped by the
		// writer we waited for; then start over with what is there now.
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		if s.hasBlob(desc.Digest, desc.Size) {
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

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func (s *store) ingestLocked(ctx context.Context, f *os.File, path string, desc v1.Descriptor, fetch fetchFunc, obs ingestObserver) error {
	for attempt := 0; ; attempt++ {
		resumed, err := s.fill(ctx, f, desc, fetch, obs)
		if err == nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			if err := s.publish(path, desc.Digest); err != nil {
				return fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			return nil
		}
		if !errors.Is(err, ErrCorrupt) {
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
func (s *store) fill(ctx context.Context, f *os.File, desc v1.Descriptor, fetch fetchFunc, obs ingestObserver) (resumed int64, err error) {
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
	if obs.start != nil {
		obs.start(have)
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
		w := &progressWriter{w: io.MultiWriter(f, h), fn: obs.write}
		n, err := io.Copy(w, ctxReader{ctx, io.LimitReader(rc, desc.Size-have+1)})
		have += n
		if err != nil {
			return resumed, fmt.Errorf("blob %s: download: %w", desc.Digest, err)
		}
	}
	if have != desc.Size {
		return resumed, fmt.Errorf("blob %s: got %d bytes, want %d: %w", desc.Digest, have, desc.Size, ErrCorrupt)
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		return resumed, fmt.Errorf("blob %s: content hashes to %s: %w", desc.Digest, got, ErrCorrupt)
	}
	return resumed, nil
}

// progressWriter reports every write's size to fn.
type progressWriter struct {
	w  io.Writer
	fn func(n int)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if p.fn != nil && n > 0 {
		p.fn(n)
	}
	return n, err
}

// ctxReader stops a copy between reads once ctx ends, for bodies whose
// transport does not watch ctx itself.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
