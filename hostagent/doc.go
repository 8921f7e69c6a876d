// Package hostagent keeps a local image store on a host and moves images
// between it and registries: find, install (Pull), list, inspect, tag,
// untag, remove, prune, push, verify, login and logout; save and load
// archives; create containers from images and commit them. The CLI
// cmd/hostagent is a thin layer over it.
//
//	a, err := hostagent.New("", hostagent.WithProgress(fn)) // DefaultRoot()
//	img, err := a.Pull(ctx, "registry.example.com/team/app:1.2", hostagent.PullOptions{})
//	imgs, err := a.List(ctx, hostagent.Filter{Publisher: "Example Corp"})
//	res, err := a.Push(ctx, "team/app:1.2", "other.example.com/app:1.2")
//
// # The store
//
// The store is an OCI image layout (oci-layout, index.json, blobs/sha256)
// that skopeo and umoci read directly as oci:<dir>:<tag>. Each name is one
// descriptor in index.json with the tag as org.opencontainers.image.ref.name
// and the full reference as io.containerd.image.name, as containerd writes
// them. Docker manifests are stored as OCI manifests (media types
// rewritten, config and layers untouched), since skopeo and umoci refuse
// Docker media types in a layout; the registry's digest is kept beside.
// Two repositories may have the same tag: `oci:<dir>:<tag>` then names the
// first of them, while every hostagent command takes the full reference.
//
// Several processes may use one store at once. A store-wide lock (flock on
// <store>/lock) is held only while index.json (or sources.json) is read and
// replaced, and while blobs are deleted; never during a transfer.
// index.json is replaced atomically (temporary file, fsync, rename, fsync
// of the directory). A blob is downloaded into ingest/<hex>, hashed as it
// streams, and renamed into blobs/ only when it matches its digest and
// size; the ingest file is flocked by its downloader, so two processes
// never fetch one blob twice, and an interrupted download is resumed with a
// Range request after re-hashing the bytes already there. Pulls and pushes
// hold a lease on the blobs they use, so that a concurrent Remove or Prune
// spares them. The layout and these primitives are package
// hostagent/store (see its store.go for the tree).
//
// # Archives and containers
//
// Save writes images to one tar that is both an OCI image layout and a
// docker-archive, gzip- or zstd-compressed if asked; Load reads OCI layouts
// and docker-archives as docker, podman, skopeo and crane write them, as
// tars (compressed or not) or directories, keeping every digest the format
// carries. A tar is staged in ingest/ and every blob verified before the
// index names anything (package hostagent/archive).
//
// CreateContainer unpacks an image into containers/<name>/rootfs (whiteouts
// applied; modes, owners, links, device nodes and xattrs kept; of a Windows
// image, the Files/ tree of its layers only) and records
// the tree in files.json; Commit writes what changed since as one new,
// deterministic layer and names the image (commit.go). Every write of an
// unpack goes through an os.Root, so that no entry can reach outside the
// root filesystem (package hostagent/layer); refusals are ErrUnsafe. The container record
// (containers/<name>/container.json, see Container) is written first, so
// that Remove refuses to take an image a container uses.
//
// # Sync
//
// Sync copies images between registries, and between a registry and the
// store, as a sync.yml says (ParseSyncConfig): rules of a source (an
// image, a repository, a registry prefix, or the store's images), a
// destination, tag filters and platforms. Only what the destination lacks
// moves, compared by digest; SyncDaemon runs the rules on their
// schedules. See package hostagent/mirror.
//
// # Errors
//
// Methods return errors wrapping the classes in errors.go (ErrNotFound,
// ErrAmbiguous, ErrInUse, ErrCorrupt, ErrNoPlatform, ErrInvalid,
// ErrUnsafe) and, for registry failures, the registry client's
// (client.ErrNotFound, ErrUnauthorized, ErrDenied, ErrUnavailable). Test
// with errors.Is.
//
// # Packages
//
// This package is the Agent facade: install (Pull), push, find, list,
// inspect, tag, remove, containers and commit; it delegates save and load
// to hostagent/archive and sync to hostagent/mirror. Below it:
//
//	hostagent/store    the OCI layout: index, blobs, ingest and resume,
//	                   leases, locking, sources, verify and prune primitives
//	hostagent/layer    applying tar layers under os.Root with limits, tree
//	                   records, diff -> layer
//	hostagent/archive  save and load of OCI layouts and docker-archives,
//	                   compression
//	hostagent/mirror   sync: config, rules, tag filters, schedules, limits,
//	                   plan, daemon
//	hostagent/foreign  foreign layers from their URLs: policy, GET, digest
//	                   check, the reason none gave one (install, verify
//	                   --repair and sync share it)
//	hostagent/errdefs  the error classes every package of the agent wraps
//	internal/oci       spec primitives: media types, platforms, version
//	                   order, digest check, atomic writes
//	internal/iox, internal/parallel  io adapters; bounded parallelism
//
// The facade may import all of them. It speaks to registries only through
// registry/client; it never imports the server's packages.
package hostagent
