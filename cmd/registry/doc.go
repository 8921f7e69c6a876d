// Command registry runs the Berth registry server.
//
//	registry serve [config.yml]   run the registry
//	registry gc CONFIG            collect garbage (also: garbage-collect)
//	registry retention CONFIG     apply the retention rules (--dry-run)
//	registry keygen KEYFILE       make a token signing key
//	registry scrub [--repair] CONFIG  check (and repair) the storage
//	registry usage CONFIG [PREFIX]    usage per quota namespace
//	registry repo rm CONFIG NAME  delete a repository
//	registry version              print the version
//	registry help                 print the usage
//
// main only wires the process (signals, environment, standard streams, exit
// code) to run, which the tests call directly.
//
// Imports: the standard library, go-digest, image-spec, go-redis (the
// Redis blob cache's client), and of this module the server's packages it
// wires together: registry, registry/config, registry/storage (and
// blobcache), registry/health, registry/metrics, registry/notify,
// registry/policy, registry/proxy, registry/retention, auth, the storage
// drivers (storagedriver, filesystem, inmemory, s3, observed), and
// internal/reqid and internal/watchfile. Never the host agent.
package main
