package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// annotationSyncDigest, on an index.json entry that sync wrote, is the
// digest the source's tag named when it was copied: the next run compares
// it with the source's HEAD and skips an unchanged image without fetching
// anything else.
const annotationSyncDigest = "io.berth.hostagent.sync.digest"

// annotationSyncPlatforms, beside it, is the rule's platforms then ("all"
// or a list): an index synced again for other platforms is not current.
const annotationSyncPlatforms = "io.berth.hostagent.sync.platforms"

// platformsKey writes plats as annotationSyncPlatforms holds them.
func platformsKey(plats []v1.Platform) string {
	if plats == nil {
		return "all"
	}
	var s []string
	for _, p := range plats {
		s = append(s, oci.FormatPlatform(p))
	}
	return strings.Join(s, ",")
}

// localSource reads an image of the store for a copy to a registry.
type localSource struct {
	s       *store.Store
	sources store.Sources
}

// localSource opens the store as the source of the image entry, leasing
// every blob it reaches so that a concurrent remove or prune spares them
// until release.
func (s *syncer) localSource(ctx context.Context, entry v1.Descriptor) (*localSource, func(), error) {
	srcs, err := s.m.store.ReadSources()
	if err != nil {
		return nil, nil, err
	}
	ls := &localSource{s: s.m.store, sources: srcs}
	if s.dryRun {
		return ls, func() {}, nil
	}
	reach := map[digest.Digest]bool{}
	if err := s.m.store.Mark(entry, reach); err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", store.EntryName(entry), err)
	}
	l, err := s.m.store.NewLease(ctx, slices.Collect(maps.Keys(reach)))
	if err != nil {
		return nil, nil, err
	}
	return ls, l.Release, nil
}

func (l *localSource) registry() string { return "" }

func (l *localSource) resolve(_ context.Context, j syncJob) (v1.Descriptor, error) {
	e := j.entry
	if e.Digest == "" {
		return v1.Descriptor{}, fmt.Errorf("image %s: %w in the store", j.src, errdefs.ErrNotFound)
	}
	return v1.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}, nil
}

func (l *localSource) manifest(_ context.Context, _ client.Reference, desc v1.Descriptor) ([]byte, string, error) {
	b, err := l.s.ReadBlob(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return b, desc.MediaType, nil
}

func (l *localSource) blob(_ context.Context, _ client.Reference, b v1.Descriptor) (io.ReadCloser, error) {
	f, err := l.s.OpenBlob(b.Digest)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", b.Digest, errdefs.ErrCorrupt)
	}
	return f, nil
}

// toLocal installs the image j names into the store under its source
// name, and says what it did: "copied" or "skipped".
func (s *syncer) toLocal(ctx context.Context, r *syncRule, j syncJob, st *imageStats) (string, digest.Digest, error) {
	top, err := s.c.ManifestHead(ctx, j.src)
	if err != nil {
		return "", "", RemoteError(j.src, err)
	}
	if s.localCurrent(j.dst.String(), top, r.platforms) {
		return "skipped", top.Digest, nil
	}
	src := remoteSource{c: s.c, name: j.src.Registry}
	payload, mediaType, err := src.manifest(ctx, j.src, top)
	if err != nil {
		return "", top.Digest, err
	}
	var leases []*store.Lease
	defer func() {
		for _, l := range leases {
			l.Release()
		}
	}()
	var stored v1.Descriptor
	var blobs []digest.Digest
	sourceDigest := top.Digest
	switch {
	case oci.IsImageManifest(mediaType):
		stored, blobs, err = s.storeImage(ctx, j.src, mediaType, payload, st, &leases)
	case oci.IsIndex(mediaType):
		stored, sourceDigest, blobs, err = s.storeIndex(ctx, r, j.src, payload, st, &leases)
	default:
		err = fmt.Errorf("%s is %s, not an image: %w", j.src, mediaType, errdefs.ErrInvalid)
	}
	if err != nil {
		return "", top.Digest, err
	}
	if s.dryRun {
		return "copied", top.Digest, nil
	}
	if err := s.keepOriginal(ctx, stored, sourceDigest, payload, &leases); err != nil {
		return "", top.Digest, err
	}
	entry := store.NewEntry(j.dst.String(), j.dst.Tag, stored, sourceDigest)
	entry.Annotations[annotationSyncDigest] = top.Digest.String()
	if oci.IsIndex(mediaType) {
		entry.Annotations[annotationSyncPlatforms] = platformsKey(r.platforms)
	}
	if err := s.m.store.UpdateIndex(ctx, func(idx *v1.Index) error {
		store.SetEntry(idx, entry)
		return nil
	}); err != nil {
		return "", top.Digest, err
	}
	// Only mounts on later pushes rest on this: a failure is not the copy's.
	_ = s.m.store.AddSources(ctx, j.src.Name(), blobs)
	return "copied", top.Digest, nil
}

