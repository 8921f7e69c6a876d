// Package conformance holds Berth's end-to-end tests: the OCI
// distribution-spec conformance suite and real clients (oras, crane, regctl,
// skopeo, docker) run against the registry served in-process on loopback, on
// every storage driver (registrytest.Drivers).
//
// The tools are pinned and installed by hack/tools.sh, which `make test` runs
// and whose env file puts them on PATH. A test whose tool is missing skips
// with a message, except under CI=true, where it fails.
//
// Knobs for debugging the server against the suite:
//
//	BERTH_CONFORMANCE_BIN      the suite's binary (else "conformance" on PATH)
//	BERTH_CONFORMANCE_FILTER   passed as OCI_FILTER_TEST, e.g. "OCI Conformance Test/sha256 blobs"
//	BERTH_CONFORMANCE_RESULTS  keep results.yaml, junit.xml and report.html
//	                           under this directory instead of a temporary one
//
// Imports (tests only; the package has no other code): whatever of the
// server a test drives in-process (registry, its storage, config, auth,
// policies, notifications, metrics, the drivers), internal/testutil with
// registrytest and disttest, and the real clients' binaries on PATH; never
// the host agent.
package conformance
