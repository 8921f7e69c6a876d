package notify

import (
	"crypto/rand"
	"fmt"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// MediaType is the Content-Type of every delivery, Distribution's.
const MediaType = "application/vnd.docker.distribution.events.v2+json"

// The actions of an event, Distribution's.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionMount  = "mount"
	ActionDelete = "delete"
)

// Actions lists the valid actions, for configuration checks.
var Actions = []string{ActionPull, ActionPush, ActionMount, ActionDelete}

// BlobMediaType is the target media type of a blob's events: a registry
// does not know what a blob holds, and Distribution says this too.
const BlobMediaType = "application/octet-stream"

// Envelope is the body of a delivery. Berth sends one event per envelope,
// as Distribution does.
type Envelope struct {
	Events []Event `json:"events"`
}

// Event is one registry event, with Distribution's JSON field names.
type Event struct {
	// ID is unique and stable: a redelivery carries the same id, so that a
	// receiver can drop duplicates.
	ID        string        `json:"id,omitempty"`
	Timestamp time.Time     `json:"timestamp,omitempty"`
	Action    string        `json:"action,omitempty"`
	Target    Target        `json:"target,omitempty"`
	Request   RequestRecord `json:"request,omitempty"`
	Actor     ActorRecord   `json:"actor,omitempty"`
	Source    SourceRecord  `json:"source,omitempty"`
}

// Target is what the event is about. The descriptor's fields (mediaType,
// digest, size) are inlined, as in Distribution v3, whose descriptor is the
// OCI one.
type Target struct {
	v1.Descriptor
	// Length repeats Size, for Distribution's older receivers.
	Length         int64  `json:"length,omitempty"`
	Repository     string `json:"repository,omitempty"`
	FromRepository string `json:"fromRepository,omitempty"`
	// URL is the content's address on this registry.
	URL string `json:"url,omitempty"`
	Tag string `json:"tag,omitempty"`
	// References are the descriptors a manifest refers to (config and
	// layers, or an index's manifests), with
	// notifications.events.includereferences.
	References []v1.Descriptor `json:"references,omitempty"`
}

// RequestRecord is the HTTP request that caused the event.
type RequestRecord struct {
	// ID is the request's X-Request-Id (the client's or the one the
	// registry made), also in its access log line.
	ID        string `json:"id"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Method    string `json:"method"`
	UserAgent string `json:"useragent"`
}

// ActorRecord is who caused the event: the authenticated user, empty for
// an anonymous caller or without access control.
type ActorRecord struct {
	Name string `json:"name,omitempty"`
}

// SourceRecord is the registry node that made the event: its host name and
// port, and an id that changes at every start.
type SourceRecord struct {
	Addr       string `json:"addr,omitempty"`
	InstanceID string `json:"instanceID,omitempty"`
}

// NewID returns a random UUID (version 4) in its usual text form, the form
// of Distribution's event and instance ids.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
