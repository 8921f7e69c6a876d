// Package metrics holds the registry's Prometheus metrics: one Metrics per
// registry process, on a prometheus.Registry of its own (never the
// client library's global default), handed explicitly to whatever reports
// into it. The "Metrics" section of docs/operations.md lists every series.
//
// The packages that report do not import Prometheus: each defines the
// small interface it needs (observed.Observer for the storage driver
// wrapper, proxy.Observer for the pull-through cache) and Metrics
// implements them. A nil *Metrics is valid and records nothing, so that
// the registry runs the same code with metrics off.
//
// Imports: the standard library, the Prometheus client library, and
// storagedriver (for the names of its operations) only.
package metrics
