package metrics

import "github.com/prometheus/client_golang/prometheus"

// The blob descriptor cache's metrics (storage.cache.blobdescriptor):
// Metrics implements blobcache.Observer.

type cacheMetrics struct {
	lookups *prometheus.CounterVec
	errors  *prometheus.CounterVec
	served  *prometheus.CounterVec
}

func (m *Metrics) registerCache() error {
	c := &m.cache
	c.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "blob_descriptor_cache_lookups_total",
		Help: "Lookups in the blob descriptor cache, by cache (inmemory, redis) and result: hit, miss, expired (present but older than the trust window, grace/4), error (the cache failed; the storage answered)."},
		[]string{"cache", "result"})
	c.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "blob_descriptor_cache_errors_total",
		Help: "Failed operations on the blob descriptor cache (get, set, forget), by cache; each falls back to the storage."},
		[]string{"cache", "operation"})
	c.served = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "content_served_total",
		Help: "Blob HEAD/GET and manifest GET/HEAD answered, by kind (blob, manifest) and source: cache (the link and, for a blob, the size came from the blob descriptor cache; a manifest's payload from the node's manifest cache when it holds it) or storage. Counted when a cache is configured."},
		[]string{"kind", "source"})
	for _, kind := range []string{"blob", "manifest"} {
		for _, source := range []string{"cache", "storage"} {
			c.served.WithLabelValues(kind, source)
		}
	}
	for _, col := range []prometheus.Collector{c.lookups, c.errors, c.served} {
		if err := m.reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// BlobCacheLookup implements blobcache.Observer.
func (m *Metrics) BlobCacheLookup(cache, result string) {
	if m != nil {
		m.cache.lookups.WithLabelValues(cache, result).Inc()
	}
}

// BlobCacheError implements blobcache.Observer.
func (m *Metrics) BlobCacheError(cache, op string) {
	if m != nil {
		m.cache.errors.WithLabelValues(cache, op).Inc()
	}
}

// ContentServed implements blobcache.Observer.
func (m *Metrics) ContentServed(kind, source string) {
	if m != nil {
		m.cache.served.WithLabelValues(kind, source).Inc()
	}
}