// localCurrent reports whether the store names top as name already:
// synced from it (for an index, for the same platforms), installed from
// it, or holding it as is.
func (s *syncer) localCurrent(name string, top v1.Descriptor, plats []v1.Platform) bool {
	idx, err := s.m.store.ReadIndex()
	if err != nil {
		return false
	}
	for _, e := range idx.Manifests {
		if store.EntryName(e) != name {
			continue
		}
		same := e.Annotations[annotationSyncDigest] == top.Digest.String() || store.IsDigestOf(top.Digest, e)
		if p, ok := e.Annotations[annotationSyncPlatforms]; ok && oci.IsIndex(top.MediaType) && p != platformsKey(plats) {
			same = false
		}
		return same && s.m.store.HasBlob(e.Digest, e.Size)
	}
	return false
}

// keepOriginal stores the registry's bytes of a manifest kept converted to
// OCI beside it (the index entry names them as its source digest), so
// that a push sends them and the image keeps its digest, as Pull does.
func (s *syncer) keepOriginal(ctx context.Context, stored v1.Descriptor, source digest.Digest, payload []byte, leases *[]*store.Lease) error {
	if source == stored.Digest || digest.FromBytes(payload) != source {
		return nil // not converted, or an index (whose children were)
	}
	l, err := s.m.store.NewLease(ctx, []digest.Digest{source})
	if err != nil {
		return err
	}
	*leases = append(*leases, l)
	return s.m.store.PutBlob(source, payload)
}

// storeImage brings an image manifest's blobs into the store and then the
// manifest itself (as OCI, see toOCI). It returns the stored manifest's
// descriptor and the blobs' digests.
func (s *syncer) storeImage(ctx context.Context, ref client.Reference, mediaType string, payload []byte, st *imageStats, leases *[]*store.Lease) (v1.Descriptor, []digest.Digest, error) {
	var m v1.Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: manifest: %v: %w", ref, err, errdefs.ErrInvalid)
	}
	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	newType, newPayload, err := store.ToOCI(mediaType, payload)
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w", ref, err)
	}
	desc := v1.Descriptor{MediaType: newType, Digest: digest.FromBytes(newPayload), Size: int64(len(newPayload))}
	digests := []digest.Digest{desc.Digest}
	for _, b := range blobs {
		if err := oci.CheckDigest(b.Digest); err != nil {
			return v1.Descriptor{}, nil, fmt.Errorf("%s: %w: %w", ref, errdefs.ErrInvalid, err)
		}
		digests = append(digests, b.Digest)
	}
	if !s.dryRun {
		l, err := s.m.store.NewLease(ctx, digests)
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		*leases = append(*leases, l)
	}
	err = parallel.Each(ctx, len(blobs), blobs, func(ctx context.Context, b v1.Descriptor) error {
		return s.fetchBlob(ctx, ref, b, st)
	})
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w", ref, err)
	}
	if !s.dryRun {
		if err := s.m.store.PutBlob(desc.Digest, newPayload); err != nil {
			return v1.Descriptor{}, nil, err
		}
	}
	return desc, digests[1:], nil
}

