// Package testutil holds helpers for tests that drive external programs
// (oras, crane, regctl, skopeo, docker, the OCI conformance suite), and
// small helpers every package's tests share (SnapshotDir).
//
// A missing tool skips the test with a message saying how to get it, except
// under CI (env CI=true), where it fails: CI installs every tool through
// hack/tools.sh, so a missing one there is a defect, not an excuse.
//
// The package imports nothing of Berth, so any package's tests may use it.
//
// Imports: the standard library only. No production package may import it
// (internal/archtest), but the benchmark harness.
package testutil
