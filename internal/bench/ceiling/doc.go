// Package ceiling is the benchmark's "ceiling": an HTTP server that speaks
// just enough of the distribution API for cmd/regbench's workloads and
// stores nothing on disk, so that a figure measured against it by the same
// client is the most any registry could reach on this machine through this
// client, loopback and HTTP stack.
//
// It does what no registry can skip and nothing more: every uploaded byte
// is read and hashed, and an upload whose bytes do not match its digest is
// refused (400 DIGEST_INVALID); manifests (up to 4 MiB) and tags are kept
// in memory and served back; a blob is remembered by digest and size, and
// a GET serves its length from a fixed in-memory pattern (small blobs, up
// to 64 KiB, byte for byte), with Range support. There is no
// authentication, validation of references or durability.
//
// Imports: the standard library and go-digest only.
package ceiling