// storeIndex stores what the rule's platforms take of an index: with one
// platform, that platform's image, as install does (its registry digest is
// returned as the source digest); with several or all, each child and an
// index of them, the source's own bytes when nothing had to change.
func (s *syncer) storeIndex(ctx context.Context, r *syncRule, ref client.Reference, payload []byte, st *imageStats, leases *[]*store.Lease) (v1.Descriptor, digest.Digest, []digest.Digest, error) {
	var idx v1.Index
	if err := json.Unmarshal(payload, &idx); err != nil {
		return v1.Descriptor{}, "", nil, fmt.Errorf("%s: index: %v: %w", ref, err, errdefs.ErrInvalid)
	}
	children := selectChildren(idx.Manifests, r.platforms)
	if len(r.platforms) == 1 {
		ch, err := oci.ChoosePlatform(idx, r.platforms[0])
		if err != nil {
			return v1.Descriptor{}, "", nil, fmt.Errorf("%s: %w", ref, err)
		}
		children = []v1.Descriptor{ch}
	}
	if len(children) == 0 {
		return v1.Descriptor{}, "", nil, fmt.Errorf("%s: no manifest for the platforms asked: %w", ref, errdefs.ErrNoPlatform)
	}
	src := remoteSource{c: s.c, name: ref.Registry}
	var stored []v1.Descriptor
	var blobs []digest.Digest
	changed := len(children) != len(idx.Manifests) || idx.MediaType != v1.MediaTypeImageIndex
	for _, ch := range children {
		p, mt, err := src.manifest(ctx, ref, ch)
		if err != nil {
			return v1.Descriptor{}, "", nil, err
		}
		if !oci.IsImageManifest(mt) {
			return v1.Descriptor{}, "", nil, fmt.Errorf("%s: child %s is %s; only images go into the store: %w", ref, ch.Digest, mt, errdefs.ErrInvalid)
		}
		d, bs, err := s.storeImage(ctx, ref, mt, p, st, leases)
		if err != nil {
			return v1.Descriptor{}, "", nil, err
		}
		blobs = append(blobs, bs...)
		if len(r.platforms) == 1 {
			d.Platform = ch.Platform
			return d, ch.Digest, blobs, nil
		}
		changed = changed || d.Digest != ch.Digest
		nd := ch
		nd.MediaType, nd.Digest, nd.Size = d.MediaType, d.Digest, d.Size
		stored = append(stored, nd)
	}
	out := payload
	if changed {
		var err error
		out, err = json.Marshal(v1.Index{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex,
			Manifests: stored, Annotations: idx.Annotations,
		})
		if err != nil {
			return v1.Descriptor{}, "", nil, err
		}
	}
	desc := v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: digest.FromBytes(out), Size: int64(len(out))}
	if !s.dryRun {
		l, err := s.m.store.NewLease(ctx, []digest.Digest{desc.Digest})
		if err != nil {
			return v1.Descriptor{}, "", nil, err
		}
		*leases = append(*leases, l)
		if err := s.m.store.PutBlob(desc.Digest, out); err != nil {
			return v1.Descriptor{}, "", nil, err
		}
	}
	return desc, digest.FromBytes(payload), blobs, nil
}

// fetchBlob brings blob b of ref into the store unless it is there; a
// download an earlier run left partial resumes where it stopped.
func (s *syncer) fetchBlob(ctx context.Context, ref client.Reference, b v1.Descriptor, st *imageStats) error {
	if s.m.store.HasBlob(b.Digest, b.Size) {
		st.count(func(st *imageStats) { st.blobs.Skipped++ })
		return nil
	}
	if s.dryRun {
		// Counted once, as the real run would fetch it: the images of a
		// rule are stored in parallel, so the check and the note are one
		// step (two images sharing a base both counted it before).
		if s.known.add("", "", b.Digest) {
			st.count(func(st *imageStats) { st.blobs.Copied++; st.bytes += b.Size })
		} else {
			st.count(func(st *imageStats) { st.blobs.Skipped++ })
		}
		return nil
	}
	if store.IsForeign(b) {
		return s.fetchForeign(ctx, ref, b, st)
	}
	fetched, moved, err := s.fromRegistry(ctx, ref, b)
	s.countFetch(st, fetched, moved, err)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	return nil
}

// fromRegistry ingests blob b of ref from its registry, resuming a
// partial download; it says whether it had anything to do and how many
// bytes moved.
func (s *syncer) fromRegistry(ctx context.Context, ref client.Reference, b v1.Descriptor) (bool, int64, error) {
	release, err := s.limits.acquire(ctx, ref.Registry)
	if err != nil {
		return false, 0, err
	}
	defer release()
	fetch := func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
		rc, _, err := s.c.BlobGet(ctx, ref, b.Digest, offset)
		if errors.Is(err, client.ErrRangeIgnored) && offset > 0 {
			rc, _, err = s.c.BlobGet(ctx, ref, b.Digest, 0)
			offset = 0
		}
		if err != nil {
			return nil, 0, RemoteError(ref, err)
		}
		return rc, offset, nil
	}
	var moved atomic.Int64
	fetched, err := s.m.store.Ingest(ctx, b, fetch, store.IngestObserver{Write: func(n int) { moved.Add(int64(n)) }})
	return fetched, moved.Load(), err
}

// countFetch counts one blob's fetch in st.
func (s *syncer) countFetch(st *imageStats, fetched bool, moved int64, err error) {
	switch {
	case err != nil:
		st.count(func(st *imageStats) { st.blobs.Failed++ })
	case !fetched:
		st.count(func(st *imageStats) { st.blobs.Skipped++ })
	default:
		st.count(func(st *imageStats) { st.blobs.Copied++; st.bytes += moved })
	}
}
