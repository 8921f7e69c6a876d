package hostagent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	Name      string // repository, e.g. localhost:5000/team/app (no tag)
	Version   string // the tag, and org.opencontainers.image.version
	Publisher string // org.opencontainers.image.vendor
	Message   string // the history entry's comment
	Author    string // the config's and the history entry's author
	// Force replaces an image already named Name:Version; without it,
	// that is ErrExists.
	Force bool
	// Timestamp pins the time of every layer entry and the image's
	// created time, so that the same changes give the same digest. Nil
	// means now, and entries keep their files' modification times.
	Timestamp *time.Time
}

// CommitResult tells what Commit made.
type CommitResult struct {
	Container string `json:"container"`
	// Unchanged: the tree is as it was unpacked; nothing was written.
	Unchanged  bool          `json:"unchanged,omitempty"`
	Reference  string        `json:"reference,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"` // of the new manifest
	Layer      v1.Descriptor `json:"layer,omitzero"`
	DiffID     digest.Digest `json:"diffID,omitempty"`
	BaseName   string        `json:"baseName"`
	BaseDigest digest.Digest `json:"baseDigest"`
	DiffStats
}

// commitStore is what a commit writes through: the agent's store, or in
// tests one that fails on demand, so that a failed commit can be shown to
// leave the store as it was.
type commitStore interface {
	store.BlobWriter
	UpdateIndex(ctx context.Context, fn func(idx *v1.Index) error) error
}

// Commit writes what changed in the container's root filesystem since it
// was unpacked as a new layer on top of its image, and names the result
// opts.Name:opts.Version in the store. The layer holds additions and
// changes, .wh. whiteouts for deletions and an opaque marker for each
// directory that was replaced (none of its recorded entries left); it is
// gzip-compressed and deterministic (entries sorted, fixed gzip header,
// times pinned by opts.Timestamp): it depends on what changed, not on how
// or when, nor on inode numbers. Content is hashed again wherever stats
// cannot prove it unchanged (see layer.Record). The config gets a history
// entry and the layer's diff ID; the manifest the annotations
// org.opencontainers.image.{vendor,version,title,created,base.name,
// base.digest}.
//
// An unchanged container gives Unchanged and writes nothing. A commit that
// fails leaves the store as it was. Errors: ErrInvalid, ErrExists (the
// name names another image, without opts.Force), ErrNotFound (no
// such container), ErrCorrupt (its image's blobs are gone or bad). A
// container of a Windows image (Container.FilesOnly) is refused
// (ErrInvalid): its diff would have to be a Windows layer. A base foreign
// layer absent from the store does not stop a commit, which needs none of
// the base's layer content: the new image names it as the base does.
func (a *Agent) Commit(ctx context.Context, container string, opts CommitOptions) (CommitResult, error) {
	return a.commit(ctx, a.store, container, opts)
}

// commit is Commit writing through st.
func (a *Agent) commit(ctx context.Context, st commitStore, container string, opts CommitOptions) (CommitResult, error) {
	if err := checkContainerName(container); err != nil {
		return CommitResult{}, err
	}
	ref, err := commitRef(opts)
	if err != nil {
		return CommitResult{}, err
	}
	c, err := a.store.container(container)
	if err != nil {
		return CommitResult{}, err
	}
	if c.State == ContainerCreating {
		return CommitResult{}, fmt.Errorf("container %s is still being created (or its creation died: remove it): %w", container, ErrInvalid)
	}
	if c.FilesOnly {
		return CommitResult{}, fmt.Errorf("container %s is of a Windows image and holds its Files/ tree only: a Windows layer needs Files/ with Windows attributes and security descriptors, and Hives/, which this agent does not write, so commit refuses it: %w", container, ErrInvalid)
	}
	res := CommitResult{Container: container, BaseName: c.ImageName, BaseDigest: c.Image}
	base, err := a.store.ImageOf(v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: c.Image}, "")
	if err != nil {
		return res, fmt.Errorf("container %s: base image: %w", container, err)
	}
	dir := a.store.Path(store.ContainersDir, container)
	old, err := layer.ReadTreeRecord(dir)
	if err != nil {
		return res, fmt.Errorf("container %s: %w", container, err)
	}
	rootfs := filepath.Join(dir, c.Rootfs)
	cur, err := layer.RecordTree(ctx, rootfs, old)
	if err != nil {
		return res, err
	}
	changes, stats := layer.DiffTrees(old.ByPath(), cur.Files)
	res.DiffStats = stats
	if len(changes) == 0 {
		res.Unchanged = true
		return res, nil
	}
	created := time.Now().UTC().Truncate(time.Second)
	if opts.Timestamp != nil {
		created = opts.Timestamp.UTC()
	}
	pub := store.NewPublication(st, a.store.dropUnused)
	defer pub.Release()
	if err := writeCommit(ctx, pub, st, rootfs, changes, opts, ref, base, c, created, &res); err != nil {
		pub.Rollback(ctx)
		return CommitResult{}, fmt.Errorf("commit %s: %w", container, err)
	}
	return res, nil
}

