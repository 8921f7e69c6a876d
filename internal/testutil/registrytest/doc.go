// Package registrytest starts a Berth registry in-process on loopback, on
// each storage driver, for tests that talk to it over real HTTP (the OCI
// conformance suite, real clients).
//
// It lives apart from testutil because it imports the registry and the
// drivers: their own tests can use testutil without an import cycle.
//
// Imports: the standard library, registry, storagedriver and its inmemory
// and filesystem drivers, and internal/testutil/s3test (a real S3). Only
// tests import it.
package registrytest
