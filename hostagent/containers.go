package hostagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent/store"
)

// ContainerFile is the record of a container, under the store at
// containers/<name>/container.json. Whatever creates containers writes it
// (atomically: temporary file, then rename) before unpacking anything; the
// store only reads it, to refuse removing an image a container uses.
const ContainerFile = "container.json"

// Container is the content of a container record.
type Container struct {
	Name string `json:"name"` // also its directory's name
	// Image is the digest of the manifest the container was made from:
	// what keeps that image, and its blobs, in the store.
	Image     digest.Digest `json:"image"`
	ImageName string        `json:"imageName,omitempty"` // the reference used, for display
	Created   time.Time     `json:"created"`
	// Rootfs is the container's root filesystem directory, relative to
	// containers/<name>/.
	Rootfs string `json:"rootfs,omitempty"`
	// State is ContainerCreating while the layers are unpacked, then
	// ContainerReady (see container_ops.go).
	State string `json:"state,omitempty"`
	// FilesOnly: the image is a Windows image, of which only the Files/
	// tree was unpacked (as the root); its Hives/ and Windows metadata
	// were not applied, and Commit refuses it.
	FilesOnly bool `json:"filesOnly,omitempty"`
}

// containers reads every container record; unreadable ones are errors, as
// an image they might protect must not be removed blindly.
func (s *imageStore) containers() ([]Container, error) {
	entries, err := os.ReadDir(s.Path(store.ContainersDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("containers: %w", err)
	}
	var out []Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(s.Path(store.ContainersDir, e.Name(), ContainerFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue // being created, or not a container
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", e.Name(), err)
		}
		var c Container
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("container %s: %s: %w", e.Name(), ContainerFile, err)
		}
		if c.Name == "" {
			c.Name = e.Name()
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
