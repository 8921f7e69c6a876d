package repometa

import (
	"errors"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// Store is a storage.Store with this node's copy of the metadata records
// (repometa.go). Its storage.Store methods are the store's own.
type Store struct {
	*storage.Store
	driver storagedriver.Driver
	now    func() time.Time // time.Now; tests move it
	clock  func() time.Time // of push times: the store's (storage.WithClock)
	meta   metaCache
}

// New returns s with an empty copy of the records. Give every user of the
// records on a node the same Store (the registry's App owns one, and its
// web UI and shutdown use it), as it is that copy that pushes through the
// node change and FlushMeta writes.
func New(s *storage.Store) *Store {
	return &Store{Store: s, driver: s.Driver(), now: time.Now, clock: s.Now}
}

// catalogRoot is the repository index's directory (storage's layout);
// the records live under its meta/ (metaPath), which only this package
// reads and writes.
func catalogRoot() string { return "/berth/v1/catalog" }

// manifestDoc is what DescribeManifest reads of a manifest: the fields of
// storage's parsed manifests that a summary needs.
type manifestDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Layers       []v1.Descriptor   `json:"layers"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Annotations  map[string]string `json:"annotations"`
}

func (m *manifestDoc) isIndex() bool {
	return m.MediaType == storage.MediaTypeOCIIndex || m.MediaType == storage.MediaTypeDockerList
}

func ignoreNotFound(err error) error {
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	return err
}
