package store

import (
	"context"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/iox"
)

// BlobWriter is what a Publication writes through: a *Store, or a wrapper
// of one (a test's that fails on demand).
type BlobWriter interface {
	Path(elem ...string) string
	HasBlob(d digest.Digest, size int64) bool
	PutBlob(d digest.Digest, data []byte) error
	Publish(from string, d digest.Digest) error
	NewLease(ctx context.Context, digests []digest.Digest) (*Lease, error)
}

// Publication adds the blobs of one operation that makes an image (a
// commit, an OS image install) and takes them back when the operation
// fails. Every blob it writes, and any other it is told to Lease, is
// leased until Release, so that a concurrent prune spares it until the
// index names it; Rollback deletes the blobs it added that nothing else
// has come to use meanwhile. Not safe for concurrent use.
type Publication struct {
	st     BlobWriter
	drop   func(ctx context.Context, digests []digest.Digest) error
	leases []*Lease
	added  []digest.Digest
}

// NewPublication returns a Publication writing through st; drop deletes
// those of digests nothing uses (Store.DropUnused, with the caller's extra
// roots).
func NewPublication(st BlobWriter, drop func(ctx context.Context, digests []digest.Digest) error) *Publication {
	return &Publication{st: st, drop: drop}
}

// Lease protects d until Release.
func (p *Publication) Lease(ctx context.Context, d digest.Digest) error {
	l, err := p.st.NewLease(ctx, []digest.Digest{d})
	if err != nil {
		return err
	}
	p.leases = append(p.leases, l)
	return nil
}

// Put leases d and publishes data as the blob d (a config, a manifest).
func (p *Publication) Put(ctx context.Context, d digest.Digest, data []byte) error {
	had := p.st.HasBlob(d, int64(len(data)))
	if err := p.Lease(ctx, d); err != nil {
		return err
	}
	if err := p.st.PutBlob(d, data); err != nil {
		return err
	}
	if !had {
		p.added = append(p.added, d)
	}
	return nil
}

// PutDescribed is Put of a config or manifest, which it returns the
// descriptor of.
func (p *Publication) PutDescribed(ctx context.Context, mediaType string, data []byte) (v1.Descriptor, error) {
	desc := v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	return desc, p.Put(ctx, desc.Digest, data)
}

// Write publishes what write writes as a blob, which it returns the
// digest and size of. The content goes to a file in ingest/ (named after
// pattern, as os.CreateTemp names), is hashed on the way and synced, and is
// leased before it is published, unless the store has it already.
func (p *Publication) Write(ctx context.Context, pattern string, write func(w io.Writer) error) (digest.Digest, int64, error) {
	tmp, err := os.CreateTemp(p.st.Path(IngestDir), pattern)
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once published
	defer tmp.Close()
	h := digest.SHA256.Digester()
	counter := &iox.CountWriter{W: io.MultiWriter(tmp, h.Hash())}
	if err := write(counter); err != nil {
		return "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	d := h.Digest()
	if !p.st.HasBlob(d, counter.N) {
		if err := p.Lease(ctx, d); err != nil {
			return "", 0, err
		}
		if err := p.st.Publish(tmp.Name(), d); err != nil {
			return "", 0, err
		}
		p.added = append(p.added, d)
	}
	return d, counter.N, nil
}

// Release ends the leases. Call it once the operation is over, after the
// index names what it made (or after Rollback).
func (p *Publication) Release() {
	for _, l := range p.leases {
		l.Release()
	}
	p.leases = nil
}

// Rollback ends the leases and deletes the blobs this publication added
// that nothing else has come to use meanwhile, also when ctx is cancelled
// (a cancelled operation is the usual one to roll back).
func (p *Publication) Rollback(ctx context.Context) {
	p.Release()
	if len(p.added) > 0 {
		_ = p.drop(context.WithoutCancel(ctx), p.added)
	}
	p.added = nil
}
