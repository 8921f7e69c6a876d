package osimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
)

// Kinds of source.
const (
	KindWIM        = "wim"
	KindRootfsTar  = "rootfs-tar"
	KindRootfsDir  = "rootfs-dir"
	defaultCreator = "hostagent install-os-image"
)

// Options choose what Open reads and what Install writes.
type Options struct {
	// Index (1-based) or Image (a name, case-insensitive) picks the image
	// of a WIM that holds several.
	Index int
	Image string
	// Platform overrides the image's: a WIM's windows/<arch> with its
	// os.version, the host's for a root filesystem.
	Platform *v1.Platform
	// Publisher and Version go in the manifest's annotations and the
	// config's labels (org.opencontainers.image.vendor, .version); an
	// empty Version is a WIM's Windows version.
	Publisher string
	Version   string
	// Created is the image's creation time; zero means a WIM image's own
	// (its XML's CREATIONTIME), else now.
	Created time.Time
	// Limits bound the layer, as they bound unpacking one.
	Limits layer.Limits
}

// Source is an OS image file or directory, opened and checked.
type Source struct {
	Path string
	Kind string
	// WIM is the chosen image of a WIM (nil for a root filesystem); Images
	// all of the file's.
	WIM    *WIMImage
	Images []WIMImage
	// Platform, Version and Created as they will be written.
	Platform v1.Platform
	Version  string
	Created  time.Time
	// DefaultName is a name for the image when the user gives none: the
	// WIM image's name, lower-cased; "" for a root filesystem.
	DefaultName string

	opts Options
	wim  *wimFile
}

// Close releases the file.
func (s *Source) Close() error {
	if s.wim != nil {
		return s.wim.Close()
	}
	return nil
}

// Open reads path, a WIM (told by its magic bytes), a root filesystem tar
// (plain, gzip or zstd) or a directory, and for a WIM, checks it and picks
// the image of opts. Errors: ErrCorrupt (a truncated or inconsistent
// WIM), ErrUnsafe (sizes past opts.Limits), ErrNotFound (no such image),
// ErrInvalid.
func Open(path string, opts Options) (*Source, error) {
	opts.Limits = opts.Limits.WithDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, errdefs.ErrNotFound)
		}
		return nil, err
	}
	s := &Source{Path: path, opts: opts, Version: opts.Version, Created: opts.Created}
	if fi.IsDir() {
		s.Kind = KindRootfsDir
	} else if w, err := openWIM(path, opts.Limits); err == nil {
		s.Kind, s.wim = KindWIM, w
	} else if !errors.Is(err, errNotWIM) {
		return nil, fmt.Errorf("%s: %w", path, err)
	} else {
		s.Kind = KindRootfsTar
	}
	if s.Kind != KindWIM {
		if opts.Index > 0 || opts.Image != "" {
			return nil, fmt.Errorf("--index and --image choose an image of a WIM; %s is a root filesystem: %w", path, errdefs.ErrInvalid)
		}
		s.Platform = oci.HostPlatform()
		if opts.Platform != nil {
			s.Platform = *opts.Platform
		}
		return s, nil
	}
	s.Images = s.wim.images
	_, info, err := s.wim.pick(opts.Index, opts.Image)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.WIM = &info
	s.Platform = info.Platform()
	if opts.Platform != nil {
		p := *opts.Platform
		if p.OSVersion == "" && p.OS == "windows" {
			p.OSVersion = info.Version
		}
		s.Platform = p
	}
	if s.Platform.Architecture == "" {
		s.Close()
		return nil, fmt.Errorf("%s: image %d names no architecture this agent knows (ARCH %d): give --platform windows/ARCH: %w", path, info.Index, info.Arch, errdefs.ErrInvalid)
	}
	if s.Version == "" {
		s.Version = s.Platform.OSVersion
	}
	if s.Created.IsZero() {
		if img, _, _ := s.wim.pick(info.Index, ""); img != nil {
			if ct := img.CreationTime; ct.HighDateTime != 0 || ct.LowDateTime != 0 {
				s.Created = fileTime(ct)
			}
		}
	}
	s.DefaultName = defaultName(info.Name)
	return s, nil
}

// defaultName turns a WIM image name (e.g. "Windows Server 2019
// SERVERDATACENTERCORE") into a repository name component.
func defaultName(n string) string {
	var out []byte
	for _, c := range []byte(n) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	return string(out)
}

// Result tells what Install wrote.
type Result struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
	Layer     v1.Descriptor `json:"layer"`
	DiffID    digest.Digest `json:"diffID"`
	Platform  string        `json:"platform"`
	OSVersion string        `json:"osVersion,omitempty"`
	Publisher string        `json:"publisher,omitempty"`
	Version   string        `json:"version,omitempty"`
	Kind      string        `json:"kind"`
	WIMImage  *WIMImage     `json:"wimImage,omitempty"`
	Replaced  bool          `json:"replaced,omitempty"`
}

