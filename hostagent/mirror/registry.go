package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// syncSource is where a copy to a registry reads from: a registry, or the
// store.
type syncSource interface {
	// resolve returns the descriptor of the manifest the job's source
	// names now.
	resolve(ctx context.Context, j syncJob) (v1.Descriptor, error)
	// manifest returns the bytes and media type of the manifest desc of
	// repository ref.
	manifest(ctx context.Context, ref client.Reference, desc v1.Descriptor) ([]byte, string, error)
	// blob opens blob b of repository ref.
	blob(ctx context.Context, ref client.Reference, b v1.Descriptor) (io.ReadCloser, error)
	// registry is the source's registry ("" for the store).
	registry() string
}

// remoteSource reads from a registry through the sync's client.
type remoteSource struct {
	c    *client.Client
	name string
}

func (r remoteSource) registry() string { return r.name }

func (r remoteSource) resolve(ctx context.Context, j syncJob) (v1.Descriptor, error) {
	desc, err := r.c.ManifestHead(ctx, j.src)
	if err != nil {
		return v1.Descriptor{}, RemoteError(j.src, err)
	}
	return desc, nil
}

func (r remoteSource) manifest(ctx context.Context, ref client.Reference, desc v1.Descriptor) ([]byte, string, error) {
	m, err := r.c.ManifestGet(ctx, ref.WithDigest(desc.Digest))
	if err != nil {
		return nil, "", RemoteError(ref.WithDigest(desc.Digest), err)
	}
	return m.Payload, m.Descriptor.MediaType, nil
}

func (r remoteSource) blob(ctx context.Context, ref client.Reference, b v1.Descriptor) (io.ReadCloser, error) {
	rc, _, err := r.c.BlobGet(ctx, ref, b.Digest, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", ref.Name(), b.Digest, err)
	}
	return rc, nil
}

// toRegistry copies the image j names to its destination registry and
// says what it did: "copied" or "skipped".
func (s *syncer) toRegistry(ctx context.Context, r *syncRule, j syncJob, st *imageStats) (string, digest.Digest, error) {
	var src syncSource = remoteSource{c: s.c, name: j.src.Registry}
	if r.src.local {
		ls, release, err := s.localSource(ctx, j.entry)
		if err != nil {
			return "", "", err
		}
		defer release()
		src = ls
	}
	top, err := src.resolve(ctx, j)
	if err != nil {
		return "", "", err
	}
	cur, err := s.c.ManifestHead(ctx, j.dst)
	if err == nil && cur.Digest == top.Digest && r.platforms != nil && oci.IsIndex(top.MediaType) {
		// The same sparse index may lack a platform added to the rule
		// since it was copied.
		complete, cerr := s.hasChildren(ctx, src, j.src, j.dst, top, r.platforms)
		if cerr != nil {
			return "", top.Digest, cerr
		}
		if !complete {
			cur.Digest = ""
		}
	}
	switch {
	case err == nil && cur.Digest == top.Digest:
		if r.referrers {
			if err := s.syncReferrers(ctx, src, j.src, j.dst, top.Digest, st, 0); err != nil {
				return "", top.Digest, err
			}
		}
		return "skipped", top.Digest, nil
	case err != nil && !errors.Is(err, client.ErrNotFound):
		return "", top.Digest, fmt.Errorf("destination %s: %w", j.dst, err)
	}
	if err := s.putTree(ctx, src, j.src, j.dst, top, r.platforms, st, true); err != nil {
		return "", top.Digest, err
	}
	if r.referrers {
		if err := s.syncReferrers(ctx, src, j.src, j.dst, top.Digest, st, 0); err != nil {
			return "", top.Digest, err
		}
	}
	return "copied", top.Digest, nil
}

