package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/notify"
)

// startNotifier opens the notification queue when an endpoint is enabled
// (none: no option, nothing on disk) and replays what a previous run left
// in it. stop closes it once the server no longer serves.
func startNotifier(cfg *config.Config, m *metrics.Metrics, logger *slog.Logger) (opts []registry.Option, stop func(), err error) {
	active := cfg.Notifications.Active()
	if len(active) == 0 {
		return nil, func() {}, nil
	}
	eps := notifyEndpoints(active)
	var names []string
	for _, e := range eps {
		names = append(names, e.Name)
	}
	o := notify.Options{
		Dir:       cfg.QueueDirectory(),
		MaxBytes:  cfg.Notifications.Queue.MaxSize,
		Endpoints: eps,
		Source:    notify.SourceRecord{Addr: sourceAddr(cfg.HTTP.Addr)},
		Logger:    logger,
	}
	if m != nil {
		o.Observer = m
	}
	q, err := notify.Open(o)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (notifications.queue.directory)", err)
	}
	logger.Info("notifications", "endpoints", names, "queue", o.Dir)
	return []registry.Option{registry.WithNotifier(q, cfg.Notifications.Events.IncludeReferences)}, func() {
		if err := q.Close(); err != nil {
			logger.Error("closing the notification queue", "error", err)
		}
	}, nil
}

// notifyEndpoints translates notifications.endpoints.
func notifyEndpoints(active []config.Endpoint) []notify.Endpoint {
	var eps []notify.Endpoint
	for _, e := range active {
		eps = append(eps, notify.Endpoint{
			Name:      e.Name,
			URL:       e.URL,
			Headers:   http.Header(e.Headers),
			Timeout:   e.Timeout,
			Threshold: int(min(e.Threshold, 1<<20)),
			Backoff:   e.Backoff,
			// Distribution's two keys for the same filter.
			IgnoredMediaTypes: slices.Concat(e.IgnoredMediaTypes, e.Ignore.MediaTypes),
			IgnoredActions:    e.Ignore.Actions,
		})
	}
	return eps
}

// sourceAddr is the events' source.addr, as in Distribution: the host's
// name and the listening port.
func sourceAddr(listen string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}
