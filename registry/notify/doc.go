// Package notify delivers the registry's events (pushes, pulls, mounts,
// deletes) to webhook endpoints, with CNCF Distribution's envelope and
// endpoint settings (notifications.endpoints), and a durable queue where
// Distribution has an in-memory one.
//
// Contract:
//
//   - Durable before answered: Notify returns once the events are written
//     and fsynced to the queue's log in Dir. Concurrent calls share one
//     write and one fsync (group commit): a call that arrives while a
//     commit syncs waits for the next one, which takes everything waiting.
//     An event that no endpoint's filters take is not written at all.
//   - Ordered per repository, per endpoint: an endpoint gets the events of
//     one repository one at a time, in the order they were queued, each
//     retried until accepted. Repositories are independent: a repository
//     whose events fail does not hold back another's.
//   - Retries: an attempt fails on a transport error, a timeout (the
//     endpoint's Timeout) or a final status (redirects are followed) other
//     than 2xx or 3xx, as in Distribution. Distribution's
//     threshold is kept: Threshold failures in a row are retried at once,
//     then each waits, Backoff first, doubling per failure, capped at
//     MaxBackoff (or Backoff, if longer). The count is per repository.
//   - Never waiting on a receiver: requests wait only for the fsync.
//     Deliveries run in goroutines of their own, at most 8 at a time per
//     endpoint, over connections of their own; a receiver that hangs
//     holds its endpoint's deliveries, nothing else.
//   - At-least-once: an event is marked delivered (its endpoint's ack log)
//     after its 2xx answer. It is delivered again when the process stops
//     between the receiver's answer and that mark (a crash, or Close
//     abandoning an attempt in flight whose request reached the
//     receiver), and after a power loss, which may lose the marks of the
//     last deliveries (they are written, not fsynced). A redelivery has
//     the same event id: receivers drop duplicates by id.
//   - Restarts: Open replays the log. Events queued for an endpoint no
//     longer configured (by name) are dropped, with a warning.
//   - Bounded: the log holds at most MaxBytes (plus one segment being
//     written). Past it, the oldest segment is dropped with the events it
//     still holds, counted (EventsDropped "queue_full") and logged. The
//     registry keeps answering: the pushes happened, and refusing them
//     would make a slow receiver take the registry down. A write or fsync
//     error, on the other hand, fails Notify.
//   - One process per Dir (a lock file); segments nothing waits for are
//     removed, and the ack logs compacted with them.
//
// Imports: the standard library, image-spec and internal/oci only.
package notify
