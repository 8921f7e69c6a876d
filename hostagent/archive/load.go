package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
)

// Archive formats Load reads.
const (
	FormatOCILayout     = "oci-layout"
	FormatDockerArchive = "docker-archive"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Platform picks one manifest of a multi-platform index. Empty: an
	// index whose manifests are all in the archive is loaded whole; one
	// that lacks some gives the host's platform.
	Platform string
	// Name names the image, instead of what the archive says; only for an
	// archive of one image.
	Name string
	// Force replaces images the archive's names already name; without
	// it, that is errdefs.ErrExists and nothing is loaded.
	Force  bool
	Limits layer.Limits // of what a tar archive may unpack into the staging area
}

// LoadedImage is one image Load put in the store.
type LoadedImage struct {
	// Names are full references; a bare tag stands as the archive gave it
	// (an OCI layout's org.opencontainers.image.ref.name). None: the image
	// is known by its digest only.
	Names     []string      `json:"names,omitempty"`
	Digest    digest.Digest `json:"digest"` // in the store
	MediaType string        `json:"mediaType"`
	// ArchiveDigest is the manifest's digest in the archive when the store
	// keeps another one: Docker media types converted to OCI (the
	// registry's digest, kept beside), or none at all in a docker-archive.
	ArchiveDigest digest.Digest `json:"archiveDigest,omitempty"`
	// SourceDigest is the registry's digest of the manifest when the store
	// keeps its bytes beside the OCI form: a Docker manifest of an OCI
	// layout, or one a saved archive carries beside the OCI form. Push
	// sends those bytes, so the image keeps that digest.
	SourceDigest digest.Digest   `json:"sourceDigest,omitempty"`
	Config       digest.Digest   `json:"config,omitempty"`
	Layers       []digest.Digest `json:"layers,omitempty"`
	// Preserved says which digests are the archive's own.
	Preserved string `json:"preserved"`
}

// LoadResult tells what Load did.
type LoadResult struct {
	Format      string        `json:"format"`
	Compression Compression   `json:"compression"`
	Images      []LoadedImage `json:"images"`
	Blobs       int           `json:"blobs"` // blobs added to the store
}

// Load installs the images of an archive into the store: an OCI image
// layout or a docker-archive (as docker save, podman save, skopeo and crane
// write them), as a tar file, gzip- or zstd-compressed or not, or as a
// directory. Names come from io.containerd.image.name, else
// org.opencontainers.image.ref.name, else RepoTags.
//
// An OCI layout keeps every digest (a Docker manifest is stored as OCI,
// with the archive's bytes and digest kept beside, as Pull does, so push
// sends them; Save's archives carry those bytes of the images they hold). A docker-archive
// holds no manifest: one is made from the config and the layers, whose
// digests are the archive's; each layer must hash to the diff ID its
// config records. Every blob is verified before it is published, and the
// index names the images only once all are in place: a load that fails
// leaves the store as it was. Errors: errdefs.ErrNotFound (no such file),
// errdefs.ErrInvalid (not an image archive), errdefs.ErrCorrupt, errdefs.ErrUnsafe, errdefs.ErrNoPlatform.
func (a *Archiver) Load(ctx context.Context, src string, opts LoadOptions) (LoadResult, error) {
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return LoadResult{}, fmt.Errorf("load %s: %w", src, errdefs.ErrNotFound)
	}
	if err != nil {
		return LoadResult{}, fmt.Errorf("load: %w", err)
	}
	if fi.IsDir() {
		ds, err := openDirSource(src)
		if err != nil {
			return LoadResult{}, fmt.Errorf("load %s: %w", src, err)
		}
		defer ds.close()
		res, err := a.loadFrom(ctx, ds, opts)
		if err != nil {
			return res, fmt.Errorf("load %s: %w", src, err)
		}
		return res, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return LoadResult{}, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	res, err := a.LoadReader(ctx, f, opts)
	if err != nil {
		return res, fmt.Errorf("load %s: %w", src, err)
	}
	return res, nil
}

// LoadReader is Load of a tar archive read from r (compressed or not).
func (a *Archiver) LoadReader(ctx context.Context, r io.Reader, opts LoadOptions) (LoadResult, error) {
	zr, comp, err := Decompress(r)
	if err != nil {
		return LoadResult{}, fmt.Errorf("%v: %w", err, errdefs.ErrInvalid)
	}
	defer zr.Close()
	ts, err := stageTar(ctx, a.store, zr, opts.Limits)
	if err != nil {
		return LoadResult{}, err
	}
	defer ts.close()
	res, err := a.loadFrom(ctx, ts, opts)
	res.Compression = comp
	return res, err
}

