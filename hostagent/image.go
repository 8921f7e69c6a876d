package hostagent

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

// Image is one name in the store: a row of `hostagent list`.
type Image struct {
	Reference string        `json:"reference"` // the full reference, e.g. registry/repo:tag
	Name      string        `json:"name"`      // registry/repository
	Tag       string        `json:"tag,omitempty"`
	Digest    digest.Digest `json:"digest"` // of the manifest
	MediaType string        `json:"mediaType"`
	// Size is what the image takes in the store: manifest, config and
	// layers as stored (compressed or not: Compression), shared blobs
	// counted in each image.
	Size int64 `json:"size"`
	// Compression of the layers as stored: gzip, zstd, none, or mixed.
	Compression string     `json:"compression,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	Publisher   string     `json:"publisher,omitempty"` // org.opencontainers.image.vendor
	Version     string     `json:"version,omitempty"`   // org.opencontainers.image.version
	// OSImage is true for an image with no base: no
	// org.opencontainers.image.base.digest, and no other image of the
	// store whose layers start its own.
	OSImage    bool          `json:"osImage"`
	BaseDigest digest.Digest `json:"baseDigest,omitempty"`
	BaseName   string        `json:"baseName,omitempty"`
	// BaseInferred: no base annotation; BaseDigest is the image of the
	// store with the most layers that start this one's.
	BaseInferred bool `json:"baseInferred,omitempty"`
	// Platform is the config's os/arch[/variant]; for an index, its
	// Platforms joined by ",".
	Platform string `json:"platform,omitempty"`
	// Platforms, for an index, are its images' platforms in its order
	// (os/arch[/variant][:osversion]; attestations left out).
	Platforms []string `json:"platforms,omitempty"`
	// OS, Architecture, Variant and OSVersion are the config's os,
	// architecture, variant and os.version.
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"osVersion,omitempty"`
	// SourceDigest is the registry's digest of the manifest, when the
	// store keeps a converted one.
	SourceDigest digest.Digest `json:"sourceDigest,omitempty"`
	// Absent are its foreign layers that are not in the store.
	Absent []AbsentLayer `json:"absentLayers,omitempty"`

	manifest *v1.Manifest // nil for an index
	config   *v1.Image
}

// meta returns an image property from the manifest's annotations, else from
// the config's labels (what `docker build --label` sets).
func meta(m *v1.Manifest, cfg *v1.Image, key string) string {
	if m != nil {
		if v := m.Annotations[key]; v != "" {
			return v
		}
	}
	if cfg != nil {
		if v := cfg.Config.Labels[key]; v != "" {
			return v
		}
	}
	return ""
}

// loadImage reads what list shows of the index entry e.
func (s *imageStore) loadImage(e v1.Descriptor) (Image, error) {
	img := Image{Reference: store.EntryName(e), Digest: e.Digest, MediaType: e.MediaType, Size: e.Size,
		SourceDigest: digest.Digest(e.Annotations[store.AnnotationSourceDigest])}
	// A bare tag (a layout another tool wrote) names no repository.
	bare := e.Annotations[store.AnnotationImageName] == "" && !strings.ContainsAny(img.Reference, "/:@")
	if r, err := client.ParseReference(img.Reference); err == nil && !bare {
		img.Name, img.Tag = r.Name(), r.Tag
	} else {
		img.Tag = e.Annotations[v1.AnnotationRefName]
	}
	raw, err := s.ReadBlob(e.Digest)
	if err != nil {
		return img, fmt.Errorf("image %s: manifest: %w", img.Reference, err)
	}
	if oci.IsIndex(e.MediaType) {
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return img, fmt.Errorf("image %s: index %s: %w", img.Reference, e.Digest, err)
		}
		img.Publisher = idx.Annotations[v1.AnnotationVendor]
		img.Version = idx.Annotations[v1.AnnotationVersion]
		img.OSImage = idx.Annotations[v1.AnnotationBaseImageDigest] == ""
		img.Platforms = oci.IndexPlatforms(idx)
		img.Platform = strings.Join(img.Platforms, ",")
		if e.Annotations[store.AnnotationComposed] == "true" && len(idx.Manifests) > 0 {
			// Several platforms installed under one name: what the
			// first says of publisher, version and base.
			if c, err := s.loadImage(idx.Manifests[0]); err == nil {
				img.Publisher, img.Version, img.Created = c.Publisher, c.Version, c.Created
				img.OSImage, img.BaseDigest, img.BaseName = c.OSImage, c.BaseDigest, c.BaseName
			}
		}
		return img, nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return img, fmt.Errorf("image %s: manifest %s: %w", img.Reference, e.Digest, err)
	}
	img.manifest = &m
	img.Size += m.Config.Size
	for _, l := range m.Layers {
		img.Size += l.Size
	}
	img.Compression = layerCompression(m.Layers)
	img.Absent = s.absentLayers(m.Layers)
	if cb, err := s.ReadBlob(m.Config.Digest); err == nil {
		var cfg v1.Image
		if json.Unmarshal(cb, &cfg) == nil {
			img.config = &cfg
			img.Created = cfg.Created
			img.Platform = oci.FormatPlatform(cfg.Platform)
			img.OS, img.Architecture, img.Variant, img.OSVersion = cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion
		}
	} else {
		return img, fmt.Errorf("image %s: config: %w", img.Reference, err)
	}
	if c := m.Annotations[v1.AnnotationCreated]; c != "" {
		if t, err := time.Parse(time.RFC3339, c); err == nil {
			img.Created = &t
		}
	}
	img.Publisher = meta(&m, img.config, v1.AnnotationVendor)
	img.Version = meta(&m, img.config, v1.AnnotationVersion)
	img.BaseDigest = digest.Digest(meta(&m, img.config, v1.AnnotationBaseImageDigest))
	img.BaseName = meta(&m, img.config, v1.AnnotationBaseImageName)
	img.OSImage = img.BaseDigest == ""
	return img, nil
}

