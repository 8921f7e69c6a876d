// Package crash proves the registry's durability promise from the outside:
// what the API acknowledged survives a crash.
//
// The tests build "registry serve" once per test binary and run it as a
// separate process over a storage root, drive a push storm at it (16
// clients pushing small images and a few 64 MiB blobs, monolithic and
// chunked, moving tags and deleting manifests) and crash something at a
// random moment: the registry itself with SIGKILL on the filesystem driver,
// the S3 server (versitygw) on the S3 driver, one of two registry nodes in
// the middle of a chunked upload. After each crash they check, through the
// API, that every operation acknowledged before the crash (201 or 202) is
// still there with the right digests, and, by walking the storage with a
// driver of their own, that the store is consistent: every blob hashes to
// its name, every tag points to a stored manifest, every manifest's blobs
// exist. Two more kill a registry in the middle of a chunked upload's
// PATCH and finish the upload on a second node (S3) or on the restarted
// registry (filesystem): the chunks acknowledged before survive.
//
// The same machinery proves online garbage collection (issue 11), where
// the storm's helpers already are: gcstorm_test.go runs the storm against
// two nodes over one root or bucket, the collector looping on one of them,
// and reclaim_test.go checks that "registry gc" brings the storage of 20
// pushed images, 15 of them deleted, down to the live set.
//
// Each run picks a random seed and logs it; BERTH_CRASH_SEED=<n> replays
// the same crash moments and content (the interleaving of requests still
// varies with the machine's timing).
//
// Imports (tests only): the standard library, go-digest, image-spec,
// internal/testutil (which builds the registry binary it crashes), the
// storagedriver packages to inspect what survived, and
// internal/testutil/s3test for the S3 runs.
package crash
