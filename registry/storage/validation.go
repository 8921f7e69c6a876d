package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Validation says what a manifest's references must satisfy when it is put.
type Validation struct {
	// Indexes says which children of an index must exist in the repository,
	// after Distribution's validation.manifests.indexes.platforms: "all"
	// (the default when empty), "none" or "list".
	Indexes string
	// Platforms, with Indexes "list": children whose platform is one of
	// these must exist; the others may be absent.
	Platforms []v1.Platform
	// SkipLayers accepts image manifests whose layers are not (all) in the
	// repository: sparse images, as mirroring tools push them. The config
	// must still exist.
	SkipLayers bool
	// URLs, when set, decides which URLs the layers of an image manifest
	// may carry (Distribution's validation.manifests.urls); nil accepts
	// any.
	URLs *URLPolicy
}

// URLPolicy is Distribution's rule for the URLs of foreign layers: http or
// https, no fragment, matching Allow (when set) and not Deny (when set).
type URLPolicy struct {
	Allow, Deny *regexp.Regexp
}

// check returns ErrManifestInvalid, naming the URL, unless l's URLs pass.
func (p *URLPolicy) check(l v1.Descriptor) error {
	for _, s := range l.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" ||
			(p.Allow != nil && !p.Allow.MatchString(s)) || (p.Deny != nil && p.Deny.MatchString(s)) {
			return fmt.Errorf("layer %s: url %q is not allowed by validation.manifests.urls: %w", l.Digest, s, ErrManifestInvalid)
		}
	}
	return nil
}

func (v Validation) requires(p *v1.Platform) bool {
	switch v.Indexes {
	case "none":
		return false
	case "list":
		if p == nil {
			return false
		}
		for _, want := range v.Platforms {
			if want.OS == p.OS && want.Architecture == p.Architecture && (want.Variant == "" || want.Variant == p.Variant) {
				return true
			}
		}
		return false
	}
	return true
}

// checkReferences verifies that what m references is in repository name,
// in three passes: the links (so that digests the repository never had
// leave no records), rely on each reference and on d, the manifest itself
// (doc.go), and then the content, which is there to stay once relied on. A
// link is not enough: it can outlive its blob (Distribution's garbage
// collection deletes blobs and leaves their links).
func (s *Store) checkReferences(ctx context.Context, name string, d digest.Digest, m *manifest.Doc) error {
	if p := s.validation.URLs; p != nil && !m.IsIndex() {
		for _, l := range m.Layers {
			if err := p.check(l); err != nil {
				return err
			}
		}
	}
	refs := s.requiredRefs(m)
	links := func() error { return s.referencesLinked(ctx, name, m, refs) }
	if err := links(); err != nil {
		return err
	}
	t := s.now()
	waitedAny := false
	for _, r := range append(refs, d) {
		waited, err := s.relyWaited(ctx, name, r, relyManifest)
		if err != nil {
			return err
		}
		waitedAny = waitedAny || waited
	}
	// A collector was deleting some of it: the links may have gone with it
	// (an untagged child's revision link goes while its content stays).
	if waitedAny {
		if err := links(); err != nil {
			return err
		}
	}
	// The links were read from storage (the cache may not vouch for a
	// link a manifest comes to depend on: another node may have deleted
	// it); the content may come from the cache, relied on after t.
	// After a wait for a collector, everything comes from storage.
	for _, r := range refs {
		var err error
		if waitedAny {
			_, err = s.blobSize(ctx, r)
		} else {
			_, _, err = s.cachedBlobSize(ctx, r, t)
		}
		if err != nil {
			return referenceErr(r, err)
		}
	}
	return nil
}

// referencesLinked checks that repository name links each of refs, the
// references of m.
func (s *Store) referencesLinked(ctx context.Context, name string, m *manifest.Doc, refs []digest.Digest) error {
	for _, r := range refs {
		var err error
		if m.IsIndex() {
			err = s.readLink(ctx, layout.RevisionLinkPath(name, r), r)
		} else {
			err = s.blobLinked(ctx, name, r)
		}
		if err != nil {
			return referenceErr(r, err)
		}
	}
	return nil
}

// requiredRefs lists what m references that the repository must have: an
// index's children its platforms require, or an image's config and layers
// (but nondistributable ones, and all layers with SkipLayers).
func (s *Store) requiredRefs(m *manifest.Doc) []digest.Digest {
	var refs []digest.Digest
	if m.IsIndex() {
		for _, c := range m.Manifests {
			if s.validation.requires(c.Platform) {
				refs = append(refs, c.Digest)
			}
		}
		return refs
	}
	refs = append(refs, m.Config.Digest)
	for _, l := range m.Layers {
		if !s.validation.SkipLayers && !manifest.Nondistributable(l) {
			refs = append(refs, l.Digest)
		}
	}
	return refs
}

func referenceErr(d digest.Digest, err error) error {
	if errors.Is(err, ErrBlobUnknown) {
		return fmt.Errorf("%s: %w", d, ErrManifestBlobUnknown)
	}
	return err
}
