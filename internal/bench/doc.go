// Package bench is the benchmark behind cmd/regbench and `make bench`:
// issue 14's workloads run against Berth, CNCF Distribution v3 and an
// in-memory ceiling (package ceiling), on the same storage kind, by one
// client, alternating per workload, and summed up in a Report of medians,
// spreads and ratios.
//
// Each server is a process of its own, built by Build: Berth's
// cmd/registry, Distribution's App in distserver, and ceilingserver; so
// each registry's peak RSS is read from its own /proc/PID/status. On S3
// the storage is a versitygw started through s3test.Run, and an optional
// proxy per registry counts S3 requests and adds latency.
//
// Imports: the standard library, go-digest, internal/testutil (process
// helpers) and internal/testutil/s3test (versitygw); it is test tooling, the
// one production package internal/archtest lets import test helpers.
package bench
