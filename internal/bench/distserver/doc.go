// Command distserver runs CNCF Distribution v3's registry (the version in
// Berth's go.mod) from a configuration file, for cmd/regbench: the App of
// Distribution's binary (handlers.NewApp on configuration.Parse) served by
// net/http on http.addr, linked with the filesystem and s3-aws storage
// drivers only, so that the benchmark measures Distribution's request
// handling and drivers in a process of their own, whose peak RSS can be
// read like Berth's. It leaves out what Distribution's registry package
// wraps around the App (OpenTelemetry, TLS, the debug server), none of
// which the benchmark uses, and whose dependencies Berth's go.mod lacks.
//
//	distserver CONFIG.yml
//
// It stops on SIGINT or SIGTERM.
//
// Imports: the standard library and CNCF Distribution v3 (its configuration,
// handlers and the filesystem and s3-aws drivers), with logrus; nothing of
// Berth, so that what it measures is Distribution alone.
package main
