// Package hatest holds what the host agent's tests share: small valid
// images made in memory and pushed with the registry client, distribution/v3
// started in-process (optionally with htpasswd), and an HTTP proxy in front
// of a registry that counts the bytes of each blob it serves and can cut a
// download short. Only tests import it.
//
// Imports: the standard library, image-spec, go-digest, x/sys/unix, and of
// this module registry (Berth in-process), storagedriver/inmemory,
// registry/client, internal/oci, internal/testutil and its disttest. Only
// tests import it.
package hatest
