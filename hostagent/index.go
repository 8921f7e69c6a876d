package hostagent

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

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

// LocalName is the name an image made in the store gets from s (commit,
// tag, load --name), as podman names them: a name without a registry host
// goes under localhost/ ("demoimage:1.0" is localhost/demoimage:1.0, not
// Docker Hub's), and capitals, which names may not hold, become lower case
// (lowered says so). The tag keeps its case. Lookups of a name without a
// host try this form after the Docker Hub one.
func LocalName(s string) (name string, lowered bool) {
	name, rest := splitNameRest(s)
	if lower := strings.ToLower(name); lower != name {
		name, lowered = lower, true
	}
	if !hasHost(name) {
		name = "localhost/" + name
	}
	return name + rest, lowered
}

// splitNameRest splits "host/repo:tag@digest" into its name and the
// ":tag@digest" after it.
func splitNameRest(s string) (name, rest string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s, rest = s[:i], s[i:]
	}
	last := strings.LastIndexByte(s, '/')
	if i := strings.LastIndexByte(s, ':'); i > last {
		s, rest = s[:i], s[i:]+rest
	}
	return s, rest
}

// hasHost reports whether name starts with a registry host, by docker's
// rule: a first component with "." or ":", or localhost.
func hasHost(name string) bool {
	host, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(host, ".:") || strings.EqualFold(host, "localhost"))
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
		add(func(e v1.Descriptor) bool { return store.IsDigestOf(d, e) })
		return hits, nil
	}
	if lr.parsed {
		full := lr.ref.String()
		add(func(e v1.Descriptor) bool { return store.EntryName(e) == full })
		if len(hits) == 0 && lr.ref.Digest != "" {
			// name@digest: any entry of that name with that content.
			add(func(e v1.Descriptor) bool {
				r, err := client.ParseReference(store.EntryName(e))
				return err == nil && r.Name() == lr.ref.Name() && store.IsDigestOf(lr.ref.Digest, e)
			})
		}
		if len(hits) > 0 {
			return hits, nil
		}
	}
	// A name given without a host, or in capitals: as LocalName names it.
	local, _ := LocalName(lr.raw)
	if alt, err := client.ParseReference(local); err == nil {
		add(func(e v1.Descriptor) bool { return store.EntryName(e) == alt.String() })
		if len(hits) > 0 {
			return hits, nil
		}
	}
	// A bare tag as other tools write it.
	add(func(e v1.Descriptor) bool {
		return e.Annotations[store.AnnotationImageName] == "" && e.Annotations[v1.AnnotationRefName] == lr.raw
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

// newEntry is the index descriptor naming the manifest desc as ref.
func newEntry(ref client.Reference, desc v1.Descriptor, sourceDigest digest.Digest) v1.Descriptor {
	return store.NewEntry(ref.String(), ref.Tag, desc, sourceDigest)
}
