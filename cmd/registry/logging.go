package main

import (
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/berth-registry/berth/internal/reqid"
	"github.com/berth-registry/berth/registry/config"
)

// newLogger is the process's logger as log.level, log.formatter (text, json
// or logstash), log.fields and log.reportcaller say.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "error":
		level = slog.LevelError
	case "warn":
		level = slog.LevelWarn
	case "debug":
		level = slog.LevelDebug
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level, AddSource: c.ReportCaller}
	var h slog.Handler
	switch c.Formatter {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "logstash":
		opts.ReplaceAttr = logstashAttr
		h = slog.NewJSONHandler(w, opts).WithAttrs([]slog.Attr{slog.String("@version", "1")})
	default:
		h = slog.NewTextHandler(w, opts)
	}
	// log.fields: static fields on every line, in a stable order.
	keys := slices.Sorted(maps.Keys(c.Fields))
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, c.Fields[k]))
	}
	// Every component's lines logged with a request's context carry its id.
	return reqid.Logger(slog.New(h.WithAttrs(attrs)))
}

// logstashAttr renames slog's built-in keys to those of Logstash's JSON
// event format (@timestamp, message), which Distribution's logstash
// formatter writes.
func logstashAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		a.Key = "@timestamp"
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}