// commitRef is the reference the committed image gets: name:version.
func commitRef(opts CommitOptions) (client.Reference, error) {
	if opts.Name == "" || opts.Version == "" {
		return client.Reference{}, fmt.Errorf("commit needs a name and a version: %w", ErrInvalid)
	}
	if strings.ContainsAny(opts.Name, "@") || strings.Contains(opts.Name[strings.LastIndex(opts.Name, "/")+1:], ":") {
		return client.Reference{}, fmt.Errorf("name %q: give the version apart, not as a tag or digest: %w", opts.Name, ErrInvalid)
	}
	r, err := client.ParseReference(opts.Name + ":" + opts.Version)
	if err != nil {
		return client.Reference{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return r, nil
}

// writeCommit writes the commit's layer, config and manifest through pub
// and names the manifest in the index of s.
func writeCommit(ctx context.Context, pub *store.Publication, s commitStore, rootfs string, changes []layer.Change, opts CommitOptions,
	ref client.Reference, base store.LocalImage, c Container, created time.Time, res *CommitResult) error {
	if err := pub.Lease(ctx, c.Image); err != nil {
		return err
	}
	newLayer, diffID, err := archive.PublishGzipLayer(ctx, pub, ".commit-*", func(w io.Writer) error {
		return layer.WriteLayer(ctx, w, rootfs, changes, opts.Timestamp)
	})
	if err != nil {
		return err
	}
	cfg, err := commitConfig(base.ConfigRaw, diffID, opts, created, c.ImageName, c.Image)
	if err != nil {
		return err
	}
	cfgDesc, err := pub.PutDescribed(ctx, v1.MediaTypeImageConfig, cfg)
	if err != nil {
		return err
	}
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    append(append([]v1.Descriptor{}, base.Manifest.Layers...), newLayer),
		Annotations: map[string]string{
			v1.AnnotationVendor:          opts.Publisher,
			v1.AnnotationVersion:         opts.Version,
			v1.AnnotationTitle:           opts.Name,
			v1.AnnotationCreated:         created.Format(time.RFC3339),
			v1.AnnotationBaseImageName:   c.ImageName,
			v1.AnnotationBaseImageDigest: c.Image.String(),
		},
	}
	if opts.Publisher == "" {
		delete(m.Annotations, v1.AnnotationVendor)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	desc, err := pub.PutDescribed(ctx, v1.MediaTypeImageManifest, raw)
	if err != nil {
		return err
	}
	if p := base.Config.Platform; p.OS != "" {
		desc.Platform = &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
	}
	err = s.UpdateIndex(ctx, func(idx *v1.Index) error {
		if !opts.Force {
			if err := store.CheckReplace(idx, ref.String(), desc.Digest); err != nil {
				return err
			}
		}
		store.SetEntry(idx, newEntry(ref, desc, ""))
		return nil
	})
	if err != nil {
		return err
	}
	res.Reference, res.Digest, res.Layer, res.DiffID = ref.String(), desc.Digest, newLayer, diffID
	return nil
}

// commitConfig is the base image's config with the new layer's diff ID,
// a history entry, the creation time, the author, and the committed
// image's labels. Fields this package does not know are kept as they are.
func commitConfig(baseRaw []byte, diffID digest.Digest, opts CommitOptions, created time.Time, baseName string, baseDigest digest.Digest) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(baseRaw, &cfg); err != nil {
		return nil, fmt.Errorf("base config: %v: %w", err, ErrCorrupt)
	}
	var rootfs v1.RootFS
	var history []v1.History
	var inner map[string]json.RawMessage
	for key, v := range map[string]any{"rootfs": &rootfs, "history": &history, "config": &inner} {
		if raw, ok := cfg[key]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, v); err != nil {
				return nil, fmt.Errorf("base config: %s: %v: %w", key, err, ErrCorrupt)
			}
		}
	}
	rootfs.Type = "layers"
	rootfs.DiffIDs = append(rootfs.DiffIDs, diffID)
	h := v1.History{Created: &created, CreatedBy: "hostagent commit", Author: opts.Author, Comment: opts.Message}
	history = append(history, h)
	if inner == nil {
		inner = map[string]json.RawMessage{}
	}
	labels := map[string]string{}
	if raw, ok := inner["Labels"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &labels); err != nil {
			return nil, fmt.Errorf("base config: labels: %v: %w", err, ErrCorrupt)
		}
	}
	// Labels too, so that a copy without the manifest (docker load) still
	// tells publisher, version and base.
	for k, v := range map[string]string{
		v1.AnnotationVendor: opts.Publisher, v1.AnnotationVersion: opts.Version, v1.AnnotationTitle: opts.Name,
		v1.AnnotationBaseImageName: baseName, v1.AnnotationBaseImageDigest: baseDigest.String(),
	} {
		if v != "" {
			labels[k] = v
		}
	}
	set := func(m map[string]json.RawMessage, key string, v any) error {
		b, err := json.Marshal(v)
		m[key] = b
		return err
	}
	for _, e := range []error{
		set(inner, "Labels", labels), set(cfg, "config", inner), set(cfg, "rootfs", rootfs),
		set(cfg, "history", history), set(cfg, "created", created),
	} {
		if e != nil {
			return nil, e
		}
	}
	if opts.Author != "" {
		if err := set(cfg, "author", opts.Author); err != nil {
			return nil, err
		}
	}
	return json.Marshal(cfg)
}
