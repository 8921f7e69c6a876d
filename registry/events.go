package registry

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/reqid"
	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/registry/storage"
)

// Notifier receives the registry's events; *notify.Queue is one. Notify
// returns once the events are durably queued.
type Notifier interface {
	Notify(ctx context.Context, events ...notify.Event) error
}

// WithNotifier sends Distribution's events to n: push of a manifest (one
// per tag applied, or one without a tag) and of a blob (an upload's
// completion), mount, pull of a manifest or blob (GET, not HEAD), delete of
// a manifest, a tag or a blob. A change is answered only once its events
// are queued; when they cannot be (the queue's disk fails), the change
// stands and the request fails with 503 UNAVAILABLE, so that the client
// retries it (pushes and deletes are idempotent) and the retry notifies.
// A pull is served first and notified after, a failure logged. With
// includeReferences a manifest's events list the descriptors it refers to
// (Distribution's notifications.events.includereferences).
func WithNotifier(n Notifier, includeReferences bool) Option {
	return func(o *options) { o.notifier, o.includeReferences = n, includeReferences }
}

// event makes an event of r's request, caller and action on target.
func (a *App) event(r *http.Request, action string, t notify.Target) notify.Event {
	user := ""
	if ri, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		user = ri.user
	}
	return notify.Event{
		Action: action,
		Target: t,
		Request: notify.RequestRecord{
			ID:        reqid.From(r.Context()),
			Addr:      r.RemoteAddr,
			Host:      r.Host,
			Method:    r.Method,
			UserAgent: r.UserAgent(),
		},
		Actor: notify.ActorRecord{Name: user},
	}
}

// contentURL is the absolute URL of the API's path p on this registry,
// under http.prefix: on http.host when configured, else on the request's
// own host.
func (a *App) contentURL(r *http.Request, p string) string {
	if a.opts.baseURL != "" {
		return a.location(p)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + a.path(p)
}

// blobTarget is the target of a blob's events.
func (a *App) blobTarget(r *http.Request, name string, d digest.Digest, size int64) notify.Target {
	t := notify.Target{Repository: name, Length: size, URL: a.contentURL(r, "/v2/"+name+"/blobs/"+d.String())}
	t.MediaType, t.Digest, t.Size = notify.BlobMediaType, d, size
	return t
}

// manifestTarget is the target of a manifest's push or pull events.
func (a *App) manifestTarget(r *http.Request, name string, m *storage.Manifest) notify.Target {
	n := int64(len(m.Payload))
	t := notify.Target{Repository: name, Length: n, URL: a.contentURL(r, "/v2/"+name+"/manifests/"+m.Digest.String())}
	t.MediaType, t.Digest, t.Size = m.MediaType, m.Digest, n
	if a.opts.includeReferences {
		t.References = references(m.Payload)
	}
	return t
}

// references are the descriptors a manifest refers to, as Distribution
// lists them: an image's config then layers, an index's manifests. The
// payload was validated when stored.
func references(payload []byte) []v1.Descriptor {
	var doc struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return nil
	}
	var refs []v1.Descriptor
	if doc.Config != nil {
		refs = append(refs, *doc.Config)
	}
	refs = append(refs, doc.Layers...)
	return append(refs, doc.Manifests...)
}

// notifyChange queues the events of a change before it is answered.
func (a *App) notifyChange(r *http.Request, evs ...notify.Event) error {
	if a.opts.notifier == nil {
		return nil
	}
	if err := a.opts.notifier.Notify(r.Context(), evs...); err != nil {
		a.log.ErrorContext(r.Context(), "queuing a notification", "error", err)
		return newError(codeUnavailable, "the change is stored but its notification could not be queued; retry the request")
	}
	return nil
}

// notifyPull queues a pull's event once the content was served.
func (a *App) notifyPull(r *http.Request, t notify.Target) {
	if a.opts.notifier == nil || r.Method != http.MethodGet {
		return
	}
	if err := a.opts.notifier.Notify(r.Context(), a.event(r, notify.ActionPull, t)); err != nil {
		a.log.ErrorContext(r.Context(), "queuing a pull notification", "error", err)
	}
}
