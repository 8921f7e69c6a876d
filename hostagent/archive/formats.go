package archive

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/iox"
	"github.com/berth-registry/berth/internal/oci"
)

const (
	preservedAll       = "manifest, config and layers"
	preservedConverted = "config and layers; the Docker manifest is stored as OCI, its bytes kept beside (push sends them)"
	preservedOriginal  = "manifest, config and layers, and the registry's Docker manifest beside (push sends it)"
	preservedDocker    = "config and layers; a docker-archive holds no manifest, so a new OCI manifest was made"
)

// oci plans the load of an OCI image layout: each descriptor of index.json
// with everything it references.
func (p *loadPlan) oci() error {
	raw, err := p.readSmall("index.json", "")
	if err != nil {
		return err
	}
	var idx v1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("index.json: %v: %w", err, errdefs.ErrInvalid)
	}
	var want *v1.Platform
	if p.opts.Platform != "" {
		pl, err := store.ParsePlatform(p.opts.Platform)
		if err != nil {
			return err
		}
		want = &pl
	}
	for _, d := range idx.Manifests {
		names, bare, err := annotatedNames(d.Annotations)
		if err != nil {
			return err
		}
		it := loadItem{names: names, bare: bare}
		if it.desc, it.info, err = p.node(d, want); err != nil {
			return fmt.Errorf("%s: %w", d.Digest, err)
		}
		if it.desc.Digest != d.Digest && it.info.ArchiveDigest != "" {
			it.source = it.info.ArchiveDigest
		}
		if src := it.info.SourceDigest; src != "" {
			// The registry's bytes of the manifest go in the store
			// beside the OCI form, as Pull keeps them.
			it.source, p.meta[src] = src, p.originals[src]
		}
		p.items = append(p.items, it)
	}
	return nil
}

// annotatedNames reads an index.json descriptor's names: containerd's
// full reference, else the OCI ref.name, which may be a full reference or
// a bare tag.
func annotatedNames(ann map[string]string) (names, bare []string, err error) {
	n := ann[store.AnnotationImageName]
	if n == "" {
		n = ann[v1.AnnotationRefName]
		if n != "" && !strings.ContainsAny(n, "/:@") {
			return nil, []string{n}, nil
		}
	}
	if n == "" {
		return nil, nil, nil
	}
	full, err := fullName(n)
	if err != nil {
		return nil, nil, fmt.Errorf("index.json names %q: %w", n, err)
	}
	return []string{full}, nil, nil
}

// node plans one descriptor of a layout (an image manifest or an index)
// and returns the descriptor the store will have for it.
func (p *loadPlan) node(d v1.Descriptor, want *v1.Platform) (v1.Descriptor, LoadedImage, error) {
	if err := oci.CheckDigest(d.Digest); err != nil {
		return v1.Descriptor{}, LoadedImage{}, fmt.Errorf("%w: %w", err, errdefs.ErrInvalid)
	}
	raw, err := p.readSmall(layoutBlobPath(d.Digest), d.Digest)
	if err != nil {
		return v1.Descriptor{}, LoadedImage{}, err
	}
	mt := d.MediaType
	if mt == "" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		_ = json.Unmarshal(raw, &probe)
		mt = probe.MediaType
	}
	if oci.IsIndex(mt) {
		return p.index(d, mt, raw, want)
	}
	if !oci.IsImageManifest(mt) {
		return v1.Descriptor{}, LoadedImage{}, fmt.Errorf("media type %q is not an image: %w", mt, errdefs.ErrInvalid)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, LoadedImage{}, fmt.Errorf("manifest: %v: %w", err, errdefs.ErrInvalid)
	}
	info := LoadedImage{Config: m.Config.Digest, Preserved: preservedAll}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := p.needBlob(b, layoutBlobPath(b.Digest)); err != nil {
			return v1.Descriptor{}, LoadedImage{}, err
		}
	}
	for _, l := range m.Layers {
		info.Layers = append(info.Layers, l.Digest)
	}
	newType, newRaw, err := store.ToOCI(mt, raw)
	if err != nil {
		return v1.Descriptor{}, LoadedImage{}, err
	}
	out := v1.Descriptor{MediaType: newType, Digest: digest.FromBytes(newRaw), Size: int64(len(newRaw)), Platform: d.Platform}
	p.meta[out.Digest] = newRaw
	info.Digest, info.MediaType = out.Digest, out.MediaType
	if out.Digest != d.Digest {
		info.ArchiveDigest, info.Preserved, info.SourceDigest = d.Digest, preservedConverted, d.Digest
		p.originals[d.Digest] = raw
	} else if src, orig, ok := p.original(d); ok {
		info.Preserved, info.SourceDigest = preservedOriginal, src
		p.originals[src] = orig
	}
	return out, info, nil
}

