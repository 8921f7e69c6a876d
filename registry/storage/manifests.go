package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/registry/storage/internal/memcache"
	"github.com/berth-registry/berth/registry/storage/internal/times"
	"github.com/berth-registry/berth/storagedriver"
)

// Manifest media types Berth stores.
const (
	MediaTypeOCIManifest    = manifest.MediaTypeOCIManifest
	MediaTypeOCIIndex       = manifest.MediaTypeOCIIndex
	MediaTypeDockerManifest = manifest.MediaTypeDockerManifest
	MediaTypeDockerList     = manifest.MediaTypeDockerList
)

// MaxManifestSize caps a manifest's payload.
const MaxManifestSize = manifest.MaxSize

// Manifest is a stored manifest.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Payload   []byte
	// Subject is the digest of the manifest's subject, if it has one.
	Subject digest.Digest
}

// IsDigest tells whether a manifest reference is a digest rather than a tag.
func IsDigest(ref string) bool {
	for i := 0; i < len(ref); i++ {
		if ref[i] == ':' {
			return true
		}
	}
	return false
}

// GetManifest returns the manifest ref (a tag or a digest) of repository
// name. ErrManifestUnknown when there is none; ErrTagInvalid or
// ErrDigestInvalid for a malformed ref.
func (s *Store) GetManifest(ctx context.Context, name, ref string) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	d, err := s.resolveCached(ctx, name, ref)
	if err != nil {
		return nil, err
	}
	t := s.now()
	isRevision := func() error { return s.readLink(ctx, layout.RevisionLinkPath(name, d), d) }
	linkAt, linkHit := s.cachedLink(ctx, manifestScope(name), d)
	if !linkHit {
		if err := isRevision(); err != nil {
			return nil, manifestErr(ref, err)
		}
	}
	if err := s.rely(ctx, name, d, relyRead); err != nil {
		return nil, manifestErr(ref, err)
	}
	if linkHit && !s.stillTrusted(linkAt) {
		linkHit = false
		if err := isRevision(); err != nil {
			return nil, manifestErr(ref, err)
		}
	}
	if !linkHit {
		s.rememberLink(ctx, manifestScope(name), d, t, isRevision)
	}
	// The payload comes from the node's manifest cache while the storage
	// vouched for it recently enough (looked up after the rely, doc.go's
	// K3), else from storage.
	cm, memHit := s.cachedManifest(d)
	if !memHit {
		payload, err := s.driver.GetContent(ctx, layout.BlobDataPath(d))
		if err != nil {
			return nil, manifestErr(ref, blobErr(d, err))
		}
		if d.Algorithm().FromBytes(payload) != d {
			return nil, fmt.Errorf("manifest %s: stored content does not match its digest", d)
		}
		doc, _ := manifest.Parse(payload, "")
		mediaType := ""
		if doc != nil {
			mediaType = doc.MediaType
		} else {
			mediaType = manifest.MediaTypeOf(payload)
		}
		s.rememberManifest(d, payload, mediaType, doc, t)
		cm = &memcache.Manifest{Digest: d, Payload: payload, MediaType: mediaType, Doc: doc}
	}
	s.cache.Served("manifest", linkHit)
	// A client that fetched a manifest may tag it again without touching
	// its blobs (crane tag, a tag move): rely on what a PUT of it would
	// require too.
	if cm.Doc != nil {
		for _, r := range s.requiredRefs(cm.Doc) {
			if err := s.rely(ctx, name, r, relyRead); err != nil {
				return nil, manifestErr(ref, err)
			}
		}
	}
	return &Manifest{Digest: d, MediaType: cm.MediaType, Payload: cm.Payload}, nil
}

