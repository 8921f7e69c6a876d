package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Distribution's defaults for an endpoint's unset (zero) values.
const (
	DefaultTimeout   = time.Second
	DefaultThreshold = 10
	DefaultBackoff   = time.Second
	// MaxBackoff caps the growing wait between attempts, unless the
	// endpoint's own backoff is longer.
	MaxBackoff = 5 * time.Minute
	// concurrency bounds the deliveries in flight to one endpoint (each
	// to a different repository).
	concurrency = 8
)

// Endpoint is a receiver of events (one of notifications.endpoints).
type Endpoint struct {
	// Name identifies the endpoint in metrics, logs and the queue; it
	// must be unique. Renaming an endpoint drops what was queued for it.
	Name string
	// URL is where events are POSTed, absolute http or https.
	URL string
	// Headers are added to every delivery.
	Headers http.Header
	// Timeout bounds one delivery attempt (DefaultTimeout when 0).
	Timeout time.Duration
	// Threshold is how many attempts in a row may fail, each retried at
	// once, before the next waits Backoff (DefaultThreshold when 0).
	Threshold int
	// Backoff is the first wait after Threshold failures; each further
	// failure doubles it, up to MaxBackoff (DefaultBackoff when 0).
	Backoff time.Duration
	// IgnoredMediaTypes and IgnoredActions filter events out before they
	// are queued for this endpoint.
	IgnoredMediaTypes []string
	IgnoredActions    []string
}

// withDefaults fills the zero values, as Distribution does.
func (e Endpoint) withDefaults() Endpoint {
	if e.Timeout <= 0 {
		e.Timeout = DefaultTimeout
	}
	if e.Threshold <= 0 {
		e.Threshold = DefaultThreshold
	}
	if e.Backoff <= 0 {
		e.Backoff = DefaultBackoff
	}
	return e
}

// Check reports the first problem of an endpoint's settings.
func (e Endpoint) Check() error {
	if e.Name == "" {
		return errors.New("name: missing")
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: invalid value %q, want an absolute http or https URL", e.URL)
	}
	switch {
	case e.Timeout < 0:
		return fmt.Errorf("timeout: invalid value %q, want 0 or more", e.Timeout)
	case e.Backoff < 0:
		return fmt.Errorf("backoff: invalid value %q, want 0 or more", e.Backoff)
	case e.Threshold < 0:
		return fmt.Errorf("threshold: invalid value %d, want 0 or more", e.Threshold)
	}
	for _, a := range e.IgnoredActions {
		if !slices.Contains(Actions, a) {
			return fmt.Errorf("ignore.actions: invalid value %q, want pull, push, mount or delete", a)
		}
	}
	return nil
}

// wants tells whether the endpoint takes ev (Distribution's ignore rules:
// by the target's media type, by the action).
func (e Endpoint) wants(ev *Event) bool {
	return !slices.Contains(e.IgnoredMediaTypes, ev.Target.MediaType) && !slices.Contains(e.IgnoredActions, ev.Action)
}

// backoff is the wait before the next attempt after failures failed
// attempts in a row: none below the threshold, then Backoff doubling per
// further failure, capped.
func (e Endpoint) backoff(failures int) time.Duration {
	if failures < e.Threshold {
		return 0
	}
	limit := max(MaxBackoff, e.Backoff)
	d := e.Backoff
	for i := e.Threshold; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