// original reads the registry's bytes of the OCI manifest d that a saved
// archive carries beside it (d names them as the store does), if they are
// there and their OCI form is d; else ok is false and the load goes on
// without them.
func (p *loadPlan) original(d v1.Descriptor) (src digest.Digest, raw []byte, ok bool) {
	src = digest.Digest(d.Annotations[store.AnnotationSourceDigest])
	if src.Validate() != nil || src == d.Digest || !p.src.exists(layoutBlobPath(src)) {
		return "", nil, false
	}
	raw, err := p.readSmall(layoutBlobPath(src), src)
	if err != nil {
		return "", nil, false
	}
	if _, ok := store.OriginalOf(d.Digest, raw); !ok {
		return "", nil, false
	}
	return src, raw, true
}

// index plans a multi-platform index: whole when every manifest it lists
// is in the archive and no platform is asked for; else the one manifest
// for the platform.
func (p *loadPlan) index(d v1.Descriptor, mt string, raw []byte, want *v1.Platform) (v1.Descriptor, LoadedImage, error) {
	var idx v1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return v1.Descriptor{}, LoadedImage{}, fmt.Errorf("index: %v: %w", err, errdefs.ErrInvalid)
	}
	complete := true
	for _, c := range idx.Manifests {
		if oci.CheckDigest(c.Digest) != nil || !p.src.exists(layoutBlobPath(c.Digest)) {
			complete = false
		}
	}
	if want != nil || !complete {
		pl := oci.HostPlatform()
		if want != nil {
			pl = *want
		}
		var present v1.Index
		for _, c := range idx.Manifests {
			if oci.CheckDigest(c.Digest) == nil && p.src.exists(layoutBlobPath(c.Digest)) {
				present.Manifests = append(present.Manifests, c)
			}
		}
		child, err := oci.ChoosePlatform(present, pl)
		if err != nil {
			return v1.Descriptor{}, LoadedImage{}, err
		}
		return p.node(child, nil)
	}
	changed := mt != v1.MediaTypeImageIndex
	for i, c := range idx.Manifests {
		var nd v1.Descriptor
		var err error
		if oci.IsImageManifest(c.MediaType) || oci.IsIndex(c.MediaType) {
			nd, _, err = p.node(c, nil)
		} else {
			nd, err = c, p.needBlob(c, layoutBlobPath(c.Digest)) // e.g. an attestation
		}
		if err != nil {
			return v1.Descriptor{}, LoadedImage{}, err
		}
		if nd.Digest != c.Digest {
			idx.Manifests[i].MediaType, idx.Manifests[i].Digest, idx.Manifests[i].Size = nd.MediaType, nd.Digest, nd.Size
			changed = true
		}
	}
	out := v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: d.Digest, Size: int64(len(raw))}
	info := LoadedImage{Preserved: "index, manifests, configs and layers"}
	if changed {
		idx.MediaType = v1.MediaTypeImageIndex
		idx.Versioned = specs.Versioned{SchemaVersion: 2}
		var err error
		if raw, err = json.Marshal(idx); err != nil {
			return v1.Descriptor{}, LoadedImage{}, err
		}
		out.Digest, out.Size = digest.FromBytes(raw), int64(len(raw))
		info.ArchiveDigest, info.Preserved = d.Digest, "configs and layers; Docker manifests and list stored as OCI"
	}
	p.meta[out.Digest] = raw
	info.Digest, info.MediaType = out.Digest, out.MediaType
	return out, info, nil
}

