package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
)

// DefaultMaxBytes bounds the queue's log when Options.MaxBytes is 0.
const DefaultMaxBytes = 1 << 30

// maxGroup bounds the records of one group commit (one write and fsync).
const maxGroup = 4096

// ErrClosed is returned by Notify once Close has begun.
var ErrClosed = errors.New("notification queue closed")

// Observer receives the queue's measurements; registry/metrics implements
// it. Calls are made with the queue's lock held and must not block.
type Observer interface {
	// EventQueued counts an event queued durably for endpoint.
	EventQueued(endpoint string)
	// DeliveryAttempt records one POST to endpoint: its duration and
	// whether it failed (a transport error or a status other than 2xx).
	DeliveryAttempt(endpoint string, elapsed time.Duration, err error)
	// EventsDropped counts n events endpoint will never get, by reason:
	// "queue_full", "endpoint_removed", "unreadable".
	EventsDropped(endpoint, reason string, n int)
	// QueueDepth is how many events wait for endpoint.
	QueueDepth(endpoint string, n int)
	// QueueSynced records one group commit of n records (one fsync).
	QueueSynced(n int)
}

// Options configure a Queue.
type Options struct {
	// Dir holds the queue: segment files, ack logs and a lock file. It is
	// created if needed; one process at a time may use it.
	Dir string
	// MaxBytes bounds the log's size (DefaultMaxBytes when 0). When a
	// commit takes it past the bound, the oldest segment is dropped with
	// what it still holds for every endpoint (EventsDropped "queue_full",
	// and a warning in the log).
	MaxBytes int64
	// Endpoints receive the events; names must be unique.
	Endpoints []Endpoint
	// Source is set on every event; an empty InstanceID gets a new one.
	Source   SourceRecord
	Logger   *slog.Logger
	Observer Observer
}

// Queue is a durable, ordered-per-repository queue of events and their
// delivery to the endpoints. See the package documentation.
type Queue struct {
	dir      string
	maxBytes int64
	segBytes int64
	source   SourceRecord
	log      *slog.Logger
	obs      Observer
	lockFile *os.File

	in            chan *batch
	closeMu       sync.RWMutex // held to send on in; Close takes it to stop senders
	closed        bool
	quit          chan struct{}
	committerDone chan struct{}
	nextSeq       uint64 // the committer's, once open
	// commitHook, when set (by tests, before any Notify), runs at the
	// start of every commit.
	commitHook func()

	ctx     context.Context // ends the deliveries at Close
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu    sync.Mutex // guards what follows and every endpoint's state
	segs  []*segment // oldest first; the last is written
	total int64      // bytes of the segments
	eps   []*endpoint
}

// endpoint is an Endpoint with its delivery state.
type endpoint struct {
	Endpoint
	client *http.Client
	acks   *ackLog
	sem    chan struct{} // bounds its deliveries in flight
	repos  map[string]*repoQueue
	depth  int
}

// repoQueue is what waits for one endpoint in one repository, in order;
// running tells that a goroutine delivers it.
type repoQueue struct {
	refs    []ref
	running bool
}

// ref locates a queued record.
type ref struct {
	seq uint64
	seg *segment
	off int64
	n   int
}

// batch is one Notify call's records, waiting for their group commit.
type batch struct {
	recs []encoded
	done chan error
}

type encoded struct {
	repo string
	eps  []*endpoint
	data []byte // the record, JSON
}

// Notify queues events for the endpoints whose filters take them and
// returns once they are on stable storage (written and fsynced, in one
// group commit with whatever other requests queued meanwhile), or with the
// error that prevented it. An event no endpoint takes is not written. It
// fills each event's ID (when empty), Timestamp (when zero) and Source.
func (q *Queue) Notify(ctx context.Context, events ...Event) error {
	b := &batch{done: make(chan error, 1)}
	for i := range events {
		ev := events[i]
		if ev.ID == "" {
			ev.ID = NewID()
		}
		if ev.Timestamp.IsZero() {
			ev.Timestamp = time.Now().UTC()
		}
		ev.Source = q.source
		var eps []*endpoint
		var names []string
		for _, ep := range q.eps {
			if ep.wants(&ev) {
				eps = append(eps, ep)
				names = append(names, ep.Name)
			}
		}
		if len(eps) == 0 {
			continue
		}
		evJSON, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("notification: %w", err)
		}
		data, err := json.Marshal(record{Repo: ev.Target.Repository, Endpoints: names, Event: evJSON})
		if err != nil {
			return fmt.Errorf("notification: %w", err)
		}
		if len(data) > maxPayload {
			return fmt.Errorf("notification: event of %d bytes exceeds %d", len(data), maxPayload)
		}
		b.recs = append(b.recs, encoded{repo: ev.Target.Repository, eps: eps, data: data})
	}
	if len(b.recs) == 0 {
		return nil
	}
	q.closeMu.RLock()
	if q.closed {
		q.closeMu.RUnlock()
		return ErrClosed
	}
	q.in <- b
	q.closeMu.RUnlock()
	return <-b.done
}