// resolve turns a tag or digest reference into a digest.
func (s *Store) resolve(ctx context.Context, name, ref string) (digest.Digest, error) {
	if IsDigest(ref) {
		return ParseDigest(ref)
	}
	if err := CheckTag(ref); err != nil {
		return "", err
	}
	b, err := s.driver.GetContent(ctx, layout.TagCurrentPath(name, ref))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "", fmt.Errorf("tag %s: %w", ref, ErrManifestUnknown)
	}
	if err != nil {
		return "", err
	}
	d, err := ParseDigest(string(b))
	if err != nil {
		return "", fmt.Errorf("tag %s links to %q: %w", ref, b, err)
	}
	return d, nil
}

func manifestErr(ref string, err error) error {
	if errors.Is(err, ErrBlobUnknown) {
		return fmt.Errorf("manifest %s: %w", ref, ErrManifestUnknown)
	}
	return err
}

// PutManifest stores payload as manifest ref (a tag or a digest) of
// repository name, and tags it with ref (when a tag) and tags. The payload
// must hash to ref when ref is a digest (ErrDigestInvalid), be a valid
// manifest of a supported type (ErrManifestInvalid), and reference only
// content the repository has (ErrManifestBlobUnknown).
func (s *Store) PutManifest(ctx context.Context, name, ref, contentType string, payload []byte, tags []string) (*Manifest, error) {
	return s.PutManifestGuarded(ctx, name, ref, contentType, payload, tags, nil)
}

