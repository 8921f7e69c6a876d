package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/iox"
	"github.com/berth-registry/berth/internal/oci"
)

// A saved archive is at once an OCI image layout and a docker-archive:
//
//	oci-layout          {"imageLayoutVersion":"1.0.0"}
//	index.json          one descriptor per name, annotated as in the store
//	                    (io.containerd.image.name, org.opencontainers.image.ref.name)
//	manifest.json       docker-archive: per image, Config and Layers as paths
//	                    into blobs/, and RepoTags
//	repositories        docker's legacy name → tag → top layer map
//	blobs/sha256/<hex>  every manifest, index, config and layer, once; and
//	                    the registry's Docker manifest of an image the store
//	                    keeps as OCI (index.json names the OCI form, its
//	                    io.berth.hostagent.source.digest annotation the other)
//
// Both halves share the blobs, so manifests, configs and layers keep their
// digests. Docker reads layers as they are stored (gzip or plain tar); a
// multi-platform index goes whole into the OCI half and, as the image for
// SaveOptions.Platform, into the docker half, which has no indexes.
const (
	dockerManifestFile = "manifest.json"
	repositoriesFile   = "repositories"
)

// DockerArchiveEntry is one image of a docker-archive's manifest.json.
type DockerArchiveEntry struct {
	Config       string                          `json:"Config"`
	RepoTags     []string                        `json:"RepoTags"`
	Layers       []string                        `json:"Layers"`
	LayerSources map[digest.Digest]v1.Descriptor `json:"LayerSources,omitempty"`
}

// SaveOptions tune Save.
type SaveOptions struct {
	Compression Compression // of the whole archive; "" is none
	// Platform picks what the docker-archive half holds of a
	// multi-platform image ("" is the host's).
	Platform string
}