// ErrExists means the name is taken and the install was not told to replace
// it: the agent's own class (exit 8, as load and commit).
var ErrExists = errdefs.ErrExists

// Install writes the source as a one-layer OS image (no base) into st and
// names it ref (the full reference) with tag; an existing name is
// replaced only when force is set, else ErrExists. Nothing is left in the
// store when it fails.
func (s *Source) Install(ctx context.Context, st *store.Store, ref, tag string, force bool) (Result, error) {
	res := Result{Reference: ref, Kind: s.Kind, WIMImage: s.WIM, Publisher: s.opts.Publisher, Version: s.Version,
		Platform: oci.FormatPlatform(s.Platform), OSVersion: s.Platform.OSVersion}
	if !force {
		if err := checkFree(ctx, st, ref); err != nil {
			return res, err
		}
	}
	pub := store.NewPublication(st, func(ctx context.Context, digests []digest.Digest) error {
		return st.DropUnused(ctx, digests, nil)
	})
	defer pub.Release()
	if err := s.write(ctx, pub, st, ref, tag, force, &res); err != nil {
		pub.Rollback(ctx)
		return Result{}, err
	}
	return res, nil
}

func checkFree(ctx context.Context, st *store.Store, ref string) error {
	return st.WithIndex(ctx, func(idx *v1.Index) error {
		for _, e := range idx.Manifests {
			if store.EntryName(e) == ref {
				return fmt.Errorf("%s: %w (--force replaces it)", ref, ErrExists)
			}
		}
		return nil
	})
}

// write writes the image's layer, config and manifest through pub and
// names the manifest in the index of st.
func (s *Source) write(ctx context.Context, pub *store.Publication, st *store.Store, ref, tag string, force bool, res *Result) error {
	l, diffID, err := archive.PublishGzipLayer(ctx, pub, ".osimage-*", func(w io.Writer) error {
		if err := s.writeLayer(ctx, w); err != nil {
			return fmt.Errorf("%s: %w", s.Path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	created := s.Created
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	created = created.UTC()
	comment := fmt.Sprintf("root filesystem %s", filepath.Base(s.Path))
	if s.WIM != nil {
		comment = fmt.Sprintf("WIM %s image %d %q", filepath.Base(s.Path), s.WIM.Index, s.WIM.Name)
	}
	labels := map[string]string{}
	ann := map[string]string{v1.AnnotationCreated: created.Format(time.RFC3339), v1.AnnotationTitle: ref}
	for k, v := range map[string]string{v1.AnnotationVendor: s.opts.Publisher, v1.AnnotationVersion: s.Version} {
		if v != "" {
			labels[k], ann[k] = v, v
		}
	}
	if s.WIM != nil && s.WIM.DisplayName != "" {
		ann[v1.AnnotationDescription] = s.WIM.DisplayName
	}
	cfg := v1.Image{
		Created:  &created,
		Platform: s.Platform,
		Config:   v1.ImageConfig{Labels: labels},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []v1.History{{Created: &created, CreatedBy: defaultCreator, Comment: comment}},
	}
	if len(labels) == 0 {
		cfg.Config.Labels = nil
	}
	cfgRaw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc, err := pub.PutDescribed(ctx, v1.MediaTypeImageConfig, cfgRaw)
	if err != nil {
		return err
	}
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: cfgDesc, Layers: []v1.Descriptor{l}, Annotations: ann}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	desc, err := pub.PutDescribed(ctx, v1.MediaTypeImageManifest, raw)
	if err != nil {
		return err
	}
	p := s.Platform
	desc.Platform = &p
	err = st.UpdateIndex(ctx, func(idx *v1.Index) error {
		for _, e := range idx.Manifests {
			if store.EntryName(e) == ref {
				if !force {
					return fmt.Errorf("%s: %w (--force replaces it)", ref, ErrExists)
				}
				res.Replaced = true
			}
		}
		store.SetEntry(idx, store.NewEntry(ref, tag, desc, ""))
		return nil
	})
	if err != nil {
		return err
	}
	res.Digest, res.Layer, res.DiffID = desc.Digest, l, diffID
	return nil
}

// writeLayer writes the source as an uncompressed layer to w.
func (s *Source) writeLayer(ctx context.Context, w io.Writer) error {
	switch s.Kind {
	case KindWIM:
		img, _, err := s.wim.pick(s.WIM.Index, "")
		if err != nil {
			return err
		}
		return writeBaseLayer(ctx, w, img, s.opts.Limits)
	case KindRootfsDir:
		return writeRootfsDir(ctx, w, s.Path, s.opts.Limits)
	}
	f, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeRootfsTar(ctx, w, f, s.opts.Limits)
}