// commitLoop is the only writer of the log: it takes every batch waiting,
// writes them with one write and one fsync, and answers them all. While it
// syncs, new batches gather for the next round, so that concurrent pushes
// share fsyncs instead of queuing for one each.
func (q *Queue) commitLoop() {
	defer close(q.committerDone)
	for {
		var group []*batch
		select {
		case b := <-q.in:
			group = append(group, b)
		case <-q.quit:
			// Close holds no sender back any more: answer what is left.
			for {
				select {
				case b := <-q.in:
					b.done <- q.commit([]*batch{b})
				default:
					return
				}
			}
		}
		n := len(group[0].recs)
	gather:
		for n < maxGroup {
			select {
			case b := <-q.in:
				group = append(group, b)
				n += len(b.recs)
			default:
				break gather
			}
		}
		err := q.commit(group)
		for _, b := range group {
			b.done <- err
		}
	}
}

// commit appends the group's records to the log, fsyncs, and hands them
// to their endpoints' deliveries.
func (q *Queue) commit(group []*batch) error {
	if q.commitHook != nil {
		q.commitHook()
	}
	q.mu.Lock()
	seg := q.segs[len(q.segs)-1]
	q.mu.Unlock()
	if seg.size >= q.segBytes {
		next, err := createSegment(q.dir, q.nextSeq)
		if err != nil {
			return fmt.Errorf("notification queue: %w", err)
		}
		q.mu.Lock()
		q.segs = append(q.segs, next)
		if seg.live == 0 {
			q.removeSegmentLocked(seg)
		}
		q.mu.Unlock()
		seg = next
	}
	type placed struct {
		rec *encoded
		ref ref
	}
	var buf []byte
	var all []placed
	for _, b := range group {
		for i := range b.recs {
			seq := q.nextSeq
			q.nextSeq++
			off := seg.size + int64(len(buf))
			buf = appendFrame(buf, seq, b.recs[i].data)
			all = append(all, placed{&b.recs[i], ref{seq: seq, seg: seg, off: off, n: int(seg.size + int64(len(buf)) - off)}})
		}
	}
	_, err := seg.f.WriteAt(buf, seg.size)
	if err == nil {
		err = seg.f.Sync()
	}
	if err != nil {
		_ = seg.f.Truncate(seg.size) // leave no frame nobody was answered for
		return fmt.Errorf("notification queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.obs.QueueSynced(len(all))
	seg.size += int64(len(buf))
	q.total += int64(len(buf))
	for _, p := range all {
		for _, ep := range p.rec.eps {
			q.pushLocked(ep, p.rec.repo, p.ref)
			q.obs.EventQueued(ep.Name)
		}
	}
	q.enforceBoundLocked()
	for _, ep := range q.eps {
		q.obs.QueueDepth(ep.Name, ep.depth)
	}
	return nil
}

// pushLocked queues r for ep and starts the repository's delivery.
func (q *Queue) pushLocked(ep *endpoint, repo string, r ref) {
	rq := ep.repos[repo]
	if rq == nil {
		rq = &repoQueue{}
		ep.repos[repo] = rq
	}
	rq.refs = append(rq.refs, r)
	r.seg.live++
	ep.depth++
	if !rq.running {
		rq.running = true
		q.workers.Add(1)
		go q.deliver(ep, repo)
	}
}

// enforceBoundLocked drops the oldest segments, with every event they
// still hold, while the log is over its bound. The segment being written
// stays: the bound may be passed by at most one segment.
func (q *Queue) enforceBoundLocked() {
	for q.total > q.maxBytes && len(q.segs) > 1 {
		old := q.segs[0]
		for _, ep := range q.eps {
			n := 0
			for _, rq := range ep.repos {
				k := 0
				for k < len(rq.refs) && rq.refs[k].seg == old {
					k++
				}
				rq.refs = rq.refs[k:]
				n += k
			}
			if n > 0 {
				ep.depth -= n
				q.obs.EventsDropped(ep.Name, "queue_full", n)
				q.log.Warn("notification queue full: dropped the oldest events", "endpoint", ep.Name, "events", n, "maxbytes", q.maxBytes)
			}
		}
		old.live = 0
		q.removeSegmentLocked(old)
	}
}

// removeSegmentLocked deletes a segment nothing waits for any more, then
// drops the acks of records older than the oldest segment left.
func (q *Queue) removeSegmentLocked(s *segment) {
	for i, x := range q.segs {
		if x == s {
			q.segs = append(q.segs[:i:i], q.segs[i+1:]...)
			break
		}
	}
	q.total -= s.size
	s.f.Close()
	if err := os.Remove(s.path); err != nil {
		q.log.Error("notification queue: removing a delivered segment", "error", err)
	}
	for _, ep := range q.eps {
		if err := ep.acks.compact(q.segs[0].first); err != nil {
			q.log.Error("notification queue: compacting acks", "endpoint", ep.Name, "error", err)
		}
	}
}

// Close stops taking events, commits those already taken, ends the
// deliveries (an attempt in flight is abandoned, and made again after the
// next Open) and releases the directory.
func (q *Queue) Close() error {
	q.closeMu.Lock()
	if q.closed {
		q.closeMu.Unlock()
		return nil
	}
	q.closed = true
	q.closeMu.Unlock()
	close(q.quit)
	<-q.committerDone
	q.cancel()
	q.workers.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, s := range q.segs {
		errs = append(errs, s.f.Close())
	}
	for _, ep := range q.eps {
		errs = append(errs, ep.acks.close())
		ep.client.CloseIdleConnections()
	}
	errs = append(errs, q.lockFile.Close())
	return errors.Join(errs...)
}
