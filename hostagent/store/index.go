package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// Annotations on the descriptors of index.json. The tag goes in the OCI
// ref.name, which is what `skopeo inspect oci:<store>:<tag>` and umoci look
// for; the whole reference goes where containerd keeps it.
const (
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationSourceDigest is the digest the registry serves the
	// manifest under, when the store keeps a converted one (see
	// the agent's convert.go).
	AnnotationSourceDigest = "io.berth.hostagent.source.digest"
	// AnnotationComposed marks an index the store composed from manifests
	// of several platforms installed under one name (MergePlatform).
	AnnotationComposed = "io.berth.hostagent.composed"
)

// EntryName is the full reference an index entry stands for: its
// containerd name, else (a layout written by another tool) its ref.name.
func EntryName(d v1.Descriptor) string {
	if n := d.Annotations[AnnotationImageName]; n != "" {
		return n
	}
	return d.Annotations[v1.AnnotationRefName]
}

// IsDigestOf reports whether d names the manifest of entry e: its digest
// in the store, or the registry's digest of it.
func IsDigestOf(d digest.Digest, e v1.Descriptor) bool {
	return d != "" && (e.Digest == d || e.Annotations[AnnotationSourceDigest] == d.String())
}

// NewEntry is the index descriptor naming the manifest desc as name, the
// full reference (registry/repository[:tag][@digest]); tag, when not empty,
// also goes in ref.name.
func NewEntry(name, tag string, desc v1.Descriptor, sourceDigest digest.Digest) v1.Descriptor {
	e := v1.Descriptor{
		MediaType: desc.MediaType,
		Digest:    desc.Digest,
		Size:      desc.Size,
		Platform:  desc.Platform,
		Annotations: map[string]string{
			AnnotationImageName: name,
		},
	}
	if tag != "" {
		e.Annotations[v1.AnnotationRefName] = tag
	}
	if sourceDigest != "" && sourceDigest != desc.Digest {
		e.Annotations[AnnotationSourceDigest] = sourceDigest.String()
	}
	return e
}

// CheckReplace fails with errdefs.ErrExists when name (a full reference)
// already names a manifest other than d: what load, commit and the like
// refuse to replace unless forced.
func CheckReplace(idx *v1.Index, name string, d digest.Digest) error {
	for _, e := range idx.Manifests {
		if EntryName(e) == name && e.Digest != d {
			return fmt.Errorf("%s already names image %s (use --force to replace it): %w", name, e.Digest, errdefs.ErrExists)
		}
	}
	return nil
}

// SetEntry makes e the only entry named like e.
func SetEntry(idx *v1.Index, e v1.Descriptor) {
	name := EntryName(e)
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return EntryName(d) == name })
	idx.Manifests = append(idx.Manifests, e)
}

// ReadIndex reads index.json. Callers that will write it back must hold the
// Lock from before the read until after the write.
func (s *Store) ReadIndex() (*v1.Index, error) {
	b, err := os.ReadFile(s.Path(IndexFile))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var idx v1.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read index %s: %w", s.Path(IndexFile), err)
	}
	return &idx, nil
}

// WriteIndex replaces index.json atomically: readers see the old index or
// the new one, never a mix, even across a crash.
func (s *Store) WriteIndex(idx *v1.Index) error {
	idx.SchemaVersion = 2
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	idx.MediaType = v1.MediaTypeImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := oci.WriteFileAtomic(s.root, IndexFile, append(b, '\n')); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// UpdateIndex applies fn to the index under the store lock and writes the
// result back when fn returns nil.
func (s *Store) UpdateIndex(ctx context.Context, fn func(idx *v1.Index) error) error {
	return s.WithIndex(ctx, func(idx *v1.Index) error {
		if err := fn(idx); err != nil {
			return err
		}
		return s.WriteIndex(idx)
	})
}

// WithIndex runs fn on the index under the store lock, without writing the
// index back.
func (s *Store) WithIndex(ctx context.Context, fn func(idx *v1.Index) error) error {
	return s.locked(ctx, func() error {
		idx, err := s.ReadIndex()
		if err != nil {
			return err
		}
		return fn(idx)
	})
}

// PlatformKey is what tells the platforms of one name apart:
// os/arch[/variant][:osversion].
func PlatformKey(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	return oci.FormatPlatformVersion(*p)
}

// MergePlatform makes e, an image manifest of one platform chosen from a
// registry's index, join what idx already names the same: a manifest of
// another platform (chosen from an index too) or an index the store
// composed. The result is an index of both, written to the store, and the
// entry naming it is returned; when there is nothing to merge with (no such
// name, the same platform, or an entry without a platform) e is returned
// as it is. Call it under the store lock (UpdateIndex).
func (s *Store) MergePlatform(idx *v1.Index, e v1.Descriptor) (v1.Descriptor, error) {
	key := PlatformKey(e.Platform)
	if key == "" || !oci.IsImageManifest(e.MediaType) {
		return e, nil
	}
	name := EntryName(e)
	var old *v1.Descriptor
	for i := range idx.Manifests {
		if EntryName(idx.Manifests[i]) == name {
			old = &idx.Manifests[i]
		}
	}
	if old == nil {
		return e, nil
	}
	child := func(d v1.Descriptor) v1.Descriptor {
		return v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: d.Platform}
	}
	var children []v1.Descriptor
	switch {
	case oci.IsImageManifest(old.MediaType):
		if ok := PlatformKey(old.Platform); ok == "" || ok == key {
			return e, nil
		}
		children = []v1.Descriptor{child(*old)}
	case oci.IsIndex(old.MediaType) && old.Annotations[AnnotationComposed] == "true":
		raw, err := s.ReadBlob(old.Digest)
		if err != nil {
			return e, err
		}
		var have v1.Index
		if err := json.Unmarshal(raw, &have); err != nil {
			return e, fmt.Errorf("index %s: %v: %w", old.Digest, err, errdefs.ErrCorrupt)
		}
		for _, d := range have.Manifests {
			if PlatformKey(d.Platform) != key {
				children = append(children, d)
			}
		}
	default:
		return e, nil
	}
	children = append(children, child(e))
	slices.SortFunc(children, func(a, b v1.Descriptor) int { return strings.Compare(PlatformKey(a.Platform), PlatformKey(b.Platform)) })
	out := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: children}
	raw, err := json.Marshal(out)
	if err != nil {
		return e, err
	}
	d := digest.FromBytes(raw)
	if err := s.PutBlob(d, raw); err != nil {
		return e, err
	}
	ne := NewEntry(name, e.Annotations[v1.AnnotationRefName], v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: d, Size: int64(len(raw))}, "")
	ne.Annotations[AnnotationComposed] = "true"
	return ne, nil
}