// loadItem is one image of an archive and its names.
type loadItem struct {
	desc   v1.Descriptor
	source digest.Digest // the archive's digest of it, when desc differs
	names  []string      // full references
	bare   []string      // tags without a repository
	info   LoadedImage
}

// loadPlan is what a load will write, gathered and checked before any of
// it is.
type loadPlan struct {
	s     *store.Store
	src   archiveSource
	opts  LoadOptions
	copy  []v1.Descriptor          // blobs the archive holds, to publish
	paths map[digest.Digest]string // where each is in the archive
	meta  map[digest.Digest][]byte // blobs made here (manifests) or read whole
	// originals are the registry's bytes of manifests stored converted (or
	// carried beside by a saved archive); those of the images named go in
	// meta.
	originals map[digest.Digest][]byte
	items     []loadItem
}

func (a *Archiver) loadFrom(ctx context.Context, src archiveSource, opts LoadOptions) (LoadResult, error) {
	p := &loadPlan{s: a.store, src: src, opts: opts, paths: map[digest.Digest]string{}, meta: map[digest.Digest][]byte{},
		originals: map[digest.Digest][]byte{}}
	var res LoadResult
	var err error
	switch {
	case src.exists("index.json"):
		res.Format = FormatOCILayout
		err = p.oci()
	case src.exists(dockerManifestFile):
		res.Format = FormatDockerArchive
		err = p.docker()
	default:
		err = fmt.Errorf("neither an OCI image layout (index.json) nor a docker-archive (manifest.json): %w", errdefs.ErrInvalid)
	}
	if err != nil {
		return res, err
	}
	if len(p.items) == 0 {
		return res, fmt.Errorf("the archive holds no image: %w", errdefs.ErrInvalid)
	}
	if opts.Name != "" {
		if len(p.items) != 1 {
			return res, fmt.Errorf("--name: the archive holds %d images: %w", len(p.items), errdefs.ErrInvalid)
		}
		n, err := fullName(opts.Name)
		if err != nil {
			return res, err
		}
		p.items[0].names, p.items[0].bare = []string{n}, nil
	}
	if res.Blobs, err = a.applyLoad(ctx, p); err != nil {
		return res, err
	}
	for _, it := range p.items {
		it.info.Names = append(append([]string{}, it.names...), it.bare...)
		res.Images = append(res.Images, it.info)
		// The names say where the blobs may already be, for mounts on a
		// later push; only that rests on it.
		for _, n := range it.names {
			if r, err := oci.ParseReference(n); err == nil && it.info.Config != "" {
				_ = a.store.AddSources(ctx, r.Name(), append([]digest.Digest{it.info.Config}, it.info.Layers...))
			}
		}
	}
	return res, nil
}

// fullName is the full reference s stands for.
func fullName(s string) (string, error) {
	r, err := oci.ParseReference(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", err, errdefs.ErrInvalid)
	}
	return r.String(), nil
}

// readSmall reads a small file of the archive whole; when want is
// set, it must hash to it.
func (p *loadPlan) readSmall(name string, want digest.Digest) ([]byte, error) {
	rc, err := p.src.open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s missing from the archive: %w", name, errdefs.ErrCorrupt)
		}
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, store.MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > store.MaxMetadataSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", name, store.MaxMetadataSize, errdefs.ErrInvalid)
	}
	if got := digest.FromBytes(b); want != "" && got != want {
		return nil, fmt.Errorf("%s hashes to %s: %w", name, got, errdefs.ErrCorrupt)
	}
	return b, nil
}

// needBlob adds a blob the archive must hold (unless the store has it), a
// foreign layer only when it holds it.
func (p *loadPlan) needBlob(d v1.Descriptor, name string) error {
	if err := oci.CheckDigest(d.Digest); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalid)
	}
	if _, ok := p.paths[d.Digest]; ok {
		return nil
	}
	if !p.src.exists(name) && !p.s.HasBlob(d.Digest, d.Size) {
		if store.IsForeign(d) {
			return nil // left out, as save and docker do: its URLs stay in the manifest
		}
		return fmt.Errorf("blob %s missing from the archive: %w", d.Digest, errdefs.ErrCorrupt)
	}
	p.paths[d.Digest] = name
	p.copy = append(p.copy, d)
	return nil
}

