package hostagent

import (
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/osimage"
	"github.com/berth-registry/berth/registry/client"
)

// The archive types are package archive's; these names keep the Agent's
// API.
type (
	// Compression of an archive (archive.Compression).
	Compression = archive.Compression
	// SaveOptions tune Save (archive.SaveOptions).
	SaveOptions = archive.SaveOptions
	// SavedImage is one image Save wrote (archive.SavedImage).
	SavedImage = archive.SavedImage
	// SaveResult tells what Save wrote (archive.SaveResult).
	SaveResult = archive.SaveResult
	// LoadOptions tune Load (archive.LoadOptions).
	LoadOptions = archive.LoadOptions
	// LoadedImage is one image Load put in the store (archive.LoadedImage).
	LoadedImage = archive.LoadedImage
	// LoadResult tells what Load did (archive.LoadResult).
	LoadResult = archive.LoadResult
)

// Compressions and archive formats (package archive).
const (
	CompressionNone     = archive.CompressionNone
	CompressionGzip     = archive.CompressionGzip
	CompressionZstd     = archive.CompressionZstd
	FormatOCILayout     = archive.FormatOCILayout
	FormatDockerArchive = archive.FormatDockerArchive
)

// ParseCompression reads none, gzip or zstd (archive.ParseCompression).
func ParseCompression(s string) (Compression, error) { return archive.ParseCompression(s) }

// CompressionForFile is the compression a file name's extension asks for
// (archive.CompressionForFile).
func CompressionForFile(name string) Compression { return archive.CompressionForFile(name) }

// archiver saves from and loads into the agent's store.
func (a *Agent) archiver() *archive.Archiver { return archive.New(a.store.Store, a.store.dropUnused) }

// Save writes the images refs name (a name, a digest or a short ID, which
// takes every name of that manifest) to w as one archive that is both an
// OCI image layout and a docker-archive; see archive.Archiver.Save.
// Errors: ErrNotFound, ErrAmbiguous, ErrCorrupt, ErrInvalid.
func (a *Agent) Save(ctx context.Context, w io.Writer, refs []string, opts SaveOptions) (SaveResult, error) {
	return a.archiver().Save(ctx, w, refs, resolveEntries, opts)
}

// Load installs the images of an archive (an OCI image layout or a
// docker-archive, as a tar, compressed or not, or a directory) into the
// store; see archive.Archiver.Load. Errors: ErrNotFound, ErrInvalid,
// ErrCorrupt, ErrUnsafe, ErrNoPlatform.
func (a *Agent) Load(ctx context.Context, src string, opts LoadOptions) (LoadResult, error) {
	return a.archiver().Load(ctx, src, opts)
}

// LoadReader is Load of a tar archive read from r; see
// archive.Archiver.LoadReader.
func (a *Agent) LoadReader(ctx context.Context, r io.Reader, opts LoadOptions) (LoadResult, error) {
	return a.archiver().LoadReader(ctx, r, opts)
}

// resolveEntries is the archive.Resolver of the agent: the entries of idx
// that ref names.
func resolveEntries(idx *v1.Index, ref string) ([]int, error) {
	_, hits, err := parseLocalRef(ref).resolve(idx)
	return hits, err
}

// OSImageOptions tune InstallOSImage.
type OSImageOptions struct {
	osimage.Options
	// Name is the reference to install as; without a tag, the version
	// (else latest) is the tag. "" takes a WIM image's name under
	// localhost/.
	Name string
	// Force replaces an image of that name; without it, a taken name is
	// osimage.ErrExists.
	Force bool
}

// InstallOSImage makes a base OS image (no base of its own) from a WIM
// (one of its images as a Windows base layer), a root filesystem tar
// (plain, gzip or zstd) or a directory, and names it in the store; see
// package osimage. Errors: ErrCorrupt (a truncated or corrupt file),
// ErrUnsafe (past the layer limits), ErrNotFound, ErrInvalid,
// osimage.ErrExists.
func (a *Agent) InstallOSImage(ctx context.Context, src string, opts OSImageOptions) (osimage.Result, error) {
	s, err := osimage.Open(src, opts.Options)
	if err != nil {
		return osimage.Result{}, err
	}
	defer s.Close()
	name := opts.Name
	if name == "" {
		if s.DefaultName == "" {
			return osimage.Result{}, fmt.Errorf("name the image (--name REF): %w", ErrInvalid)
		}
		name = "localhost/" + s.DefaultName
	}
	last := name[strings.LastIndex(name, "/")+1:]
	if strings.Contains(name, "@") {
		return osimage.Result{}, fmt.Errorf("name %q: a digest cannot name a new image: %w", name, ErrInvalid)
	}
	if !strings.Contains(last, ":") && s.Version != "" {
		name += ":" + s.Version
	}
	ref, err := client.ParseReference(name)
	if err != nil {
		return osimage.Result{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return s.Install(ctx, a.store.Store, ref.String(), ref.Tag, opts.Force)
}