// docker plans the load of a docker-archive: per entry of manifest.json,
// its config and layers, and a new OCI manifest over them.
func (p *loadPlan) docker() error {
	raw, err := p.readSmall(dockerManifestFile, "")
	if err != nil {
		return err
	}
	var entries []DockerArchiveEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return fmt.Errorf("%s: %v: %w", dockerManifestFile, err, errdefs.ErrInvalid)
	}
	for _, e := range entries {
		it, err := p.dockerImage(e)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Config, err)
		}
		p.items = append(p.items, it)
	}
	return nil
}

func (p *loadPlan) dockerImage(e DockerArchiveEntry) (loadItem, error) {
	var it loadItem
	cfgName, err := layer.CleanEntryName(e.Config)
	if err != nil {
		return it, err
	}
	cfgRaw, err := p.readSmall(cfgName, "")
	if err != nil {
		return it, err
	}
	var cfg v1.Image
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		return it, fmt.Errorf("config: %v: %w", err, errdefs.ErrInvalid)
	}
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return it, fmt.Errorf("config lists %d layers, manifest.json %d: %w", len(cfg.RootFS.DiffIDs), len(e.Layers), errdefs.ErrCorrupt)
	}
	cfgDesc := v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfgRaw), Size: int64(len(cfgRaw))}
	p.meta[cfgDesc.Digest] = cfgRaw
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: cfgDesc, Layers: []v1.Descriptor{}}
	info := LoadedImage{Config: cfgDesc.Digest, Preserved: preservedDocker}
	for i, name := range e.Layers {
		l, err := p.dockerLayer(name, cfg.RootFS.DiffIDs[i])
		if err != nil {
			return it, err
		}
		m.Layers = append(m.Layers, l)
		info.Layers = append(info.Layers, l.Digest)
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return it, err
	}
	it.desc = v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(mraw), Size: int64(len(mraw))}
	if cfg.OS != "" {
		it.desc.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	}
	p.meta[it.desc.Digest] = mraw
	info.Digest, info.MediaType = it.desc.Digest, it.desc.MediaType
	it.info = info
	for _, t := range e.RepoTags {
		n, err := fullName(t)
		if err != nil {
			return it, fmt.Errorf("RepoTags: %w", err)
		}
		it.names = append(it.names, n)
	}
	return it, nil
}

// dockerLayer reads one layer file of a docker-archive: its digest, size
// and compression (docker save writes plain tars, crane gzip), and checks
// that its uncompressed content is the diff ID the config records.
func (p *loadPlan) dockerLayer(name string, diffID digest.Digest) (v1.Descriptor, error) {
	clean, err := layer.CleanEntryName(name)
	if err != nil {
		return v1.Descriptor{}, err
	}
	rc, err := p.src.open(clean)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layer %s: %v: %w", name, err, errdefs.ErrCorrupt)
	}
	defer rc.Close()
	blob := digest.SHA256.Digester()
	counter := &iox.CountWriter{W: blob.Hash()}
	zr, comp, err := Decompress(io.TeeReader(rc, counter))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layer %s: %v: %w", name, err, errdefs.ErrCorrupt)
	}
	diff := digest.SHA256.Digester()
	_, err = io.Copy(diff.Hash(), zr)
	zr.Close()
	if err == nil {
		_, err = io.Copy(counter, rc)
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layer %s: %v: %w", name, err, errdefs.ErrCorrupt)
	}
	if diff.Digest() != diffID {
		return v1.Descriptor{}, fmt.Errorf("layer %s: uncompressed it hashes to %s, the config says %s: %w", name, diff.Digest(), diffID, errdefs.ErrCorrupt)
	}
	l := v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: blob.Digest(), Size: counter.N}
	switch comp {
	case CompressionGzip:
		l.MediaType = v1.MediaTypeImageLayerGzip
	case CompressionZstd:
		l.MediaType = v1.MediaTypeImageLayerZstd
	}
	if err := p.needBlob(l, path.Clean(clean)); err != nil {
		return v1.Descriptor{}, err
	}
	return l, nil
}
