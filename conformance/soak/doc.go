// Package soak holds Berth's endurance test: the real registry binary,
// serving a filesystem store, under a mixed load of many concurrent clients
// for minutes, with the server's memory, goroutines, threads and open files
// sampled every second. It proves that nothing grows without bound under
// load (after the load, the idle server is back where it started) and
// that no request ever gets a 5xx.
//
// It is not part of `make test` or CI: it runs only with BERTH_SOAK=1 and
// never under -short. `make soak` runs it, by default 64 clients for 5
// minutes (SOAK_CLIENTS, SOAK_DURATION):
//
//	BERTH_SOAK=1 go test ./conformance/soak/ -run TestSoak -v -timeout 30m \
//		-args -soak.duration=5m -soak.clients=64 -soak.out=soak.csv
//
// The curve goes to a CSV file, one line per second (-soak.out, else a
// file in the test's temporary directory kept after it: its path is
// printed at the end).
//
// Imports (tests only): the standard library and internal/testutil, which
// builds the registry binary it runs; the load speaks plain HTTP.
package soak
