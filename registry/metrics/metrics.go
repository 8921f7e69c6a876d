package metrics

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/storagedriver"
)

const namespace = "berth"

// durationBuckets reach past the client library's 10 s default: pushing
// or pulling a large layer legitimately takes minutes.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Metrics is the registry's set of metrics.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	httpInFlight  *prometheus.GaugeVec
	httpReqBytes  *prometheus.CounterVec
	httpRespBytes *prometheus.CounterVec

	storageOps      *prometheus.CounterVec
	storageDuration *prometheus.HistogramVec
	storageErrors   *prometheus.CounterVec

	uploadsStarted   prometheus.Counter
	uploadsCompleted prometheus.Counter
	uploadsFailed    prometheus.Counter
	uploadsCancelled prometheus.Counter
	uploadBytes      prometheus.Counter
	blobMounts       prometheus.Counter

	proxyHits     *prometheus.CounterVec
	proxyMisses   *prometheus.CounterVec
	proxyJoined   *prometheus.CounterVec
	proxyUpstream *prometheus.CounterVec

	auth         *prometheus.CounterVec
	tokensIssued prometheus.Counter

	purgeRuns     *prometheus.CounterVec
	purgeDuration prometheus.Histogram
	purgeObjects  *prometheus.CounterVec
	purgeBytes    *prometheus.CounterVec

	maint  maintenance   // maintenance.go
	cache  cacheMetrics  // cache.go
	notify notifyMetrics // notify.go
}