// SavedImage is one name written to an archive.
type SavedImage struct {
	Reference string        `json:"reference,omitempty"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	// Docker is false when the docker-archive half lacks the image (an
	// index without a manifest for the platform).
	Docker bool `json:"docker"`
}

// SaveResult tells what Save wrote.
type SaveResult struct {
	Images      []SavedImage `json:"images"`
	Blobs       int          `json:"blobs"`
	Bytes       int64        `json:"bytes"` // of the archive, as written
	Compression Compression  `json:"compression"`
}

// blobPath is where a blob lives in an OCI layout.
func layoutBlobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// Save writes the images refs name (a name, a digest or a short ID, which
// takes every name of that manifest) to w as one archive (see above),
// compressed as opts say. Blobs are re-hashed as they are read: a corrupt
// one fails the save with errdefs.ErrCorrupt. Errors: errdefs.ErrNotFound, errdefs.ErrAmbiguous,
// errdefs.ErrCorrupt, errdefs.ErrInvalid.
func (a *Archiver) Save(ctx context.Context, w io.Writer, refs []string, resolve Resolver, opts SaveOptions) (SaveResult, error) {
	if len(refs) == 0 {
		return SaveResult{}, fmt.Errorf("save: no image named: %w", errdefs.ErrInvalid)
	}
	want, err := store.ParsePlatform(opts.Platform)
	if err != nil {
		return SaveResult{}, err
	}
	comp := opts.Compression
	if comp == "" {
		comp = CompressionNone
	}
	idx, err := a.store.ReadIndex()
	if err != nil {
		return SaveResult{}, err
	}
	var entries []v1.Descriptor
	for _, ref := range refs {
		hits, err := resolve(idx, ref)
		if err != nil {
			return SaveResult{}, err
		}
		for _, i := range hits {
			e := idx.Manifests[i]
			if !slices.ContainsFunc(entries, func(x v1.Descriptor) bool { return x.Digest == e.Digest && store.EntryName(x) == store.EntryName(e) }) {
				entries = append(entries, e)
			}
		}
	}
	plan := savePlan{s: a.store, seen: map[digest.Digest]bool{}}
	res := SaveResult{Compression: comp}
	for _, e := range entries {
		img, err := plan.add(e, want)
		if err != nil {
			return SaveResult{}, fmt.Errorf("save %s: %w", store.EntryName(e), err)
		}
		res.Images = append(res.Images, img)
	}
	l, err := a.store.NewLease(ctx, plan.digests())
	if err != nil {
		return SaveResult{}, err
	}
	defer l.Release()
	cw := &iox.CountWriter{W: w}
	zw, err := Compressor(cw, comp)
	if err != nil {
		return SaveResult{}, err
	}
	if err := plan.write(ctx, zw, entries); err != nil {
		return SaveResult{}, fmt.Errorf("save: %w", err)
	}
	if err := zw.Close(); err != nil {
		return SaveResult{}, fmt.Errorf("save: %w", err)
	}
	res.Blobs, res.Bytes = len(plan.blobs), cw.N
	return res, nil
}

// savePlan gathers what an archive holds before any of it is written.
type savePlan struct {
	s      *store.Store
	blobs  []v1.Descriptor // in the order written, each once
	seen   map[digest.Digest]bool
	docker []DockerArchiveEntry
	repos  map[string]map[string]string
}

func (p *savePlan) digests() []digest.Digest {
	out := make([]digest.Digest, len(p.blobs))
	for i, b := range p.blobs {
		out[i] = b.Digest
	}
	return out
}

func (p *savePlan) addBlob(d v1.Descriptor) {
	if !p.seen[d.Digest] {
		p.seen[d.Digest] = true
		p.blobs = append(p.blobs, d)
	}
}

// add puts the index entry e, and everything it references, in the plan.
func (p *savePlan) add(e v1.Descriptor, want v1.Platform) (SavedImage, error) {
	img := SavedImage{Reference: store.EntryName(e), Digest: e.Digest, MediaType: e.MediaType}
	var docker *store.LocalImage
	if oci.IsIndex(e.MediaType) {
		raw, err := p.s.ReadBlob(e.Digest)
		if err != nil {
			return img, err
		}
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return img, fmt.Errorf("index %s: %v: %w", e.Digest, err, errdefs.ErrCorrupt)
		}
		for _, child := range idx.Manifests {
			if !oci.IsImageManifest(child.MediaType) {
				if err := p.addRaw(child); err != nil {
					return img, err
				}
				continue
			}
			ci, err := p.s.ImageOf(child, "")
			if err != nil {
				return img, err
			}
			p.addImage(ci)
			if docker == nil && child.Platform != nil && oci.MatchPlatform(want, *child.Platform) {
				docker = &ci
			}
		}
		p.addBlob(v1.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: int64(len(raw))})
	} else {
		li, err := p.s.ImageOf(e, "")
		if err != nil {
			return img, err
		}
		p.addImage(li)
		docker = &li
		if raw, mt, ok := p.s.Original(e); ok {
			// The registry's bytes, which the entry's annotation names:
			// a load of the archive keeps them for push too.
			p.addBlob(v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))})
		}
	}
	if docker != nil {
		img.Docker = true
		p.addDocker(*docker, img.Reference)
	}
	return img, nil
}

// addRaw adds a blob the archive carries without understanding it (an
// artifact manifest in an index).
func (p *savePlan) addRaw(d v1.Descriptor) error {
	if !p.s.HasBlob(d.Digest, d.Size) {
		return fmt.Errorf("blob %s missing from the store: %w", d.Digest, errdefs.ErrCorrupt)
	}
	p.addBlob(d)
	return nil
}

// addImage adds the blobs of li but its absent foreign layers: the
// manifest names them with their URLs, as a registry's does.
func (p *savePlan) addImage(li store.LocalImage) {
	p.addBlob(li.Manifest.Config)
	for _, l := range li.Manifest.Layers {
		if !slices.ContainsFunc(li.Absent, func(a v1.Descriptor) bool { return a.Digest == l.Digest }) {
			p.addBlob(l)
		}
	}
	p.addBlob(v1.Descriptor{MediaType: li.Desc.MediaType, Digest: li.Desc.Digest, Size: li.Desc.Size})
}

func (p *savePlan) addDocker(li store.LocalImage, name string) {
	de := DockerArchiveEntry{Config: layoutBlobPath(li.Manifest.Config.Digest), Layers: []string{}}
	for i, l := range li.Manifest.Layers {
		de.Layers = append(de.Layers, layoutBlobPath(l.Digest))
		if store.IsForeign(l) && i < len(li.Config.RootFS.DiffIDs) {
			// As docker writes a foreign layer: its descriptor, by
			// diff ID, so that a loader can fetch it when absent.
			if de.LayerSources == nil {
				de.LayerSources = map[digest.Digest]v1.Descriptor{}
			}
			de.LayerSources[li.Config.RootFS.DiffIDs[i]] = l
		}
	}
	if r, err := oci.ParseReference(name); err == nil && r.Tag != "" {
		// Fully qualified: podman reads a short name as localhost/...,
		// docker reads both.
		de.RepoTags = []string{r.WithTag(r.Tag).String()}
		repo := r.Name()
		if p.repos == nil {
			p.repos = map[string]map[string]string{}
		}
		if p.repos[repo] == nil {
			p.repos[repo] = map[string]string{}
		}
		if n := len(li.Manifest.Layers); n > 0 {
			p.repos[repo][r.Tag] = li.Manifest.Layers[n-1].Digest.Encoded()
		}
	}
	// One entry per config: names of the same image go together.
	for i := range p.docker {
		if p.docker[i].Config == de.Config && slices.Equal(p.docker[i].Layers, de.Layers) {
			p.docker[i].RepoTags = append(p.docker[i].RepoTags, de.RepoTags...)
			return
		}
	}
	p.docker = append(p.docker, de)
}

// write writes the archive: metadata first, so that streaming readers
// know what follows, then the blobs.
func (p *savePlan) write(ctx context.Context, w io.Writer, entries []v1.Descriptor) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	file := func(name string, data []byte) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	layout, _ := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
	index := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: entries}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if p.docker == nil {
		p.docker = []DockerArchiveEntry{}
	}
	manifestJSON, err := json.Marshal(p.docker)
	if err != nil {
		return err
	}
	if p.repos == nil {
		p.repos = map[string]map[string]string{}
	}
	repos, err := json.Marshal(p.repos)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{v1.ImageLayoutFile, layout}, {"index.json", indexJSON}, {dockerManifestFile, manifestJSON}, {repositoriesFile, repos}} {
		if err := file(f.name, f.data); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, b := range p.blobs {
		if err := p.writeBlob(ctx, tw, b, epoch); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (p *savePlan) writeBlob(ctx context.Context, tw *tar.Writer, b v1.Descriptor, mtime time.Time) error {
	f, err := p.s.OpenBlob(b.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: layoutBlobPath(b.Digest), Mode: 0o644, Size: fi.Size(), ModTime: mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	h := b.Digest.Algorithm().Hash()
	if _, err := io.Copy(io.MultiWriter(tw, h), iox.ContextReader(ctx, f)); err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	if got := digest.NewDigest(b.Digest.Algorithm(), h); got != b.Digest {
		return fmt.Errorf("blob %s hashes to %s (run verify): %w", b.Digest, got, errdefs.ErrCorrupt)
	}
	return nil
}
