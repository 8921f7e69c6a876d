// Package archive saves images of the host agent's store as archives and
// loads archives into it: Save writes one tar that is both an OCI image
// layout and a docker-archive (save.go); Load reads OCI layouts and
// docker-archives as docker, podman, skopeo and crane write them, as tars
// or directories (load.go, formats.go), staging a tar in the store's
// ingest/ and verifying every blob before the index names anything
// (source.go); archives are gzip- or zstd-compressed or not
// (compress.go), and PublishGzipLayer publishes a layer that a commit or
// an OS image install writes. The Agent (package hostagent) delegates
// Save, Load and LoadReader to an Archiver and keeps the type names as
// aliases.
//
// Imports: the standard library, image-spec, go-digest,
// klauspost/compress (zstd), the agent's packages hostagent/store,
// hostagent/layer (entry-name checks and limits) and hostagent/errdefs,
// internal/oci (among others, the reference grammar: names in archives are
// normalised as docker does) and internal/iox. Never the registry client:
// an archive involves no registry.
package archive
