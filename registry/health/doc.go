// Package health watches what the registry depends on and answers the
// health endpoints: /healthz (the process serves), /readyz (it can do its
// work) and Distribution's /debug/health.
//
// A check is polled in the background, never on the request path, so a
// probe by a load balancer costs nothing and cannot be used to make the
// registry hammer its storage.
//
// Imports: the standard library and storagedriver only.
package health
