// Command regbench measures Berth against CNCF Distribution v3 and an
// in-memory ceiling on the workloads of issue 14, on the filesystem and on
// S3 (a local versitygw), and prints a table of the figures with their
// ratios; see docs/benchmarks.md.
//
//	regbench [-storage fs,s3] [-workloads push,pull,...] [-scale 1] [-s3-factor 0.25] [-runs 3]
//	         [-duration 5s] [-s3-proxy] [-s3-latency 20ms] [-json FILE]
//	         [-workdir DIR] [-versitygw PATH] [-bin DIR] [-q]
//
// It builds the three servers (Berth's cmd/registry, internal/bench/
// distserver and internal/bench/ceilingserver) with the go command from the
// module it runs in, unless -bin names a directory holding them.
//
// Imports: the standard library and internal/bench, which does the work.
package main
