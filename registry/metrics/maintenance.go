package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics of the maintenance jobs: garbage collection (registry gc and
// serve's storage.gc), upload purging (serve) and scrub (registry scrub).
// Each has runs by result, a duration histogram, what it removed by kind
// and in bytes, and the time of its last successful run, the series to
// alert on when a job stops succeeding.

// maintenanceBuckets reach hours: a collection of a large storage takes
// minutes, a scrub re-hashes every blob.
var maintenanceBuckets = []float64{.01, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400}

// Results of a maintenance run, the values of the "result" label.
const (
	ResultSuccess  = "success"
	ResultError    = "error"
	ResultProblems = "problems" // scrub only: it ran to its end and found damage
)

// Every series here is a vector, those without labels too: a vector
// exports nothing until its first value, so that a job that never ran on
// this process (scrub, on a serving node) shows no series rather than
// zeros, and a last-success time never reads as 1970.
type maintenance struct {
	gcRuns        *prometheus.CounterVec
	gcDuration    *prometheus.HistogramVec
	gcObjects     *prometheus.CounterVec
	gcBytes       *prometheus.CounterVec
	gcLastSuccess *prometheus.GaugeVec

	purgeLastSuccess *prometheus.GaugeVec

	scrubRuns         *prometheus.CounterVec
	scrubDuration     *prometheus.HistogramVec
	scrubProblems     *prometheus.CounterVec
	scrubObjects      *prometheus.CounterVec
	scrubBytes        *prometheus.CounterVec
	scrubLastSuccess  *prometheus.GaugeVec
	scrubBlobsChecked *prometheus.CounterVec
	scrubBytesChecked *prometheus.CounterVec
}

func newMaintenance() maintenance {
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string) *prometheus.CounterVec { return counterVec(name, help) }
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: maintenanceBuckets}, nil)
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, nil)
	}
	return maintenance{
		gcRuns:     counterVec("gc_runs_total", "Garbage collection runs, by result (success, error).", "result"),
		gcDuration: histogram("gc_duration_seconds", "Duration of garbage collection runs, failed ones included."),
		gcObjects: counterVec("gc_deleted_objects_total",
			"Objects deleted by garbage collection, by kind: blob, manifest (a revision), layer_link, used_record (the collector's own bookkeeping). A dry run deletes nothing.", "kind"),
		gcBytes:       counter("gc_deleted_bytes_total", "Bytes of the blobs deleted by garbage collection."),
		gcLastSuccess: gauge("gc_last_success_timestamp_seconds", "Unix time of the end of the last garbage collection run that succeeded."),

		purgeLastSuccess: gauge("upload_purge_last_success_timestamp_seconds", "Unix time of the end of the last upload purge run that succeeded."),

		scrubRuns:     counterVec("scrub_runs_total", "Scrub runs, by result: success (no problem), problems (ran to its end, found damage), error (could not finish).", "result"),
		scrubDuration: histogram("scrub_duration_seconds", "Duration of scrub runs, failed ones included."),
		scrubProblems: counterVec("scrub_problems_total",
			"Problems scrub found, by kind: corrupt_blob, dangling_layer_link, dangling_manifest_link, dangling_tag, missing_reference, invalid_manifest, stale_referrer, index_missing, index_extra.", "kind"),
		scrubObjects: counterVec("scrub_removed_objects_total",
			"Objects scrub --repair removed, by kind: blob, layer_link, manifest_link, tag, referrer, index_marker.", "kind"),
		scrubBytes:        counter("scrub_removed_bytes_total", "Bytes of the corrupt blobs scrub --repair removed."),
		scrubLastSuccess:  gauge("scrub_last_success_timestamp_seconds", "Unix time of the end of the last scrub run that finished, with or without problems."),
		scrubBlobsChecked: counter("scrub_checked_blobs_total", "Blobs scrub re-hashed."),
		scrubBytesChecked: counter("scrub_checked_bytes_total", "Bytes of the blobs scrub re-hashed."),
	}
}

func (x *maintenance) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		x.gcRuns, x.gcDuration, x.gcObjects, x.gcBytes, x.gcLastSuccess,
		x.purgeLastSuccess,
		x.scrubRuns, x.scrubDuration, x.scrubProblems, x.scrubObjects, x.scrubBytes, x.scrubLastSuccess,
		x.scrubBlobsChecked, x.scrubBytesChecked,
	}
}

// GCResult is what a garbage collection run did, for GCRun.
type GCResult struct {
	Elapsed     time.Duration
	Manifests   int
	Blobs       int
	Bytes       int64 // of the blobs
	LayerLinks  int
	UsedRecords int
	DryRun      bool // nothing was deleted: only the run is recorded
}