// New creates the metrics on a registry of their own, with the Go runtime's
// and the process's collectors beside them.
func New() (*Metrics, error) {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	m.httpRequests = counterVec("http_requests_total", "HTTP requests answered, by route, method and status.", "route", "method", "status")
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "Time from a request's arrival to the end of its response, by route and method.", Buckets: durationBuckets}, []string{"route", "method"})
	m.httpInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "http_requests_in_flight",
		Help: "HTTP requests being served, by route."}, []string{"route"})
	m.httpReqBytes = counterVec("http_request_bytes_total", "Request body bytes read, by route and method.", "route", "method")
	m.httpRespBytes = counterVec("http_response_bytes_total", "Response body bytes written, by route and method.", "route", "method")

	m.storageOps = counterVec("storage_operations_total", "Storage driver operations, by driver and operation.", "driver", "operation")
	m.storageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "storage_operation_duration_seconds",
		Help: "Duration of storage driver operations, by driver and operation.", Buckets: durationBuckets}, []string{"driver", "operation"})
	m.storageErrors = counterVec("storage_operation_errors_total",
		"Storage driver operations that failed, by driver, operation and class (not_found, invalid, unavailable, canceled, other).",
		"driver", "operation", "class")

	m.uploadsStarted = counter("uploads_started_total", "Blob uploads started (POST, monolithic ones included).")
	m.uploadsCompleted = counter("uploads_completed_total", "Blob uploads that ended with the blob stored (201).")
	m.uploadsFailed = counter("uploads_failed_total", "Blob uploads discarded by a failure (wrong digest, broken body, storage error).")
	m.uploadsCancelled = counter("uploads_cancelled_total", "Blob uploads cancelled by their client (DELETE).")
	m.uploadBytes = counter("upload_bytes_total", "Bytes received in blob upload request bodies.")
	m.blobMounts = counter("blob_mounts_total", "Blobs linked from another repository instead of uploaded (cross-repository mount).")

	m.proxyHits = counterVec("proxy_hits_total", "Pull-through cache requests served from the cache, by kind (manifest, blob).", "kind")
	m.proxyMisses = counterVec("proxy_misses_total", "Pull-through cache requests that started a fetch from the upstream, by kind.", "kind")
	m.proxyJoined = counterVec("proxy_joined_misses_total", "Pull-through cache misses that joined a fetch already in flight, by kind.", "kind")
	m.proxyUpstream = counterVec("proxy_upstream_errors_total",
		"Failed requests to an upstream (not found, refused, unreachable), by kind (manifest, blob, tags).", "kind")

	m.auth = counterVec("auth_requests_total",
		"Access checks, by endpoint (registry, token) and result: success, challenged (no credentials given), failure (wrong credentials or token), denied, throttled (too many failed logins).",
		"endpoint", "result")
	m.tokensIssued = counter("auth_tokens_issued_total", "Bearer tokens issued by the built-in token server.")

	m.purgeRuns = counterVec("upload_purge_runs_total", "Upload purge runs, by result (success, error).", "result")
	m.purgeDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "upload_purge_duration_seconds",
		Help: "Duration of upload purge runs.", Buckets: maintenanceBuckets})
	m.maint = newMaintenance()
	m.purgeObjects = counterVec("upload_purged_objects_total",
		"Objects removed by upload purging, by kind: upload (an _uploads directory), pending (a driver's pending write).", "kind")
	m.purgeBytes = counterVec("upload_purged_bytes_total", "Bytes removed by upload purging, by kind (upload, pending).", "kind")

	m.notify = newNotifyMetrics()
	for _, c := range append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.httpInFlight, m.httpReqBytes, m.httpRespBytes,
		m.storageOps, m.storageDuration, m.storageErrors,
		m.uploadsStarted, m.uploadsCompleted, m.uploadsFailed, m.uploadsCancelled, m.uploadBytes, m.blobMounts,
		m.proxyHits, m.proxyMisses, m.proxyJoined, m.proxyUpstream,
		m.auth, m.tokensIssued,
		m.purgeRuns, m.purgeDuration, m.purgeObjects, m.purgeBytes,
	}, slices.Concat(m.maint.collectors(), m.notify.collectors())...) {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	if err := m.registerCache(); err != nil {
		return nil, err
	}
	return m, nil
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gatherer is the registry of the metrics, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Method bounds the method label to the methods of HTTP: anything else a
// client sends is "other".
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// Request is one HTTP request being served; see StartRequest.
type Request struct {
	m             *Metrics
	route, method string
	start         time.Time
}

// StartRequest counts a request of route (a name from the route table,
// never its path) in flight; End records it.
func (m *Metrics) StartRequest(route, method string) Request {
	if m == nil {
		return Request{}
	}
	m.httpInFlight.WithLabelValues(route).Inc()
	return Request{m: m, route: route, method: Method(method), start: time.Now()}
}

// End records the request's status and body sizes.
func (q Request) End(status int, reqBytes, respBytes int64) {
	m := q.m
	if m == nil {
		return
	}
	m.httpInFlight.WithLabelValues(q.route).Dec()
	m.httpRequests.WithLabelValues(q.route, q.method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(q.route, q.method).Observe(time.Since(q.start).Seconds())
	m.httpReqBytes.WithLabelValues(q.route, q.method).Add(float64(reqBytes))
	m.httpRespBytes.WithLabelValues(q.route, q.method).Add(float64(respBytes))
}

// StorageOp implements observed.Observer.
func (m *Metrics) StorageOp(driver, op string, elapsed time.Duration, err error) {
	if m == nil {
		return
	}
	m.storageOps.WithLabelValues(driver, op).Inc()
	m.storageDuration.WithLabelValues(driver, op).Observe(elapsed.Seconds())
	if err != nil {
		m.storageErrors.WithLabelValues(driver, op, errorClass(err)).Inc()
	}
}

// errorClass sorts a driver error into a few classes: a stat of an absent
// path is an answer, a timeout an outage.
func errorClass(err error) string {
	switch {
	case errors.Is(err, storagedriver.ErrPathNotFound):
		return "not_found"
	case errors.Is(err, storagedriver.ErrInvalidPath), errors.Is(err, storagedriver.ErrInvalidOffset):
		return "invalid"
	case errors.Is(err, storagedriver.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}

// UploadStarted counts an upload started.
func (m *Metrics) UploadStarted() {
	if m != nil {
		m.uploadsStarted.Inc()
	}
}

// UploadCompleted counts an upload whose blob was stored.
func (m *Metrics) UploadCompleted() {
	if m != nil {
		m.uploadsCompleted.Inc()
	}
}

// UploadFailed counts an upload discarded by a failure.
func (m *Metrics) UploadFailed() {
	if m != nil {
		m.uploadsFailed.Inc()
	}
}

// UploadCancelled counts an upload its client cancelled.
func (m *Metrics) UploadCancelled() {
	if m != nil {
		m.uploadsCancelled.Inc()
	}
}

// UploadBytes counts bytes received for uploads.
func (m *Metrics) UploadBytes(n int64) {
	if m != nil {
		m.uploadBytes.Add(float64(n))
	}
}

// BlobMounted counts a cross-repository mount.
func (m *Metrics) BlobMounted() {
	if m != nil {
		m.blobMounts.Inc()
	}
}

// CacheHit implements proxy.Observer: kind served from the cache.
func (m *Metrics) CacheHit(kind string) {
	if m != nil {
		m.proxyHits.WithLabelValues(kind).Inc()
	}
}

// CacheMiss implements proxy.Observer: a fetch of kind started.
func (m *Metrics) CacheMiss(kind string) {
	if m != nil {
		m.proxyMisses.WithLabelValues(kind).Inc()
	}
}

// CacheJoined implements proxy.Observer: a miss joined a fetch in flight.
func (m *Metrics) CacheJoined(kind string) {
	if m != nil {
		m.proxyJoined.WithLabelValues(kind).Inc()
	}
}

// UpstreamError implements proxy.Observer.
func (m *Metrics) UpstreamError(kind string) {
	if m != nil {
		m.proxyUpstream.WithLabelValues(kind).Inc()
	}
}

// Auth results, the values of the "result" label.
const (
	AuthSuccess    = "success"
	AuthChallenged = "challenged"
	AuthFailure    = "failure"
	AuthDenied     = "denied"
	AuthThrottled  = "throttled"
)

// Auth counts an access check's result at endpoint ("registry" or
// "token").
func (m *Metrics) Auth(endpoint, result string) {
	if m != nil {
		m.auth.WithLabelValues(endpoint, result).Inc()
	}
}

// TokenIssued counts a token the token server issued.
func (m *Metrics) TokenIssued() {
	if m != nil {
		m.tokensIssued.Inc()
	}
}

// PurgeRun records an upload purge run: its duration, what it removed
// (uploads and their bytes, the driver's pending writes and theirs), and
// whether it failed. A dry run removes nothing and records only the run.
func (m *Metrics) PurgeRun(elapsed time.Duration, uploads int, uploadBytes int64, pending int, pendingBytes int64, dryRun bool, err error) {
	if m == nil {
		return
	}
	result := ResultSuccess
	if err != nil {
		result = ResultError
	} else {
		m.maint.purgeLastSuccess.WithLabelValues().SetToCurrentTime()
	}
	m.purgeRuns.WithLabelValues(result).Inc()
	m.purgeDuration.Observe(elapsed.Seconds())
	if dryRun {
		return
	}
	m.purgeObjects.WithLabelValues("upload").Add(float64(uploads))
	m.purgeBytes.WithLabelValues("upload").Add(float64(uploadBytes))
	m.purgeObjects.WithLabelValues("pending").Add(float64(pending))
	m.purgeBytes.WithLabelValues("pending").Add(float64(pendingBytes))
}
