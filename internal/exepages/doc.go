// Package exepages gives back the pages of the running executable (and of
// the shared libraries it loaded) that only its start-up needed.
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
//
// Only private, read-only file mappings none of whose pages was ever
// written are released (smaps says Anonymous: 0 kB). A written page of a
// private mapping is the process's only copy: the data and bss segments,
// and in a position-independent executable or a shared library the
// relocated pointers the dynamic loader wrote before making them
// read-only (RELRO). Dropping those would bring back the file's bytes.
//
// Imports: the standard library only (checked by internal/archtest).
package exepages