// GCRun records a garbage collection run. A run that failed part-way
// reports what it deleted before it failed.
func (m *Metrics) GCRun(r GCResult, err error) {
	if m == nil {
		return
	}
	x := &m.maint
	x.gcDuration.WithLabelValues().Observe(r.Elapsed.Seconds())
	if !r.DryRun {
		for kind, n := range map[string]int{"blob": r.Blobs, "manifest": r.Manifests, "layer_link": r.LayerLinks, "used_record": r.UsedRecords} {
			x.gcObjects.WithLabelValues(kind).Add(float64(n))
		}
		x.gcBytes.WithLabelValues().Add(float64(r.Bytes))
	}
	if err != nil {
		x.gcRuns.WithLabelValues(ResultError).Inc()
		return
	}
	x.gcRuns.WithLabelValues(ResultSuccess).Inc()
	x.gcLastSuccess.WithLabelValues().SetToCurrentTime()
}

// GCFailedToStart records a garbage collection run that failed before it
// began collecting (the lease could not be read or written).
func (m *Metrics) GCFailedToStart() {
	if m != nil {
		m.maint.gcRuns.WithLabelValues(ResultError).Inc()
	}
}

// ScrubResult is what a scrub run checked, found and removed, for
// ScrubRun. Problems and Removed count by kind, as scrub names them
// ("corrupt-blob"; the label value is corrupt_blob).
type ScrubResult struct {
	Elapsed      time.Duration
	Blobs        int   // re-hashed
	BlobBytes    int64 // their bytes
	Problems     map[string]int
	Removed      map[string]int // by kind of problem repaired
	RemovedBytes int64          // of the corrupt blobs removed
}

// removedKind is the kind of object that repairing a problem of kind
// removes.
var removedKind = map[string]string{
	"corrupt-blob":           "blob",
	"dangling-layer-link":    "layer_link",
	"dangling-manifest-link": "manifest_link",
	"missing-reference":      "manifest_link", // the revision is unlinked, so that a push stores the image whole
	"dangling-tag":           "tag",
	"stale-referrer":         "referrer",
	"index-extra":            "index_marker", // a repository index entry without a repository
	"index-missing":          "",             // repaired by adding an entry: nothing removed
}

// ScrubRun records a scrub run; err is set when it could not finish.
func (m *Metrics) ScrubRun(r ScrubResult, err error) {
	if m == nil {
		return
	}
	x := &m.maint
	x.scrubDuration.WithLabelValues().Observe(r.Elapsed.Seconds())
	x.scrubBlobsChecked.WithLabelValues().Add(float64(r.Blobs))
	x.scrubBytesChecked.WithLabelValues().Add(float64(r.BlobBytes))
	problems := 0
	for kind, n := range r.Problems {
		x.scrubProblems.WithLabelValues(strings.ReplaceAll(kind, "-", "_")).Add(float64(n))
		problems += n
	}
	for kind, n := range r.Removed {
		object, ok := removedKind[kind]
		if !ok {
			object = strings.ReplaceAll(kind, "-", "_")
		}
		if object == "" {
			continue
		}
		x.scrubObjects.WithLabelValues(object).Add(float64(n))
	}
	x.scrubBytes.WithLabelValues().Add(float64(r.RemovedBytes))
	switch {
	case err != nil:
		x.scrubRuns.WithLabelValues(ResultError).Inc()
		return
	case problems > 0:
		x.scrubRuns.WithLabelValues(ResultProblems).Inc()
	default:
		x.scrubRuns.WithLabelValues(ResultSuccess).Inc()
	}
	x.scrubLastSuccess.WithLabelValues().SetToCurrentTime()
}

// WriteTextfile writes the families whose names start with berth_<job>_
// for each job (gc, scrub) to path in Prometheus's text format, for
// node_exporter's textfile collector: the way to export the metrics of a
// run of registry gc or registry scrub, which ends before any scrape. The
// file is written aside and renamed into place, so that the collector
// never reads half of it.
func (m *Metrics) WriteTextfile(path string, jobs ...string) error {
	filtered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		all, err := m.reg.Gather()
		var keep []*dto.MetricFamily
		for _, f := range all {
			for _, job := range jobs {
				if strings.HasPrefix(f.GetName(), namespace+"_"+job+"_") {
					keep = append(keep, f)
					break
				}
			}
		}
		return keep, err
	})
	return prometheus.WriteToTextfile(path, filtered)
}