// applyLoad publishes the plan's blobs, then names its images. On failure
// it takes back the blobs it added. It returns how many it added.
func (a *Archiver) applyLoad(ctx context.Context, p *loadPlan) (int, error) {
	var all []digest.Digest
	for _, d := range p.copy {
		all = append(all, d.Digest)
	}
	for d := range p.meta {
		all = append(all, d)
	}
	idx, err := a.store.ReadIndex()
	if err != nil {
		return 0, err
	}
	if err := p.checkReplace(idx); err != nil {
		return 0, err // before copying anything
	}
	l, err := a.store.NewLease(ctx, all)
	if err != nil {
		return 0, err
	}
	var added []digest.Digest
	err = p.publishAll(ctx, &added)
	if err == nil {
		err = a.store.UpdateIndex(ctx, func(idx *v1.Index) error {
			if err := p.checkReplace(idx); err != nil {
				return err
			}
			for _, it := range p.items {
				p.name(idx, it)
			}
			return nil
		})
	}
	l.Release()
	if err != nil {
		if len(added) > 0 {
			_ = a.dropUnused(ctx, added)
		}
		return 0, err
	}
	return len(added), nil
}

func (p *loadPlan) publishAll(ctx context.Context, added *[]digest.Digest) error {
	for _, d := range p.copy {
		if p.s.HasBlob(d.Digest, d.Size) {
			continue
		}
		if err := p.publish(ctx, d); err != nil {
			return err
		}
		*added = append(*added, d.Digest)
	}
	for d, b := range p.meta {
		if p.s.HasBlob(d, int64(len(b))) {
			continue
		}
		if err := p.s.PutBlob(d, b); err != nil {
			return err
		}
		*added = append(*added, d)
	}
	return nil
}

// publish brings one blob of the archive into the store, verified.
func (p *loadPlan) publish(ctx context.Context, d v1.Descriptor) error {
	name := p.paths[d.Digest]
	if st, ok := p.src.(stagedSource); ok {
		got, size, found := st.digestOf(name)
		if found && (got != d.Digest || (d.Size > 0 && size != d.Size)) {
			return fmt.Errorf("%s in the archive hashes to %s (%d bytes), want %s (%d bytes): %w",
				name, got, size, d.Digest, d.Size, errdefs.ErrCorrupt)
		}
		if done, err := st.publishAs(p.s, name, d.Digest); err != nil || done {
			return err
		}
	}
	fetch := func(ctx context.Context, _ int64) (io.ReadCloser, int64, error) {
		rc, err := p.src.open(name)
		return rc, 0, err
	}
	_, err := p.s.Ingest(ctx, d, fetch, store.IngestObserver{})
	if err != nil {
		return fmt.Errorf("%s in the archive: %w", name, err)
	}
	return nil
}

// checkReplace refuses, unless forced, names of the archive that already
// name other images.
func (p *loadPlan) checkReplace(idx *v1.Index) error {
	if p.opts.Force {
		return nil
	}
	for _, it := range p.items {
		for _, n := range it.names {
			if r, err := oci.ParseReference(n); err == nil {
				if err := store.CheckReplace(idx, r.String(), it.desc.Digest); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// name adds the index entries of one loaded image.
func (p *loadPlan) name(idx *v1.Index, it loadItem) {
	for _, n := range it.names {
		if r, err := oci.ParseReference(n); err == nil {
			store.SetEntry(idx, store.NewEntry(r.String(), r.Tag, it.desc, it.source))
		}
	}
	for _, tag := range it.bare {
		e := store.NewEntry("", "", it.desc, it.source)
		delete(e.Annotations, store.AnnotationImageName)
		e.Annotations[v1.AnnotationRefName] = tag
		store.SetEntry(idx, e)
	}
	if len(it.names) == 0 && len(it.bare) == 0 {
		for _, e := range idx.Manifests {
			if e.Digest == it.desc.Digest {
				return // known already, under some name
			}
		}
		e := store.NewEntry("", "", it.desc, it.source)
		delete(e.Annotations, store.AnnotationImageName)
		idx.Manifests = append(idx.Manifests, e)
	}
}
