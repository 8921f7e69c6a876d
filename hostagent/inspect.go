package hostagent

import (
	"context"
	"encoding/json"
	"slices"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
)

// Details is everything Inspect tells of an image.
type Details struct {
	Image
	Names []string `json:"names"` // every name of this manifest in the store
	// SourceDigest is the registry's digest of the manifest when the store
	// keeps a converted one (Docker media types rewritten as OCI).
	SourceDigest digest.Digest     `json:"sourceDigest,omitempty"`
	Manifest     json.RawMessage   `json:"manifest"`
	Config       json.RawMessage   `json:"config,omitempty"`
	Layers       []v1.Descriptor   `json:"layers,omitempty"`
	History      []v1.History      `json:"history,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"` // of the manifest
	Labels       map[string]string `json:"labels,omitempty"`      // of the config
	Base         *BaseImage        `json:"base,omitempty"`
	Containers   []string          `json:"containers,omitempty"` // made from this image
	Derived      []string          `json:"derived,omitempty"`    // images built on this one
}

// BaseImage is the image another was built on.
type BaseImage struct {
	Digest digest.Digest `json:"digest"`
	Name   string        `json:"name,omitempty"`
	// Local names the store's images with that digest.
	Local []string `json:"local,omitempty"`
	// Inferred: no base annotation, but a local image's layers start this
	// one's.
	Inferred bool `json:"inferred,omitempty"`
}

// Inspect describes the image ref: its manifest and config as stored, its
// layers and history, annotations and labels, its base image and what uses
// it. Errors: ErrNotFound, ErrAmbiguous, ErrCorrupt.
func (a *Agent) Inspect(ctx context.Context, ref string) (Details, error) {
	idx, err := a.store.ReadIndex()
	if err != nil {
		return Details{}, err
	}
	_, hits, err := parseLocalRef(ref).resolve(idx)
	if err != nil {
		return Details{}, err
	}
	e := idx.Manifests[hits[0]]
	img, err := a.store.loadImage(e)
	if err != nil {
		return Details{}, err
	}
	d := Details{Image: img, SourceDigest: digest.Digest(e.Annotations[store.AnnotationSourceDigest])}
	if d.Manifest, err = a.store.ReadBlob(e.Digest); err != nil {
		return Details{}, err
	}
	for _, o := range idx.Manifests {
		if o.Digest == e.Digest {
			d.Names = append(d.Names, store.EntryName(o))
		}
	}
	if m := img.manifest; m != nil {
		d.Layers, d.Annotations = m.Layers, m.Annotations
		if d.Config, err = a.store.ReadBlob(m.Config.Digest); err != nil {
			return Details{}, err
		}
	}
	if c := img.config; c != nil {
		d.History, d.Labels = c.History, c.Config.Labels
	}
	if img.BaseDigest != "" {
		d.Base = &BaseImage{Digest: img.BaseDigest, Name: img.BaseName}
	}
	var bestLen int
	for _, o := range idx.Manifests {
		if o.Digest == e.Digest {
			continue
		}
		oi, err := a.store.loadImage(o)
		if err != nil || oi.manifest == nil || img.manifest == nil {
			continue
		}
		name := store.EntryName(o)
		switch {
		case d.Base != nil && !d.Base.Inferred && store.IsDigestOf(d.Base.Digest, o):
			d.Base.Local = append(d.Base.Local, name)
		case d.Base == nil || d.Base.Inferred:
			if n := len(oi.manifest.Layers); n > bestLen && layersPrefix(oi.manifest.Layers, img.manifest.Layers) {
				bestLen = n
				d.Base = &BaseImage{Digest: o.Digest, Local: []string{name}, Inferred: true}
			} else if d.Base != nil && d.Base.Digest == o.Digest {
				d.Base.Local = append(d.Base.Local, name)
			}
		}
		if store.IsDigestOf(oi.BaseDigest, e) || layersPrefix(img.manifest.Layers, oi.manifest.Layers) {
			d.Derived = append(d.Derived, name)
		}
	}
	cs, err := a.store.containers()
	if err != nil {
		return Details{}, err
	}
	for _, c := range cs {
		if c.Image == e.Digest {
			d.Containers = append(d.Containers, c.Name)
		}
	}
	slices.Sort(d.Names)
	slices.Sort(d.Derived)
	return d, nil
}