// PutManifestGuarded is PutManifest with the tags guard says are immutable
// protected: moving one to another manifest fails with an
// ImmutableTagError before anything is written, and creating one follows
// tagImmutable's claim. Immutable tags are applied before the others, so a
// refused claim leaves at most the untagged manifest, for garbage
// collection. A repository being deleted (DeleteRepository) refuses the
// put with ErrRepositoryDeleting and takes back what it wrote.
func (s *Store) PutManifestGuarded(ctx context.Context, name, ref, contentType string, payload []byte, tags []string, guard TagGuard) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if len(payload) > MaxManifestSize {
		return nil, fmt.Errorf("%d bytes: %w", len(payload), ErrManifestTooLarge)
	}
	alg := digest.SHA256
	if IsDigest(ref) {
		want, err := ParseDigest(ref)
		if err != nil {
			return nil, err
		}
		alg = want.Algorithm()
	} else {
		tags = append([]string{ref}, tags...)
	}
	for _, t := range tags {
		if err := CheckTag(t); err != nil {
			return nil, err
		}
	}
	d := alg.FromBytes(payload)
	if IsDigest(ref) && d != digest.Digest(ref) {
		return nil, fmt.Errorf("manifest hashed to %s, not %s: %w", d, ref, ErrDigestInvalid)
	}
	m, err := manifest.Parse(payload, contentType)
	if err != nil {
		return nil, err
	}
	if err := s.refuseMoves(ctx, name, d, tags, guard); err != nil {
		return nil, err
	}
	t := s.now() // before checkReferences relies on d
	if err := s.checkReferences(ctx, name, d, m); err != nil {
		return nil, err
	}

	exists, err := s.blobExists(ctx, d)
	if err != nil {
		return nil, err
	}
	out := &Manifest{Digest: d, MediaType: m.MediaType, Payload: payload}
	// In three levels (storagedriver.PutContents), each durable before
	// the next shows: the content; what depends on it only (the revision
	// link, the push record, the referrers entry, and each mutable tag's
	// index link and push record); then the tags' current links. Immutable
	// tags follow, each by its claim (tagImmutable), before the others.
	var content, linked, current []storagedriver.Content
	if !exists {
		content = append(content, storagedriver.Content{Path: layout.BlobDataPath(d), Data: payload})
	}
	var immutable, mutable []string
	for _, tag := range tags {
		if _, ok := guard.check(tag); ok {
			immutable = append(immutable, tag)
		} else {
			mutable = append(mutable, tag)
		}
	}
	// The mutable tags are written with the links, unless an immutable
	// tag is claimed too: then they wait for the claim (a refused one
	// leaves them unwritten) and mutable keeps those still to write.
	var batched []string
	if len(immutable) == 0 {
		batched, mutable = mutable, nil
	}
	// The revision link and the tags' index links hold the same bytes,
	// and so do the push records of the manifest and of the tags written
	// with it (a tag's record, which the manifest's may be: pushedRecord):
	// files that are only ever replaced, never changed in place, which a
	// filesystem keeps as one inode each (storagedriver.Content.Share).
	// The current links are not shared: Distribution rewrites a moved
	// tag's link in place.
	record := times.Encode(s.clock())
	if len(batched) > 0 {
		record = s.tagPushContent(d)
	}
	linked = append(linked,
		storagedriver.Content{Path: layout.RevisionLinkPath(name, d), Data: []byte(d), Share: true},
		storagedriver.Content{Path: times.ManifestPushedPath(name, d), Data: record, Share: true})
	if m.Subject != nil {
		out.Subject = m.Subject.Digest
		desc, err := json.Marshal(manifest.ReferrerDescriptor(m, d, int64(len(payload))))
		if err != nil {
			return nil, err
		}
		linked = append(linked, storagedriver.Content{Path: layout.ReferrerPath(name, m.Subject.Digest, d), Data: desc})
	}
	for _, tag := range batched {
		linked = append(linked,
			storagedriver.Content{Path: layout.TagIndexPath(name, tag, d), Data: []byte(d), Share: true},
			storagedriver.Content{Path: times.PushedTagPath(name, tag), Data: record, Share: true})
		current = append(current, storagedriver.Content{Path: layout.TagCurrentPath(name, tag), Data: []byte(d)})
	}
	err = storagedriver.PutContents(ctx, s.driver, content, linked, current)
	if len(batched) > 0 {
		s.tagsChanged(name, batched...) // after the writes: a GET then reads them
	}
	if err != nil {
		return nil, err
	}
	// Written or found after the rely on d.
	s.rememberSize(ctx, d, int64(len(payload)), t)
	s.rememberManifest(d, payload, m.MediaType, m, t)
	s.cache.SetLink(ctx, manifestScope(name), d, t, s.cacheTTL(t))
	s.cache.SetLink(ctx, name, d, t, s.cacheTTL(t))
	for _, tag := range immutable {
		rule, _ := guard.check(tag)
		if err := s.tagImmutable(ctx, name, tag, d, rule); err != nil {
			return nil, err
		}
	}
	for _, tag := range mutable {
		if err := s.Tag(ctx, name, tag, d); err != nil {
			return nil, err
		}
	}
	// A retention run deleting a batched tag meanwhile is waited for, and
	// the tag written again, as Tag does.
	for _, tag := range batched {
		if s.untagWaitOff {
			break
		}
		waited, err := s.waitUntagging(ctx, name, tag)
		if err == nil && waited {
			err = s.Tag(ctx, name, tag, d)
		}
		if err != nil {
			return nil, err
		}
	}
	// Linked: the repository is in the index before the 201 (doc.go),
	// and leaves it again if a repository delete refuses the push.
	if err := s.index.Add(ctx, name, false); err != nil {
		return nil, err
	}
	if err := s.refuseManifestIfDeleting(ctx, name, d, m, tags); err != nil {
		return nil, err
	}
	return out, nil
}

// Tag points tag of repository name at manifest d, which the caller has
// checked exists, and records the push time. A retention run deleting the
// tag meanwhile is waited for, and the tag written again (retention.go).
func (s *Store) Tag(ctx context.Context, name, tag string, d digest.Digest) error {
	defer s.tagsChanged(name, tag) // after the writes: a GET then reads them
	for {
		// The push record first, with the index link: once the tag
		// moves, its record is there (a record naming another digest
		// than the tag's is ignored, see TagPushed).
		if err := inParallel(
			func() error { return s.link(ctx, layout.TagIndexPath(name, tag, d), d) },
			func() error { return s.recordTagPush(ctx, name, tag, d) },
		); err != nil {
			return err
		}
		if err := s.link(ctx, layout.TagCurrentPath(name, tag), d); err != nil {
			return err
		}
		if s.untagWaitOff {
			return nil
		}
		if waited, err := s.waitUntagging(ctx, name, tag); err != nil || !waited {
			return err
		}
	}
}