// putTree makes the destination hold the manifest desc and all it
// references: children of an index (those of plats), blobs of an image,
// then the manifest itself, under dref's tag when tagged, else by digest.
func (s *syncer) putTree(ctx context.Context, src syncSource, sref, dref client.Reference, desc v1.Descriptor, plats []v1.Platform, st *imageStats, tagged bool) error {
	payload, mediaType, err := src.manifest(ctx, sref, desc)
	if err != nil {
		return err
	}
	if got := desc.Digest.Algorithm().FromBytes(payload); got != desc.Digest {
		return fmt.Errorf("manifest %s hashes to %s: %w", desc.Digest, got, errdefs.ErrCorrupt)
	}
	switch {
	case oci.IsIndex(mediaType):
		var idx v1.Index
		if err := json.Unmarshal(payload, &idx); err != nil {
			return fmt.Errorf("index %s: %v: %w", desc.Digest, err, errdefs.ErrInvalid)
		}
		children := selectChildren(idx.Manifests, plats)
		if len(children) == 0 {
			return fmt.Errorf("index %s: %w", desc.Digest, errdefs.ErrNoPlatform)
		}
		for _, ch := range children {
			if _, err := s.c.ManifestHead(ctx, byDigest(dref, ch.Digest)); err == nil {
				continue
			} else if !errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("destination %s: %w", dref.Name(), err)
			}
			if err := s.putTree(ctx, src, sref, dref, ch, nil, st, false); err != nil {
				return err
			}
		}
	default:
		var m v1.Manifest
		if err := json.Unmarshal(payload, &m); err != nil || m.Config.Digest == "" {
			return fmt.Errorf("manifest %s: %s is neither an image nor an index: %w", desc.Digest, mediaType, errdefs.ErrInvalid)
		}
		var blobs []v1.Descriptor
		for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if len(b.URLs) > 0 && (strings.Contains(b.MediaType, "foreign") || strings.Contains(b.MediaType, "nondistributable")) {
				continue // a layer registries do not serve, fetched from its URLs
			}
			blobs = append(blobs, b)
		}
		err := parallel.Each(ctx, len(blobs), blobs, func(ctx context.Context, b v1.Descriptor) error {
			return s.copyBlob(ctx, src, sref, dref, b, st)
		})
		if err != nil {
			return err
		}
	}
	if s.dryRun {
		return nil
	}
	target := byDigest(dref, desc.Digest)
	if tagged && dref.Tag != "" {
		target = dref.WithTag(dref.Tag)
	}
	if _, err := s.c.ManifestPut(ctx, target, mediaType, payload); err != nil {
		if oci.IsIndex(mediaType) && plats != nil && (errors.Is(err, client.ErrNotFound) || isManifestUnknown(err)) {
			return fmt.Errorf("put %s: %w (the destination refuses a sparse index: allow it there, e.g. validation.manifests.indexes.platforms: none, or sync platforms: all)", target, err)
		}
		return fmt.Errorf("put %s: %w", target, err)
	}
	return nil
}

// hasChildren reports whether the destination holds every child of the
// index desc that plats select.
func (s *syncer) hasChildren(ctx context.Context, src syncSource, sref, dref client.Reference, desc v1.Descriptor, plats []v1.Platform) (bool, error) {
	payload, _, err := src.manifest(ctx, sref, desc)
	if err != nil {
		return false, err
	}
	var idx v1.Index
	if err := json.Unmarshal(payload, &idx); err != nil {
		return false, fmt.Errorf("index %s: %v: %w", desc.Digest, err, errdefs.ErrInvalid)
	}
	for _, ch := range selectChildren(idx.Manifests, plats) {
		if _, err := s.c.ManifestHead(ctx, byDigest(dref, ch.Digest)); errors.Is(err, client.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("destination %s: %w", dref.Name(), err)
		}
	}
	return true, nil
}

// isManifestUnknown reports a registry's refusal of an index whose
// children it lacks.
func isManifestUnknown(err error) bool {
	var re *client.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	return re.HasCode("MANIFEST_UNKNOWN") || re.HasCode("MANIFEST_BLOB_UNKNOWN")
}

