package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"time"
)

// Notifications is the notifications section: webhooks (registry/notify).
type Notifications struct {
	Events    Events     `yaml:"events"`
	Endpoints []Endpoint `yaml:"endpoints,omitempty"`
	// Queue is a Berth extension: where the events wait for delivery.
	Queue NotificationQueue `yaml:"queue"`
}

// NotificationQueue is notifications.queue, a Berth extension.
type NotificationQueue struct {
	// Directory holds the durable queue, one per registry process; empty
	// is QueueDirectory's default.
	Directory string `yaml:"directory"`
	// MaxSize bounds the queue in bytes (0: notify.DefaultMaxBytes); past
	// it the oldest undelivered events are dropped.
	MaxSize int64 `yaml:"maxsize"`
}

// Events is notifications.events.
type Events struct {
	IncludeReferences bool `yaml:"includereferences"`
}

// Endpoint is one entry of notifications.endpoints.
type Endpoint struct {
	Name              string              `yaml:"name"`
	Disabled          bool                `yaml:"disabled"`
	URL               string              `yaml:"url"`
	Headers           map[string][]string `yaml:"headers,omitempty"`
	Timeout           time.Duration       `yaml:"timeout"`
	Threshold         int64               `yaml:"threshold"`
	Backoff           time.Duration       `yaml:"backoff"`
	IgnoredMediaTypes []string            `yaml:"ignoredmediatypes,omitempty"`
	Ignore            Ignore              `yaml:"ignore"`
}

// Ignore is notifications.endpoints[].ignore.
type Ignore struct {
	MediaTypes []string `yaml:"mediatypes,omitempty"`
	Actions    []string `yaml:"actions,omitempty"`
}

// DefaultQueueDirectory holds the notification queue when
// notifications.queue.directory is not set and the storage has no local
// root (s3, inmemory).
const DefaultQueueDirectory = "/var/lib/berth/notifications"

// notifyActions are the values of ignore.actions.
var notifyActions = []string{"pull", "push", "mount", "delete"}

// Active lists the endpoints that are not disabled.
func (n *Notifications) Active() []Endpoint {
	return slices.DeleteFunc(slices.Clone(n.Endpoints), func(e Endpoint) bool { return e.Disabled })
}

// QueueDirectory is where the notification queue lives: the configured
// notifications.queue.directory; else, with the filesystem driver,
// "+notifications" in its root (a name the driver never lists, so it is
// no part of the registry's content); else DefaultQueueDirectory.
func (c *Config) QueueDirectory() string {
	if d := c.Notifications.Queue.Directory; d != "" {
		return d
	}
	if fs := c.Storage.Filesystem; fs != nil {
		return filepath.Join(fs.RootDirectory, "+notifications")
	}
	return DefaultQueueDirectory
}

func (n *Notifications) validate(o origins, missing func(key, why string) error) error {
	names := map[string]string{}
	for i, e := range n.Endpoints {
		key := fmt.Sprintf("notifications.endpoints[%d]", i)
		at := func(k string) string { return o.at(key + "." + k) }
		if e.Disabled {
			continue // kept, not checked: Distribution's examples disable half-written endpoints
		}
		if e.Name == "" {
			return missing(key+".name", "want a name that identifies the endpoint in logs and metrics"+o.at(key))
		}
		if prev, ok := names[e.Name]; ok {
			return fmt.Errorf("config: %s.name: %q%s is also %s's name, want a unique name", key, e.Name, at("name"), prev)
		}
		names[e.Name] = key
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: %s.url: invalid value %q%s, want an absolute http or https URL", key, e.URL, at("url"))
		}
		for _, d := range []struct {
			k string
			v any
			n bool
		}{{"timeout", e.Timeout, e.Timeout < 0}, {"backoff", e.Backoff, e.Backoff < 0}, {"threshold", e.Threshold, e.Threshold < 0}} {
			if d.n {
				return fmt.Errorf("config: %s.%s: invalid value %v%s, want 0 or more", key, d.k, d.v, at(d.k))
			}
		}
		for h := range e.Headers {
			if !validHeaderName(h) {
				return fmt.Errorf("config: %s.headers: invalid header name %q%s", key, h, at("headers."+h))
			}
		}
		for j, a := range e.Ignore.Actions {
			if !slices.Contains(notifyActions, a) {
				k := fmt.Sprintf("ignore.actions[%d]", j)
				return fmt.Errorf("config: %s.%s: invalid value %q%s, want one of pull, push, mount, delete", key, k, a, at(k))
			}
		}
	}
	if n.Queue.MaxSize < 0 {
		return fmt.Errorf("config: notifications.queue.maxsize: invalid value %d%s, want 0 (1 GiB) or more bytes", n.Queue.MaxSize, o.at("notifications.queue.maxsize"))
	}
	return nil
}
