package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// validate checks the health section: durations and thresholds not
// negative, a path for each file check, an absolute http(s) URL and a
// status code for each HTTP check, a host:port for each TCP check.
func (h *Health) validate(o origins) error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s%s", key, fmt.Sprintf(format, a...), o.at(key))
	}
	if s := h.StorageDriver; s.Interval < 0 || s.Threshold < 0 {
		return bad("health.storagedriver", "interval and threshold must not be negative")
	}
	for i, f := range h.File {
		key := fmt.Sprintf("health.file[%d]", i)
		if f.File == "" {
			return bad(key+".file", "missing, want the path whose existence fails the check")
		}
		if f.Interval < 0 || f.Threshold < 0 {
			return bad(key, "interval and threshold must not be negative")
		}
	}
	for i, c := range h.HTTP {
		key := fmt.Sprintf("health.http[%d]", i)
		u, err := url.Parse(c.URI)
		if c.URI == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(key+".uri", "invalid value %q, want an absolute http or https URL", c.URI)
		}
		if c.StatusCode != 0 && (c.StatusCode < 100 || c.StatusCode > 599) {
			return bad(key+".statuscode", "invalid value %d, want an HTTP status code (default 200)", c.StatusCode)
		}
		if c.Interval < 0 || c.Timeout < 0 || c.Threshold < 0 {
			return bad(key, "interval, timeout and threshold must not be negative")
		}
	}
	for i, c := range h.TCP {
		key := fmt.Sprintf("health.tcp[%d]", i)
		if !hostPort(c.Addr) {
			return bad(key+".addr", "invalid value %q, want host:port", c.Addr)
		}
		if c.Interval < 0 || c.Timeout < 0 || c.Threshold < 0 {
			return bad(key, "interval, timeout and threshold must not be negative")
		}
	}
	return nil
}

// hostPort reports whether addr is host:port with a host and a port, a
// number from 1 to 65535 or a service name.
func hostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return false
	}
	if n, err := strconv.Atoi(port); err == nil {
		return n > 0 && n <= 65535
	}
	return true
}