// byDigest is ref pointing at d, without a tag.
func byDigest(ref client.Reference, d digest.Digest) client.Reference {
	ref.Tag, ref.Digest = "", d
	return ref
}

// selectChildren returns the entries of an index for plats (all when nil):
// the images of those platforms, and the attestation manifests that refer
// to them (vnd.docker.reference.digest).
func selectChildren(manifests []v1.Descriptor, plats []v1.Platform) []v1.Descriptor {
	if plats == nil {
		return manifests
	}
	picked := map[digest.Digest]bool{}
	var out []v1.Descriptor
	for _, m := range manifests {
		if m.Platform == nil {
			continue
		}
		if slices.ContainsFunc(plats, func(p v1.Platform) bool { return oci.MatchPlatform(p, *m.Platform) }) {
			picked[m.Digest] = true
			out = append(out, m)
		}
	}
	for _, m := range manifests {
		if ref := m.Annotations["vnd.docker.reference.digest"]; ref != "" && picked[digest.Digest(ref)] && !picked[m.Digest] {
			out = append(out, m)
		}
	}
	return out
}

// copyBlob makes the destination repository hold blob b: already there
// (HEAD), mounted from a repository of the same registry known to hold
// it, or streamed from the source.
func (s *syncer) copyBlob(ctx context.Context, src syncSource, sref, dref client.Reference, b v1.Descriptor, st *imageStats) error {
	unlock, err := s.blobs.Lock(ctx, dref.Registry+"@"+b.Digest.String())
	if err != nil {
		return err
	}
	defer unlock()
	if size, err := s.c.BlobHead(ctx, dref, b.Digest); err == nil && (size < 0 || size == b.Size) {
		s.known.add(dref.Registry, dref.Repository, b.Digest)
		st.count(func(st *imageStats) { st.blobs.Skipped++ })
		return nil
	}
	if s.dryRun {
		// What the real run would do, as far as this run knows: a blob
		// it would have put in this repository already is there, one
		// it would have put in another is mounted.
		switch {
		case slices.Contains(s.known.repos(dref.Registry, b.Digest), dref.Repository):
			st.count(func(st *imageStats) { st.blobs.Skipped++ })
		case len(s.mountCandidates(src, sref, dref, b.Digest)) > 0:
			st.count(func(st *imageStats) { st.blobs.Mounted++ })
		default:
			st.count(func(st *imageStats) { st.blobs.Copied++; st.bytes += b.Size })
		}
		s.known.add(dref.Registry, dref.Repository, b.Digest)
		return nil
	}
	for _, from := range s.mountCandidates(src, sref, dref, b.Digest) {
		if ok, err := s.c.BlobMount(ctx, dref, from, b.Digest); err == nil && ok {
			s.known.add(dref.Registry, dref.Repository, b.Digest)
			st.count(func(st *imageStats) { st.blobs.Mounted++ })
			return nil
		}
	}
	err = func() error {
		release, err := s.limits.acquire(ctx, src.registry(), dref.Registry)
		if err != nil {
			return err
		}
		defer release()
		rc, err := src.blob(ctx, sref, b)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := s.c.BlobPut(ctx, dref, b, rc); err != nil {
			return fmt.Errorf("%s: blob %s: %w", dref.Name(), b.Digest, err)
		}
		return nil
	}()
	if err != nil {
		st.count(func(st *imageStats) { st.blobs.Failed++ })
		return err
	}
	s.known.add(dref.Registry, dref.Repository, b.Digest)
	st.count(func(st *imageStats) { st.blobs.Copied++; st.bytes += b.Size })
	return nil
}

// maxMountTries bounds the mounts tried for one blob before uploading it.
const maxMountTries = 3

