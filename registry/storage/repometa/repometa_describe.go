package repometa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/storage"
)

// maxConfigRead bounds the image config DescribeManifest reads for its
// labels, creation time and platform.
const maxConfigRead = 1 << 20

// imageConfig is what DescribeManifest reads of an image config.
type imageConfig struct {
	Created      *time.Time `json:"created"`
	OS           string     `json:"os"`
	Architecture string     `json:"architecture"`
	Variant      string     `json:"variant"`
	OSVersion    string     `json:"os.version"`
	Config       struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// DescribeManifest summarises manifest m of repository name: its size
// with what it references, its platforms, and the labels and creation
// time of its image config. Push time is left to the caller.
func (s *Store) DescribeManifest(ctx context.Context, name string, m *storage.Manifest) (ImageInfo, error) {
	var doc manifestDoc
	if err := json.Unmarshal(m.Payload, &doc); err != nil {
		return ImageInfo{}, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	info := ImageInfo{Digest: m.Digest, MediaType: m.MediaType, ArtifactType: doc.ArtifactType,
		Size: int64(len(m.Payload)), Annotations: doc.Annotations}
	if doc.isIndex() {
		for _, d := range doc.Manifests {
			info.Size += d.Size
			if p := d.Platform; p != nil {
				info.Platforms = append(info.Platforms, FormatPlatform(*p))
			}
			child, err := s.GetManifest(ctx, name, d.Digest.String())
			if err != nil {
				continue // not stored (a sparse index)
			}
			var cd manifestDoc
			if json.Unmarshal(child.Payload, &cd) == nil && !cd.isIndex() {
				info.Size += blobsSize(&cd)
			}
		}
		return info, nil
	}
	info.Size += blobsSize(&doc)
	if doc.Config != nil && info.ArtifactType == "" && !isImageConfig(doc.Config.MediaType) {
		info.ArtifactType = doc.Config.MediaType // artifacts of image-spec 1.0
	}
	if doc.Config == nil || !isImageConfig(doc.Config.MediaType) || doc.Config.Size > maxConfigRead {
		return info, nil
	}
	cfg, err := s.readConfig(ctx, name, doc.Config.Digest)
	if err != nil {
		return info, err
	}
	if cfg.Created != nil {
		info.Created = cfg.Created.UTC()
	}
	info.Labels = cfg.Config.Labels
	if cfg.OS != "" || cfg.Architecture != "" {
		info.Platforms = []string{FormatPlatform(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion})}
	}
	return info, nil
}

// readConfig reads and decodes image config d of name; a config that
// does not decode gives an empty one.
func (s *Store) readConfig(ctx context.Context, name string, d digest.Digest) (*imageConfig, error) {
	var cfg imageConfig
	rc, _, err := s.OpenBlob(ctx, name, d)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return &cfg, nil // the layers were not required (WithValidation)
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfigRead))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", d, err)
	}
	_ = json.Unmarshal(b, &cfg)
	return &cfg, nil
}

func blobsSize(doc *manifestDoc) int64 {
	var n int64
	if doc.Config != nil {
		n += doc.Config.Size
	}
	for _, l := range doc.Layers {
		n += l.Size
	}
	return n
}

func isImageConfig(mt string) bool {
	return mt == v1.MediaTypeImageConfig || mt == oci.MediaTypeDockerConfig
}

// FormatPlatform writes p as os/arch[/variant][:os.version].
func FormatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	return s
}

// SearchHit is one tag a search matched.
type SearchHit struct {
	Repository string `json:"repository"`
	TagInfo
}

// Search returns the tags of the repositories for which allow says yes
// whose repository name, tag, digest, media type, artifact type,
// platforms, annotations or labels ("key=value") contain every term of query
// (case-insensitive, separated by spaces), at most limit, in repository
// and tag order; and whether more matched. A repository whose metadata
// this node has not read yet is matched by its name only. It reads
// nothing but this node's copy of the index (RepoInfos).
func (s *Store) Search(ctx context.Context, query string, allow func(repository string) bool, limit int) ([]SearchHit, bool, error) {
	terms := strings.Fields(strings.ToLower(query))
	repos, err := s.RepoInfos(ctx)
	if err != nil {
		return nil, false, err
	}
	var hits []SearchHit
	for _, r := range repos {
		if allow != nil && !allow(r.Name) {
			continue
		}
		if !r.Known {
			if containsAll(strings.ToLower(r.Name), terms) {
				if len(hits) == limit {
					return hits, true, nil
				}
				hits = append(hits, SearchHit{Repository: r.Name})
			}
			continue
		}
		name := strings.ToLower(r.Name)
		for i := range r.Tags {
			if !r.Tags[i].matches(name, terms) {
				continue
			}
			if len(hits) == limit {
				return hits, true, nil
			}
			hits = append(hits, SearchHit{Repository: r.Name, TagInfo: r.Tags[i]})
		}
	}
	return hits, false, nil
}

func containsAll(text string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(text, t) {
			return false
		}
	}
	return true
}
