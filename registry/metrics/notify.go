package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// notifyMetrics are the webhook queue's (registry/notify), by endpoint
// name: the configuration bounds the label's values.
type notifyMetrics struct {
	queued    *prometheus.CounterVec
	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	depth     *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	syncs     prometheus.Counter
	synced    prometheus.Counter
}

func newNotifyMetrics() notifyMetrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	return notifyMetrics{
		queued:    cv("notification_events_queued_total", "Events queued durably for delivery, by endpoint.", "endpoint"),
		delivered: cv("notification_events_delivered_total", "Events an endpoint accepted (2xx or 3xx), by endpoint.", "endpoint"),
		failed: cv("notification_delivery_failures_total",
			"Failed delivery attempts (transport error, timeout, 4xx or 5xx), retried, by endpoint.", "endpoint"),
		dropped: cv("notification_events_dropped_total",
			"Events an endpoint will never get, by endpoint and reason (queue_full, endpoint_removed, unreadable).", "endpoint", "reason"),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "notification_queue_events",
			Help: "Events waiting for delivery, by endpoint."}, []string{"endpoint"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "notification_delivery_duration_seconds",
			Help: "Duration of delivery attempts, failed ones included, by endpoint.", Buckets: durationBuckets}, []string{"endpoint"}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "notification_queue_syncs_total",
			Help: "Group commits of the notification queue: one write and one fsync each."}),
		synced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "notification_queue_synced_events_total",
			Help: "Events written by the notification queue's group commits (divided by the syncs: events per fsync)."}),
	}
}

func (n *notifyMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{n.queued, n.delivered, n.failed, n.dropped, n.depth, n.duration, n.syncs, n.synced}
}

// EventQueued implements notify.Observer.
func (m *Metrics) EventQueued(endpoint string) {
	if m != nil {
		m.notify.queued.WithLabelValues(endpoint).Inc()
	}
}

// DeliveryAttempt implements notify.Observer.
func (m *Metrics) DeliveryAttempt(endpoint string, elapsed time.Duration, err error) {
	if m == nil {
		return
	}
	m.notify.duration.WithLabelValues(endpoint).Observe(elapsed.Seconds())
	if err != nil {
		m.notify.failed.WithLabelValues(endpoint).Inc()
	} else {
		m.notify.delivered.WithLabelValues(endpoint).Inc()
	}
}

// EventsDropped implements notify.Observer.
func (m *Metrics) EventsDropped(endpoint, reason string, n int) {
	if m != nil {
		m.notify.dropped.WithLabelValues(endpoint, reason).Add(float64(n))
	}
}

// QueueDepth implements notify.Observer.
func (m *Metrics) QueueDepth(endpoint string, n int) {
	if m != nil {
		m.notify.depth.WithLabelValues(endpoint).Set(float64(n))
	}
}

// QueueSynced implements notify.Observer.
func (m *Metrics) QueueSynced(n int) {
	if m != nil {
		m.notify.syncs.Inc()
		m.notify.synced.Add(float64(n))
	}
}
