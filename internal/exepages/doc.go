// Package exepages gives back the pages of the running executable that
// only its start-up needed.
//
// A Go server's code and read-only tables are mapped from its executable
// file, and every page it touches stays in its resident set until the
// process ends: on Linux a touch maps not one page but the 64 KiB around
// it (fault-around), so the package initialisation of every linked
// library (the S3 SDK's endpoint and schema tables, Prometheus's and
// protobuf's registrations, the configuration parser) leaves megabytes
// mapped that a filesystem-only registry never runs again. Release drops
// those mappings once; the pages the process goes on using are mapped
// again from the page cache on their next touch (a minor fault, no I/O
// while the file is cached), the others stay out of the resident set.
// Only the read-only mappings of the executable are released: a private
// mapping that was written (data, bss) would lose its writes.
//
// Imports: the standard library only (checked by internal/archtest).
package exepages
