package config

import (
	"strings"
	"testing"
	"time"
)

func TestNotifications(t *testing.T) {
	doc := minimal + `notifications:
  events:
    includereferences: true
  endpoints:
    - name: ci
      url: https://ci.example.com/events
      headers:
        Authorization: [Bearer x]
      timeout: 500ms
      threshold: 5
      backoff: 2s
      ignoredmediatypes: [application/octet-stream]
      ignore:
        mediatypes: [application/vnd.oci.image.config.v1+json]
        actions: [pull]
    - name: off
      disabled: true
  queue:
    directory: /srv/queue
    maxsize: 1048576
`
	c, err := Load(strings.NewReader(doc), []string{"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_THRESHOLD=7"})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	e := n.Endpoints[0]
	if !n.Events.IncludeReferences || e.Timeout != 500*time.Millisecond || e.Threshold != 7 || e.Backoff != 2*time.Second ||
		len(e.Ignore.Actions) != 1 || n.Queue.MaxSize != 1<<20 || c.QueueDirectory() != "/srv/queue" {
		t.Errorf("notifications: %+v", n)
	}
	if a := n.Active(); len(a) != 1 || a[0].Name != "ci" {
		t.Errorf("Active() = %+v, want ci alone", a)
	}

	c.Notifications.Queue.Directory = ""
	if got := c.QueueDirectory(); got != DefaultQueueDirectory {
		t.Errorf("QueueDirectory with inmemory storage: %q", got)
	}
	c.Storage = Storage{Filesystem: &Filesystem{RootDirectory: "/data"}}
	if got := c.QueueDirectory(); got != "/data/+notifications" {
		t.Errorf("QueueDirectory with filesystem storage: %q", got)
	}
}

func TestNotificationsInvalid(t *testing.T) {
	ep := minimal + "notifications:\n  endpoints:\n    - name: ci\n      url: http://ci/\n"
	for _, c := range []struct{ doc, want string }{
		{minimal + "notifications:\n  endpoints:\n    - url: http://ci/\n", "config: notifications.endpoints[0].name: missing"},
		{minimal + "notifications:\n  endpoints:\n    - name: a\n      url: ci.example.com/x\n",
			`config: notifications.endpoints[0].url: invalid value "ci.example.com/x" (line 7), want an absolute http or https URL`},
		{minimal + "notifications:\n  endpoints:\n    - name: a\n      url: ftp://ci/\n", `config: notifications.endpoints[0].url: invalid value "ftp://ci/"`},
		{ep + "      timeout: -1s\n", "config: notifications.endpoints[0].timeout: invalid value -1s (line 8), want 0 or more"},
		{ep + "      backoff: -1s\n", "config: notifications.endpoints[0].backoff: invalid value -1s"},
		{ep + "      threshold: -2\n", "config: notifications.endpoints[0].threshold: invalid value -2"},
		{ep + "      headers:\n        'bad header': [x]\n", `config: notifications.endpoints[0].headers: invalid header name "bad header"`},
		{ep + "      ignore:\n        actions: [pull, fetch]\n", `config: notifications.endpoints[0].ignore.actions[1]: invalid value "fetch"`},
		{ep + "    - name: ci\n      url: http://other/\n", `config: notifications.endpoints[1].name: "ci" (line 8) is also notifications.endpoints[0]'s name`},
		{ep + "  queue:\n    maxsize: -1\n", "config: notifications.queue.maxsize: invalid value -1 (line 9)"},
	} {
		_, err := Load(strings.NewReader(c.doc), nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Load(%q)\n  = %v\nwant %s...", c.doc, err, c.want)
		}
	}
}