// Filter selects images for List. Zero fields select everything.
type Filter struct {
	// Name is a glob (path.Match) tried on the name (registry/repository),
	// on the repository alone, on the familiar name and on the reference;
	// a glob without "/" also on the name's last component.
	Name      string
	Publisher string // exact, case-insensitive
	Version   string // exact
	OSImage   *bool  // only OS images (true) or only derived ones (false)
}

// ParseFilter reads docker-style filters: name=GLOB (also reference=),
// publisher=P, version=V, os-image=true|false.
func ParseFilter(exprs []string) (Filter, error) {
	var f Filter
	for _, x := range exprs {
		k, v, ok := strings.Cut(x, "=")
		if !ok {
			return f, fmt.Errorf("filter %q: want key=value: %w", x, ErrInvalid)
		}
		switch k {
		case "name", "reference":
			if _, err := path.Match(v, ""); err != nil {
				return f, fmt.Errorf("filter %q: %v: %w", x, err, ErrInvalid)
			}
			f.Name = v
		case "publisher", "vendor":
			f.Publisher = v
		case "version":
			f.Version = v
		case "os-image", "os":
			b := v == "true" || v == "yes" || v == "1"
			if !b && v != "false" && v != "no" && v != "0" {
				return f, fmt.Errorf("filter %q: want true or false: %w", x, ErrInvalid)
			}
			f.OSImage = &b
		default:
			return f, fmt.Errorf("filter %q: unknown key %q (name, publisher, version, os-image): %w", x, k, ErrInvalid)
		}
	}
	return f, nil
}

func (f Filter) match(img Image) bool {
	if f.Name != "" && !matchName(f.Name, img.Name, img.Reference) {
		return false
	}
	if f.Publisher != "" && !strings.EqualFold(f.Publisher, img.Publisher) {
		return false
	}
	if f.Version != "" && f.Version != img.Version {
		return false
	}
	return f.OSImage == nil || *f.OSImage == img.OSImage
}

// matchName tries glob on the forms a user may write a name in.
func matchName(glob, name, ref string) bool {
	cands := []string{name, ref}
	if r, err := client.ParseReference(ref); err == nil {
		cands = append(cands, r.Repository, r.Familiar(), strings.TrimSuffix(r.Familiar(), ":"+r.Tag))
	}
	for _, c := range cands {
		if ok, _ := path.Match(glob, c); ok {
			return true
		}
	}
	return name != "" && matchRepo(glob, name)
}

// List returns the images of the store that f selects, sorted by name and
// tag. An image whose manifest or config cannot be read is listed with what
// is known and reported by Verify.
func (a *Agent) List(ctx context.Context, f Filter) ([]Image, error) {
	idx, err := a.store.ReadIndex()
	if err != nil {
		return nil, err
	}
	var all, out []Image
	for _, e := range idx.Manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, _ := a.store.loadImage(e)
		all = append(all, img)
	}
	inferBases(all)
	for _, img := range all {
		if f.match(img) {
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(x, y Image) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.Tag, y.Tag)
	})
	return out, nil
}

// inferBases gives each image without a base annotation the image of imgs
// with the most layers that start its own, if any (an image built FROM an
// installed base by a tool that does not annotate): such an image is not
// an OS image.
func inferBases(imgs []Image) {
	for i := range imgs {
		img := &imgs[i]
		if img.BaseDigest != "" || img.manifest == nil {
			continue
		}
		best := -1
		for j, o := range imgs {
			if o.manifest == nil || o.Digest == img.Digest || !layersPrefix(o.manifest.Layers, img.manifest.Layers) {
				continue
			}
			if best < 0 || len(o.manifest.Layers) > len(imgs[best].manifest.Layers) {
				best = j
			}
		}
		if best >= 0 {
			img.BaseDigest, img.BaseName, img.BaseInferred = imgs[best].Digest, imgs[best].Reference, true
			img.OSImage = false
		}
	}
}

// layerCompression names how layers are stored: gzip, zstd, none, or
// mixed.
func layerCompression(layers []v1.Descriptor) string {
	kind := ""
	for _, l := range layers {
		k := "none"
		switch {
		case strings.HasSuffix(l.MediaType, "gzip"):
			k = "gzip"
		case strings.HasSuffix(l.MediaType, "zstd"):
			k = "zstd"
		}
		if kind != "" && kind != k {
			return "mixed"
		}
		kind = k
	}
	return kind
}