// mountCandidates lists repositories of the destination registry that
// should hold d: the source repository when source and destination share
// the registry, repositories this sync put it in, and for a store source
// those sources.json remembers.
func (s *syncer) mountCandidates(src syncSource, sref, dref client.Reference, d digest.Digest) []string {
	var out []string
	add := func(repo string) {
		if repo != dref.Repository && repo != "" && !slices.Contains(out, repo) && len(out) < maxMountTries {
			out = append(out, repo)
		}
	}
	if src.registry() == dref.Registry {
		add(sref.Repository)
	}
	for _, repo := range s.known.repos(dref.Registry, d) {
		add(repo)
	}
	if ls, ok := src.(*localSource); ok {
		for _, name := range ls.sources[d] {
			if r, err := client.ParseReference(name); err == nil && r.Registry == dref.Registry {
				add(r.Repository)
			}
		}
	}
	return out
}

// maxReferrerDepth bounds how deep referrers of referrers are followed
// (a signature of an SBOM of an image is depth 2).
const maxReferrerDepth = 3

// syncReferrers copies the manifests whose subject is d, and, for those it
// copies, their own referrers. When the destination does not list what
// was copied (no referrers API), it updates the referrers tag schema's
// index there, as the OCI distribution spec asks of clients.
func (s *syncer) syncReferrers(ctx context.Context, src syncSource, sref, dref client.Reference, d digest.Digest, st *imageStats, depth int) error {
	rs, ok := src.(remoteSource)
	if !ok || depth >= maxReferrerDepth {
		return nil
	}
	idx, err := rs.c.Referrers(ctx, sref, d, "")
	if err != nil {
		return fmt.Errorf("referrers of %s: %w", d, err)
	}
	var copied []v1.Descriptor
	for _, ref := range idx.Manifests {
		if _, err := s.c.ManifestHead(ctx, byDigest(dref, ref.Digest)); err == nil {
			continue
		} else if !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("destination %s: %w", dref.Name(), err)
		}
		if err := s.putTree(ctx, src, sref, byDigest(dref, ""), ref, nil, st, false); err != nil {
			return fmt.Errorf("referrer %s of %s: %w", ref.Digest, d, err)
		}
		st.count(func(st *imageStats) { st.referrers++ })
		copied = append(copied, ref)
		if err := s.syncReferrers(ctx, src, sref, dref, ref.Digest, st, depth+1); err != nil {
			return err
		}
	}
	if len(copied) == 0 || s.dryRun {
		return nil
	}
	return s.indexReferrers(ctx, dref, d, copied)
}

// indexReferrers adds the referrers of subject that the destination does
// not list to its referrers tag ("sha256-<hex>").
func (s *syncer) indexReferrers(ctx context.Context, dref client.Reference, subject digest.Digest, copied []v1.Descriptor) error {
	listed, err := s.c.Referrers(ctx, dref, subject, "")
	if err != nil {
		return fmt.Errorf("referrers of %s at the destination: %w", subject, err)
	}
	missing := slices.DeleteFunc(slices.Clone(copied), func(c v1.Descriptor) bool {
		return slices.ContainsFunc(listed.Manifests, func(l v1.Descriptor) bool { return l.Digest == c.Digest })
	})
	if len(missing) == 0 {
		return nil
	}
	tag := dref.WithTag(referrersTagOf(subject))
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	m, err := s.c.ManifestGet(ctx, tag)
	switch {
	case err == nil:
		if err := json.Unmarshal(m.Payload, &idx); err != nil {
			return fmt.Errorf("referrers tag %s: %v: %w", tag, err, errdefs.ErrInvalid)
		}
	case !errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("referrers tag %s: %w", tag, err)
	}
	for _, d := range missing {
		if !slices.ContainsFunc(idx.Manifests, func(x v1.Descriptor) bool { return x.Digest == d.Digest }) {
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	payload, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if _, err := s.c.ManifestPut(ctx, tag, v1.MediaTypeImageIndex, payload); err != nil {
		return fmt.Errorf("referrers tag %s: %w", tag, err)
	}
	return nil
}

// referrersTagOf is the referrers tag schema's tag of subject d.
func referrersTagOf(d digest.Digest) string {
	t := d.Algorithm().String() + "-" + d.Encoded()
	return t[:min(len(t), 128)]
}
