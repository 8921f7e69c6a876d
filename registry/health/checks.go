package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Distribution's health.file, health.http and health.tcp checks. Each is a
// Poller of its own; the program runs it and lists it in /readyz and
// /debug/health.

// NewFileCheck is health.file: unhealthy while path exists, so that an
// operator takes the node out of rotation by creating the file. As in
// Distribution it has no threshold: the file is a deliberate switch, and
// the first probe that sees it turns the check unhealthy. A path that
// cannot be stat'ed (a directory without search permission) fails too.
func NewFileCheck(path string, log *slog.Logger) *Poller {
	return NewPoller("file", path, func(context.Context) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		_, err = os.Stat(abs)
		switch {
		case err == nil:
			return fmt.Errorf("%s: file exists", abs)
		case errors.Is(err, os.ErrNotExist):
			return nil
		}
		return err // *PathError names the path
	}, 1, 0, log)
}

// NewHTTPCheck is health.http: a HEAD request to uri (Distribution's
// method) with headers must answer status (200 when 0) within timeout,
// else the probe fails; threshold failures in a row make the check
// unhealthy. Redirects are followed, as in Distribution. Each probe opens
// a new connection, so that it tests what a new client would meet, not a
// connection kept alive from an earlier probe. The log names the URI
// without its password, as net/http's errors do.
func NewHTTPCheck(uri string, headers http.Header, status int, timeout time.Duration, threshold int, log *slog.Logger) *Poller {
	if status == 0 {
		status = http.StatusOK
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr}
	return NewPoller("http", RedactedURI(uri), func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, uri, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", uri, err)
		}
		for name, values := range headers {
			for _, v := range values {
				req.Header.Add(name, v)
			}
		}
		if host := headers.Get("Host"); host != "" {
			req.Host = host // Go sends Request.Host, never Header["Host"]
		}
		resp, err := client.Do(req)
		if err != nil {
			return err // names the method and the URL
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("%s: status %d, want %d", uri, resp.StatusCode, status)
		}
		return nil
	}, threshold, timeout, log)
}

// RedactedURI is uri with the password of its user information, if any,
// replaced by "xxxxx": how a health check's URI is named in logs and in
// /debug/health.
func RedactedURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Redacted()
}

// NewTCPCheck is health.tcp: a TCP connection to addr (host:port) must
// open within timeout; threshold failures in a row make the check
// unhealthy.
func NewTCPCheck(addr string, timeout time.Duration, threshold int, log *slog.Logger) *Poller {
	var d net.Dialer
	return NewPoller("tcp", addr, func(ctx context.Context) error {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err // names the address
		}
		return conn.Close()
	}, threshold, timeout, log)
}
