package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// FindOptions say what Find looks for.
type FindOptions struct {
	Registry string // host[:port] of the registry to search
	// Name is a glob (path.Match) on repository names, or on their last
	// component when it has no "/"; "" matches all.
	Name string
	// MinVersion and MaxVersion bound versions, inclusive ("" = open).
	MinVersion, MaxVersion string
	// AllVersions lists every tag; otherwise only the highest version of
	// each repository.
	AllVersions bool
	// Platform, when set, keeps only the images that offer it, each
	// described by the child an install --platform would take (an index)
	// or by itself (an image of that platform); nil describes an index by
	// this host's child.
	Platform *v1.Platform
}

// Found is an image a registry offers.
type Found struct {
	Name      string        `json:"name"` // registry/repository
	Tag       string        `json:"tag"`
	Reference string        `json:"reference"`
	Version   string        `json:"version,omitempty"` // the version label, else the tag when it reads as one
	Publisher string        `json:"publisher,omitempty"`
	OSImage   bool          `json:"osImage"`
	Digest    digest.Digest `json:"digest"`
	// Size is the manifest, config and layers as the registry serves
	// them (Compression tells how the layers are compressed).
	Size        int64      `json:"size,omitempty"`
	Compression string     `json:"compression,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	// OS, Architecture, Variant and OSVersion are the config's.
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"osVersion,omitempty"`
	// Platforms, for an index, are its images' platforms in its order
	// (os/arch[/variant][:osversion]; attestations left out).
	Platforms []string `json:"platforms,omitempty"`
	// BaseDigest is the base annotation, else (BaseInferred) the image
	// found alongside whose layers start this one's.
	BaseDigest   digest.Digest `json:"baseDigest,omitempty"`
	BaseInferred bool          `json:"baseInferred,omitempty"`

	layers []v1.Descriptor
}

// Find lists what a registry offers: repositories from its catalog whose
// name matches, their tags, and for each the version, publisher and whether
// it is an OS image, read from the manifest's annotations and the config's
// labels. Errors: the registry client's classes (a registry without a
// catalog answers client.ErrNotFound or ErrUnsupported), ErrInvalid.
func (a *Agent) Find(ctx context.Context, opts FindOptions) ([]Found, error) {
	if opts.Registry == "" {
		return nil, fmt.Errorf("find: no registry given: %w", ErrInvalid)
	}
	if opts.Name != "" {
		if _, err := path.Match(opts.Name, ""); err != nil {
			return nil, fmt.Errorf("find: name %q: %v: %w", opts.Name, err, ErrInvalid)
		}
	}
	repos, err := a.client().Catalog(ctx, opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("find in %s: catalog: %w", opts.Registry, err)
	}
	type tagRef struct{ ref client.Reference }
	var refs []tagRef
	for _, repo := range repos {
		if opts.Name != "" && !matchRepo(opts.Name, repo) {
			continue
		}
		r := client.Reference{Registry: opts.Registry, Repository: repo}
		tags, err := a.client().Tags(ctx, r)
		if errors.Is(err, client.ErrNotFound) {
			continue // deleted since the catalog was read
		}
		if err != nil {
			return nil, fmt.Errorf("find: tags of %s: %w", r.Name(), err)
		}
		for _, t := range tags {
			refs = append(refs, tagRef{r.WithTag(t)})
		}
	}
	var mu sync.Mutex
	var out []Found
	err = parallel.Each(ctx, a.jobs, refs, func(ctx context.Context, tr tagRef) error {
		f, err := a.describeRemote(ctx, tr.ref, opts.Platform)
		if errors.Is(err, client.ErrNotFound) || errors.Is(err, oci.ErrNoPlatform) {
			return nil
		}
		if err != nil {
			return err
		}
		if !inRange(f.Version, opts.MinVersion, opts.MaxVersion) {
			return nil
		}
		mu.Lock()
		out = append(out, f)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find in %s: %w", opts.Registry, err)
	}
	slices.SortFunc(out, func(x, y Found) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		if c := oci.CompareNewest(y.Version, x.Version); c != 0 {
			return c // newest first; tags that are no version last
		}
		return strings.Compare(x.Tag, y.Tag)
	})
	inferFoundBases(out)
	if !opts.AllVersions {
		out = slices.CompactFunc(out, func(x, y Found) bool { return x.Name == y.Name })
	}
	return out, nil
}

