package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// deliver sends ep's events of one repository, oldest first, each until
// the endpoint accepts it: the next one waits, so that a repository's
// events arrive in order. Other repositories have their own goroutine, so
// that a repository whose events fail does not hold the others back. It
// returns when nothing is left, or at Close.
func (q *Queue) deliver(ep *endpoint, repo string) {
	defer q.workers.Done()
	failures := 0
	for q.ctx.Err() == nil {
		q.mu.Lock()
		rq := ep.repos[repo]
		if len(rq.refs) == 0 {
			delete(ep.repos, repo)
			q.mu.Unlock()
			return
		}
		r := rq.refs[0]
		body, id, err := envelope(r)
		q.mu.Unlock()
		if err != nil {
			q.log.Error("notification queue: dropping an unreadable event", "endpoint", ep.Name, "repository", repo, "error", err)
			q.settle(ep, repo, r.seq, "unreadable")
			continue
		}

		select {
		case ep.sem <- struct{}{}:
		case <-q.ctx.Done():
			return
		}
		start := time.Now()
		err = ep.post(q.ctx, body)
		<-ep.sem
		q.mu.Lock()
		q.obs.DeliveryAttempt(ep.Name, time.Since(start), err)
		q.mu.Unlock()
		if err == nil {
			q.settle(ep, repo, r.seq, "")
			failures = 0
			continue
		}
		if q.ctx.Err() != nil {
			return // abandoned at Close: sent again after the next Open
		}
		failures++
		wait := ep.backoff(failures)
		q.log.Warn("notification delivery failed", "endpoint", ep.Name, "repository", repo, "event", id,
			"failures", failures, "retry_in", wait, "error", err)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-q.ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

// envelope reads a queued record and wraps its event for delivery.
func envelope(r ref) (body []byte, id string, err error) {
	seq, data, err := r.seg.readFrame(r.off, r.n)
	if err != nil {
		return nil, "", err
	}
	if seq != r.seq {
		return nil, "", fmt.Errorf("%s at %d: record %d, want %d", r.seg.path, r.off, seq, r.seq)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, "", fmt.Errorf("record %d: %w", seq, err)
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(rec.Event, &ev) // the id only labels the delivery: none is ""
	body = append([]byte(`{"events":[`), rec.Event...)
	return append(body, "]}"...), ev.ID, nil
}

// settle ends the record seq for ep: delivered (reason "") or dropped for
// reason. It is recorded in ep's ack log, and its segment removed once
// nothing waits for it. A record dropped meanwhile (the queue was full) is
// left alone.
func (q *Queue) settle(ep *endpoint, repo string, seq uint64, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rq := ep.repos[repo]
	if rq == nil || len(rq.refs) == 0 || rq.refs[0].seq != seq {
		return
	}
	r := rq.refs[0]
	rq.refs = rq.refs[1:]
	ep.depth--
	if reason != "" {
		q.obs.EventsDropped(ep.Name, reason, 1)
	}
	q.obs.QueueDepth(ep.Name, ep.depth)
	if err := ep.acks.add(seq); err != nil {
		// The event will be delivered again after a restart.
		q.log.Error("notification queue: recording a delivery", "endpoint", ep.Name, "error", err)
	}
	r.seg.live--
	if r.seg.live == 0 && r.seg != q.segs[len(q.segs)-1] {
		q.removeSegmentLocked(r.seg)
	}
}

// post makes one delivery attempt, bounded by the endpoint's timeout. As
// in Distribution, redirects are followed and a final 2xx or 3xx answer
// accepts the event; anything else is a failure.
func (ep *endpoint) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range ep.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", MediaType)
	resp, err := ep.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s answered %s", ep.URL, resp.Status)
	}
	return nil
}

// newClient is an endpoint's HTTP client, with connections of its own so
// that a receiver that hangs holds only its endpoint's.
func newClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
