// Command ceilingserver serves the benchmark's in-memory ceiling registry
// (internal/bench/ceiling) on an address, for cmd/regbench.
//
//	ceilingserver 127.0.0.1:PORT
//
// It stops on SIGINT or SIGTERM.
//
// Imports: the standard library and internal/bench/ceiling only.
package main