// describeRemote reads what Find shows of one tag: from the index's
// annotations, or the manifest's and its config's. With want, an index is
// described by the child ChoosePlatform picks for it, and a tag that does
// not offer want is oci.ErrNoPlatform.
func (a *Agent) describeRemote(ctx context.Context, r client.Reference, want *v1.Platform) (Found, error) {
	f := Found{Name: r.Name(), Tag: r.Tag, Reference: r.String()}
	m, err := a.client().ManifestGet(ctx, r)
	if err != nil {
		return f, fmt.Errorf("%s: %w", r, err)
	}
	f.Digest = m.Descriptor.Digest
	if oci.IsIndex(m.Descriptor.MediaType) {
		var idx v1.Index
		if err := json.Unmarshal(m.Payload, &idx); err != nil {
			return f, fmt.Errorf("%s: index: %v: %w", r, err, ErrInvalid)
		}
		f.Publisher = idx.Annotations[v1.AnnotationVendor]
		f.Version = idx.Annotations[v1.AnnotationVersion]
		f.Platforms = oci.IndexPlatforms(idx)
		base := idx.Annotations[v1.AnnotationBaseImageDigest]
		choose := HostPlatform()
		if want != nil {
			choose = *want
		}
		child, err := oci.ChoosePlatform(idx, choose)
		if err != nil && want != nil {
			return f, fmt.Errorf("%s: %w", r, err)
		}
		if err == nil && (want != nil || f.Publisher == "" || f.Version == "") {
			if m, err = a.client().ManifestGet(ctx, r.WithDigest(child.Digest)); err != nil {
				return f, fmt.Errorf("%s: %w", r, err)
			}
		} else {
			f.OSImage = base == ""
			f.Version = versionOrTag(f.Version, r.Tag)
			return f, nil
		}
	}
	if !oci.IsImageManifest(m.Descriptor.MediaType) {
		return f, fmt.Errorf("%s: not an image: %w", r, client.ErrNotFound)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Payload, &man); err != nil {
		return f, fmt.Errorf("%s: manifest: %v: %w", r, err, ErrInvalid)
	}
	var cfg *v1.Image
	if man.Config.Size <= store.MaxMetadataSize {
		if rc, _, err := a.client().BlobGet(ctx, r, man.Config.Digest, 0); err == nil {
			b, err := io.ReadAll(client.VerifyReader(io.LimitReader(rc, store.MaxMetadataSize), man.Config.Digest, man.Config.Size))
			rc.Close()
			var c v1.Image
			if err == nil && json.Unmarshal(b, &c) == nil {
				cfg = &c
			}
		}
	}
	if f.Publisher == "" {
		f.Publisher = meta(&man, cfg, v1.AnnotationVendor)
	}
	if f.Version == "" {
		f.Version = meta(&man, cfg, v1.AnnotationVersion)
	}
	f.Version = versionOrTag(f.Version, r.Tag)
	f.BaseDigest = digest.Digest(meta(&man, cfg, v1.AnnotationBaseImageDigest))
	f.OSImage = f.BaseDigest == ""
	f.Size = m.Descriptor.Size + man.Config.Size
	for _, l := range man.Layers {
		f.Size += l.Size
	}
	f.Compression, f.layers = layerCompression(man.Layers), man.Layers
	if cfg != nil {
		f.Created = cfg.Created
		f.OS, f.Architecture, f.Variant, f.OSVersion = cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion
	}
	if want != nil && f.Platforms == nil {
		have := v1.Platform{OS: f.OS, Architecture: f.Architecture, Variant: f.Variant, OSVersion: f.OSVersion}
		if cfg == nil || !oci.MatchPlatform(*want, have) {
			return f, fmt.Errorf("%s is %s, not %s: %w", r, oci.FormatPlatformVersion(have), oci.FormatPlatformVersion(*want), oci.ErrNoPlatform)
		}
	}
	return f, nil
}

// inferFoundBases is inferBases among what one find saw: an image whose
// layers another found image's start is not an OS image.
func inferFoundBases(found []Found) {
	for i := range found {
		f := &found[i]
		if f.BaseDigest != "" || len(f.layers) == 0 {
			continue
		}
		best := -1
		for j, o := range found {
			if o.Digest != f.Digest && layersPrefix(o.layers, f.layers) && (best < 0 || len(o.layers) > len(found[best].layers)) {
				best = j
			}
		}
		if best >= 0 {
			f.BaseDigest, f.BaseInferred, f.OSImage = found[best].Digest, true, false
		}
	}
}

// matchRepo matches a glob against a repository name; a glob without "/"
// may also match the last component alone ("debian" finds os/debian, "*"
// finds everything).
func matchRepo(glob, repo string) bool {
	if ok, _ := path.Match(glob, repo); ok {
		return true
	}
	ok, _ := path.Match(glob, path.Base(repo))
	return ok && !strings.Contains(glob, "/")
}

// versionOrTag is v, else the tag when it reads as a version (a digit,
// possibly after a "v").
func versionOrTag(v, tag string) string {
	if v != "" {
		return v
	}
	t := strings.TrimPrefix(tag, "v")
	if t != "" && t[0] >= '0' && t[0] <= '9' {
		return tag
	}
	return ""
}

func inRange(v, lo, hi string) bool {
	if lo == "" && hi == "" {
		return true
	}
	if v == "" {
		return false
	}
	return (lo == "" || oci.CompareVersions(v, lo) >= 0) && (hi == "" || oci.CompareVersions(v, hi) <= 0)
}
