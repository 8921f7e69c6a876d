package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Open opens (creating) the queue in o.Dir, replays what it holds — every
// event not yet delivered to an endpoint still configured is delivered,
// in order per repository — and starts the deliveries.
func Open(o Options) (*Queue, error) {
	names := map[string]bool{}
	for i, e := range o.Endpoints {
		if err := e.Check(); err != nil {
			return nil, fmt.Errorf("notification endpoint %d (%q): %w", i, e.Name, err)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("notification endpoint %d: name %q used twice", i, e.Name)
		}
		names[e.Name] = true
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("notification queue: maximum size %d, want 0 or more", o.MaxBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Source.InstanceID == "" {
		o.Source.InstanceID = NewID()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("notification queue: %w", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		dir:           o.Dir,
		maxBytes:      o.MaxBytes,
		segBytes:      min(max(o.MaxBytes/8, 4<<10), 16<<20),
		source:        o.Source,
		log:           o.Logger,
		obs:           o.Observer,
		lockFile:      lock,
		in:            make(chan *batch, 1024),
		quit:          make(chan struct{}),
		committerDone: make(chan struct{}),
		nextSeq:       1,
		ctx:           ctx,
		cancel:        cancel,
	}
	if err := q.replay(o.Endpoints); err != nil {
		cancel()
		q.closeFiles()
		return nil, fmt.Errorf("notification queue %s: %w", o.Dir, err)
	}
	go q.commitLoop()
	return q, nil
}

// lockDir takes the directory's lock, so that two processes (two nodes
// sharing a filesystem root, say) never write one queue.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("notification queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("notification queue %s is in use by another process; give each registry process a directory of its own", dir)
		}
		return nil, fmt.Errorf("notification queue: lock %s: %w", dir, err)
	}
	return f, nil
}

// replay reads the ack logs and the segments, queues what is left to
// deliver, removes what is not, and starts a new segment to write.
func (q *Queue) replay(endpoints []Endpoint) error {
	byName := map[string]*endpoint{}
	acked := map[*endpoint]map[uint64]bool{}
	for _, e := range endpoints {
		ep := &endpoint{Endpoint: e.withDefaults(), client: newClient(), sem: make(chan struct{}, concurrency), repos: map[string]*repoQueue{}}
		var err error
		if ep.acks, acked[ep], err = openAckLog(q.dir, e.Name); err != nil {
			return err
		}
		q.eps = append(q.eps, ep)
		byName[e.Name] = ep
		for s := range acked[ep] {
			q.nextSeq = max(q.nextSeq, s+1)
		}
	}
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return err
	}
	var firsts []uint64
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)
	removed := map[string]int{}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, first := range firsts {
		// Sequence numbers never go back, even past segments whose
		// records were all delivered: acks of them may remain.
		q.nextSeq = max(q.nextSeq, first)
		s := &segment{first: first, path: segmentPath(q.dir, first)}
		if s.f, err = os.OpenFile(s.path, os.O_RDWR, 0); err != nil {
			return err
		}
		q.segs = append(q.segs, s)
		end, err := s.scan(func(seq uint64, off int64, n int, data []byte) error {
			q.nextSeq = max(q.nextSeq, seq+1)
			var rec record
			if err := json.Unmarshal(data, &rec); err != nil {
				// Its CRC holds, so Berth wrote it: a bug, not a crash.
				// Starting matters more than the record.
				q.log.Error("notification queue: dropping an unreadable record", "segment", s.path, "record", seq, "error", err)
				return nil
			}
			for _, name := range rec.Endpoints {
				ep := byName[name]
				switch {
				case ep == nil:
					removed[name]++
				case !acked[ep][seq]:
					q.pushLocked(ep, rec.Repo, ref{seq: seq, seg: s, off: off, n: n})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if fi, err := s.f.Stat(); err == nil && fi.Size() > end {
			// A crash during a commit: nobody was answered for these bytes.
			q.log.Warn("notification queue: cutting an incomplete record at the end of a segment", "segment", s.path, "offset", end, "bytes", fi.Size()-end)
			if err := s.f.Truncate(end); err != nil {
				return err
			}
		}
		s.size = end
		q.total += end
	}
	for name, n := range removed {
		q.log.Warn("notification queue: dropping the events of an endpoint no longer configured", "endpoint", name, "events", n)
		q.obs.EventsDropped(name, "endpoint_removed", n)
	}
	// The last segment, if empty, goes on being written; else a new one.
	var active *segment
	if n := len(q.segs); n > 0 && q.segs[n-1].size == 0 {
		active = q.segs[n-1]
	} else {
		if active, err = createSegment(q.dir, q.nextSeq); err != nil {
			return err
		}
		q.segs = append(q.segs, active)
	}
	for _, s := range slices.Clone(q.segs) {
		if s.live == 0 && s != active {
			q.removeSegmentLocked(s)
		}
	}
	pending := 0
	for _, ep := range q.eps {
		if err := ep.acks.compact(q.segs[0].first); err != nil {
			return err
		}
		q.obs.QueueDepth(ep.Name, ep.depth)
		pending += ep.depth
	}
	if pending > 0 {
		q.log.Info("notification queue: delivering events queued before the restart", "dir", q.dir, "events", pending)
	}
	return nil
}

// closeFiles releases what a failed Open holds. Deliveries it started end
// with the context.
func (q *Queue) closeFiles() {
	q.workers.Wait()
	for _, s := range q.segs {
		s.f.Close()
	}
	for _, ep := range q.eps {
		if ep.acks != nil {
			ep.acks.close()
		}
	}
	q.lockFile.Close()
}

type nopObserver struct{}

func (nopObserver) EventQueued(string)                           {}
func (nopObserver) DeliveryAttempt(string, time.Duration, error) {}
func (nopObserver) EventsDropped(string, string, int)            {}
func (nopObserver) QueueDepth(string, int)                       {}
func (nopObserver) QueueSynced(int)                              {}
