package hostagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
)

// Container states.
const (
	// ContainerCreating: its layers are being unpacked (or were, by a
	// process that died: remove it).
	ContainerCreating = "creating"
	ContainerReady    = "ready"
)

const (
	rootfsDir = "rootfs"
	trashDir  = ".trash" // under containers/: what RemoveContainer is deleting
)

var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

func checkContainerName(name string) error {
	if !containerName.MatchString(name) {
		return fmt.Errorf("container name %q: want letters, digits, '_', '.', '-' (up to 128, starting with a letter or digit): %w", name, ErrInvalid)
	}
	return nil
}

// CreateOptions tune CreateContainer.
type CreateOptions struct {
	// Platform picks the manifest of a multi-platform image ("" is the
	// host's).
	Platform string
	Limits   Limits
}

// CreateContainer unpacks the image ref into containers/<name>/rootfs and
// records the tree (files.json) for Commit. Whiteouts are applied; modes,
// owners (as root), symlinks, hardlinks, device nodes (as root) and
// extended attributes (where the filesystem takes them) are kept. Every
// write stays inside the root filesystem: an entry that would leave it, a
// device node made without root, or content past opts.Limits is refused
// with ErrUnsafe, and then nothing of the container is left. Of a Windows
// image only the Files/ tree of each layer is unpacked (FilesOnly). An
// image with an absent foreign layer is ErrAbsent.
//
// The record is written, under the store lock, before anything is
// unpacked, so that Remove refuses to take the image meanwhile.
// Errors: ErrInvalid (name), ErrInUse (name taken), ErrNotFound,
// ErrAmbiguous, ErrNoPlatform, ErrCorrupt, ErrUnsafe, ErrAbsent.
func (a *Agent) CreateContainer(ctx context.Context, name, ref string, opts CreateOptions) (Container, error) {
	if err := checkContainerName(name); err != nil {
		return Container{}, err
	}
	dir := a.store.Path(store.ContainersDir, name)
	var c Container
	var img store.LocalImage
	err := a.store.WithIndex(ctx, func(idx *v1.Index) error {
		var err error
		if img, err = a.store.resolveImage(idx, ref, opts.Platform); err != nil {
			return err
		}
		if err := os.MkdirAll(a.store.Path(store.ContainersDir), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("container name %q is already in use: %w", name, ErrInUse)
			}
			return err
		}
		c = Container{
			Name: name, Image: img.Desc.Digest, ImageName: store.EntryName(img.Entry),
			Created: time.Now().UTC().Truncate(time.Second), Rootfs: rootfsDir, State: ContainerCreating,
			FilesOnly: filesOnly(img),
		}
		if c.ImageName == "" {
			c.ImageName = img.Desc.Digest.String()
		}
		return writeContainer(dir, c)
	})
	if err != nil {
		return Container{}, err
	}
	if err := a.fillContainer(ctx, dir, img, opts.Limits); err != nil {
		if rerr := a.store.removeContainerDir(name); rerr != nil {
			return Container{}, fmt.Errorf("create container %s: %w (and removing it: %v)", name, err, rerr)
		}
		return Container{}, fmt.Errorf("create container %s: %w", name, err)
	}
	c.State = ContainerReady
	if err := writeContainer(dir, c); err != nil {
		return Container{}, err
	}
	return c, nil
}

func (a *Agent) fillContainer(ctx context.Context, dir string, img store.LocalImage, lim Limits) error {
	rootfs := filepath.Join(dir, rootfsDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	if err := a.store.unpackImage(ctx, rootfs, img, lim); err != nil {
		return err
	}
	rec, err := layer.RecordTree(ctx, rootfs, layer.Record{})
	if err != nil {
		return err
	}
	return layer.WriteTreeRecord(dir, rec)
}

func writeContainer(dir string, c Container) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return oci.WriteFileAtomic(dir, ContainerFile, append(b, '\n'))
}

// ListContainers returns the store's containers, sorted by name.
func (a *Agent) ListContainers(ctx context.Context) ([]Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return a.store.containers()
}

// Container returns the record of the container name. Errors:
// ErrInvalid, ErrNotFound.
func (a *Agent) Container(_ context.Context, name string) (Container, error) {
	if err := checkContainerName(name); err != nil {
		return Container{}, err
	}
	return a.store.container(name)
}

func (s *imageStore) container(name string) (Container, error) {
	b, err := os.ReadFile(s.Path(store.ContainersDir, name, ContainerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Container{}, fmt.Errorf("container %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Container{}, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return Container{}, fmt.Errorf("container %s: %s: %v: %w", name, ContainerFile, err, ErrCorrupt)
	}
	if c.Name == "" {
		c.Name = name
	}
	if c.Rootfs == "" {
		c.Rootfs = rootfsDir
	}
	return c, nil
}

// ContainerRootfs is the directory of the container name's root
// filesystem.
func (a *Agent) ContainerRootfs(name string) string {
	return a.store.Path(store.ContainersDir, name, rootfsDir)
}

// RemoveContainer deletes the container name: its record first (the name
// is free, and its image no longer kept, at once), then its files. Errors:
// ErrInvalid, ErrNotFound.
func (a *Agent) RemoveContainer(ctx context.Context, name string) error {
	if err := checkContainerName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.Lstat(a.store.Path(store.ContainersDir, name)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("container %q: %w", name, ErrNotFound)
	}
	return a.store.removeContainerDir(name)
}

// removeContainerDir moves containers/<name> aside (atomically) and
// deletes it.
func (s *imageStore) removeContainerDir(name string) error {
	trash := s.Path(store.ContainersDir, trashDir)
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	aside := filepath.Join(trash, name+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(s.Path(store.ContainersDir, name), aside); err != nil {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	_ = oci.SyncDir(s.Path(store.ContainersDir))
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	// The last one out removes the trash directory.
	_ = os.Remove(trash)
	return nil
}