// DeleteManifest deletes manifest ref of repository name. For a digest it
// removes the manifest, every tag pointing at it and its referrers entry; for
// a tag, only the tag. ErrManifestUnknown when there is nothing to delete.
func (s *Store) DeleteManifest(ctx context.Context, name, ref string) error {
	return s.DeleteManifestGuarded(ctx, name, ref, nil)
}

// DeleteManifestGuarded is DeleteManifest refusing, with an
// ImmutableTagError, to delete a tag guard says is immutable, or a manifest
// such a tag points at. A push tagging the manifest immutable between the
// check and the deletion loses that tag: the check is not atomic with the
// deletion (see docs/policies.md, "Immutable tags").
func (s *Store) DeleteManifestGuarded(ctx context.Context, name, ref string, guard TagGuard) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := s.refuseImmutableDelete(ctx, name, ref, guard); err != nil {
		return err
	}
	if !IsDigest(ref) {
		if err := CheckTag(ref); err != nil {
			return err
		}
		err := s.deleteTag(ctx, name, ref)
		s.tagsChanged(name, ref)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return fmt.Errorf("tag %s: %w", ref, ErrManifestUnknown)
		}
		if err != nil {
			return err
		}
		if err := ignoreNotFound(s.driver.Delete(ctx, times.PushedTagPath(name, ref))); err != nil {
			return err
		}
		// Acknowledged, it stays deleted after a crash.
		return storagedriver.Sync(ctx, s.driver)
	}
	m, err := s.GetManifest(ctx, name, ref)
	if err != nil {
		return err
	}
	tags, err := s.Tags(ctx, name)
	if err != nil {
		return err
	}
	defer s.tagsChanged(name)
	untagged := false
	for _, t := range tags {
		if d, err := s.resolve(ctx, name, t); err == nil && d == m.Digest {
			untagged = true
			if err := ignoreNotFound(s.deleteTag(ctx, name, t)); err != nil {
				return err
			}
			if err := ignoreNotFound(s.driver.Delete(ctx, times.PushedTagPath(name, t))); err != nil {
				return err
			}
		}
	}
	// The tags go durably before the manifest they name: no crash leaves
	// a tag pointing to a revision that is gone.
	if untagged {
		if err := storagedriver.Sync(ctx, s.driver); err != nil {
			return err
		}
	}
	err = s.driver.Delete(ctx, pathDir(layout.RevisionLinkPath(name, m.Digest)))
	s.forgetLinks(ctx, name, m.Digest)
	if err != nil {
		return manifestErr(ref, blobErr(m.Digest, err))
	}
	if err := s.deleteTimeRecords(ctx, name, m.Digest); err != nil {
		return err
	}
	if doc, err := manifest.Parse(m.Payload, ""); err == nil && doc.Subject != nil {
		err := s.driver.Delete(ctx, layout.ReferrerPath(name, doc.Subject.Digest, m.Digest))
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return err
		}
	}
	if err := s.index.RemoveIfGone(ctx, name); err != nil {
		return err
	}
	return storagedriver.Sync(ctx, s.driver)
}

// inParallel runs fns at once and returns the first of their errors once
// all have returned.
func inParallel(fns ...func() error) error {
	if len(fns) == 1 {
		return fns[0]()
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns[1:] {
		wg.Go(func() { errs[i+1] = f() })
	}
	errs[0] = fns[0]()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ManifestReferences returns the digests a manifest payload links into its
// repository once put: its config and layers, or an index's children. It
// fails as PutManifest would on a payload that is not a manifest.
func ManifestReferences(payload []byte, contentType string) ([]digest.Digest, error) {
	m, err := manifest.Parse(payload, contentType)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	if m.Config != nil {
		out = append(out, m.Config.Digest)
	}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out, nil
}
