// Command hostagent keeps a local image store on a host: it finds images in
// a registry, installs (pulls) them, lists, inspects, tags, removes and
// pushes them, checks the store's integrity, saves them to archives and
// loads them from archives, unpacks them into containers whose changes it
// commits as new images, and syncs images between registries and the
// store (sync once; daemon on schedules, logging JSON lines). All the
// work is done by package hostagent; this command parses flags and prints.
//
// Usage:
//
//	hostagent [--store DIR] [--format table|json] [--quiet] [--insecure HOST] COMMAND [ARGS]
//
// Errors are one line on stderr, "hostagent: ...", with an exit code that
// tells their class: 1 error, 2 usage, 3 not found, 4 unauthorized,
// 5 registry unavailable, 6 in use, 7 corrupt.
//
// Imports: the standard library, go-digest, vbauerster/mpb (progress
// bars), and of this module hostagent (the Agent facade, which does the
// work), registry/client and internal/oci. Never the server
// (internal/archtest).
package main
