package hostagent

import (
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

// Annotations on the descriptors of index.json. The tag goes in the OCI
// ref.name, which is what `skopeo inspect oci:<store>:<tag>` and umoci look
// for; the whole reference goes where containerd keeps it.
const (
	annotationImageName = "io.containerd.image.name"
	// annotationSourceDigest is the digest the registry serves the
	// manifest under, when the store keeps a converted one (see
	// convert.go).
	annotationSourceDigest = "io.berth.hostagent.source.digest"
)

// entryName is the full reference an index entry stands for: its
// containerd name, else (a layout written by another tool) its ref.name.
func entryName(d v1.Descriptor) string {
	if n := d.Annotations[annotationImageName]; n != "" {
		return n
	}
	return d.Annotations[v1.AnnotationRefName]
}

// isDigestOf reports whether d names the manifest of entry e: its digest
// in the store, or the registry's digest of it.
func isDigestOf(d digest.Digest, e v1.Descriptor) bool {
	return d != "" && (e.Digest == d || e.Annotations[annotationSourceDigest] == d.String())
}

// newEntry is the index descriptor naming the manifest desc as ref.
func newEntry(ref client.Reference, desc v1.Descriptor, sourceDigest digest.Digest) v1.Descriptor {
	e := v1.Descriptor{
		MediaType: desc.MediaType,
		Digest:    desc.Digest,
		Size:      desc.Size,
		Platform:  desc.Platform,
		Annotations: map[string]string{
			annotationImageName: ref.String(),
		},
	}
	if ref.Tag != "" {
		e.Annotations[v1.AnnotationRefName] = ref.Tag
	}
	if sourceDigest != "" && sourceDigest != desc.Digest {
		e.Annotations[annotationSourceDigest] = sourceDigest.String()
	}
	return e
}

// setEntry makes e the only entry named like e.
func setEntry(idx *v1.Index, e v1.Descriptor) {
	name := entryName(e)
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return entryName(d) == name })
	idx.Manifests = append(idx.Manifests, e)
}

// localRef is how a user names an image of the store: a reference (short
// or full, with tag and/or digest), a digest, or a unique prefix of a
// digest's hex of at least 4 characters, as docker accepts image IDs.
type localRef struct {
	raw    string
	ref    client.Reference // set when raw parsed as a reference
	parsed bool
}

func parseLocalRef(s string) localRef {
	lr := localRef{raw: s}
	if r, err := client.ParseReference(s); err == nil {
		lr.ref, lr.parsed = r, true
	}
	return lr
}

// match returns the indexes of the entries that lr names.
func (lr localRef) match(idx *v1.Index) ([]int, error) {
	var hits []int
	add := func(pred func(d v1.Descriptor) bool) {
		for i, d := range idx.Manifests {
			if pred(d) {
				hits = append(hits, i)
			}
		}
	}
	if d, err := digest.Parse(lr.raw); err == nil {
		add(func(e v1.Descriptor) bool { return isDigestOf(d, e) })
		return hits, nil
	}
	if lr.parsed {
		full := lr.ref.String()
		add(func(e v1.Descriptor) bool { return entryName(e) == full })
		if len(hits) == 0 && lr.ref.Digest != "" {
			// name@digest: any entry of that name with that content.
			add(func(e v1.Descriptor) bool {
				r, err := client.ParseReference(entryName(e))
				return err == nil && r.Name() == lr.ref.Name() && isDigestOf(lr.ref.Digest, e)
			})
		}
		if len(hits) > 0 {
			return hits, nil
		}
	}
	// A bare tag as other tools write it.
	add(func(e v1.Descriptor) bool {
		return e.Annotations[annotationImageName] == "" && e.Annotations[v1.AnnotationRefName] == lr.raw
	})
	if len(hits) > 0 {
		return hits, nil
	}
	hex := strings.TrimPrefix(lr.raw, "sha256:")
	if len(hex) >= 4 && len(hex) < 64 && oci.IsHex(hex) {
		seen := map[digest.Digest]bool{}
		add(func(e v1.Descriptor) bool { return strings.HasPrefix(e.Digest.Encoded(), hex) })
		for _, i := range hits {
			seen[idx.Manifests[i].Digest] = true
		}
		if len(seen) > 1 {
			return nil, fmt.Errorf("%q: %w: matches %d images", lr.raw, ErrAmbiguous, len(seen))
		}
	}
	return hits, nil
}

// resolve returns the one manifest lr names (every entry it matches must
// point at the same manifest) and those entries' indexes.
func (lr localRef) resolve(idx *v1.Index) (v1.Descriptor, []int, error) {
	hits, err := lr.match(idx)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	if len(hits) == 0 {
		return v1.Descriptor{}, nil, fmt.Errorf("image %q: %w in the store", lr.raw, ErrNotFound)
	}
	first := idx.Manifests[hits[0]]
	for _, i := range hits[1:] {
		if idx.Manifests[i].Digest != first.Digest {
			return v1.Descriptor{}, nil, fmt.Errorf("%q: %w", lr.raw, ErrAmbiguous)
		}
	}
	return first, hits, nil
}
