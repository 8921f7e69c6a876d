package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	workers   = 16
	largeSize = 64 << 20
)

// The ledger records what the registry acknowledged, as the expectations
// the checks hold it to. An operation is recorded as uncertain before its
// request is sent and as acknowledged only once its 201 or 202 arrived: a
// crash, or any error, leaves it uncertain, and then either outcome is
// allowed.

// blobExp is a blob upload acknowledged with 201: it must be pullable from
// its repository.
type blobExp struct {
	repo   string
	digest digest.Digest
	size   int64
}

// manifestExp is a manifest pushed to repo. sure: its PUT was acknowledged
// and no DELETE of it was sent since, so it must be there; otherwise it may
// be there or not, but if it is, it must be whole.
type manifestExp struct {
	repo    string
	digest  digest.Digest
	payload []byte
	blobs   []digest.Digest
	sure    bool
	gone    bool // its DELETE was acknowledged
}

// tagExp is what a tag may point to. sure: the tag must resolve (to one of
// allowed); otherwise it may also be absent.
type tagExp struct {
	repo, tag string
	allowed   []digest.Digest
	sure      bool
}

// worker is one client of the storm with the ledger of its own
// repositories: each worker pushes only to its own, so at most one of its
// operations is in flight when the crash comes.
type worker struct {
	id        int
	rng       *rand.Rand
	repos     []string
	blobs     []blobExp
	manifests []*manifestExp
	tags      map[string]*tagExp // by repo:tag
	acked     int                // operations acknowledged, in all
	base      []blob             // layers every worker pushes now and then, as images share base layers
	halted    *atomic.Bool       // set when the storm ends: start no new operation
	cut       *atomic.Bool       // set just before a crash of the registry: send no more requests
	acks      *atomic.Int64      // acknowledgements of the current storm

	// failures are the requests that failed other than by the storm's
	// end, each prefixed with op, the kind of operation it was part of
	// ("push", "move" or "delete"); the GC storm holds them to zero
	// BLOB_UNKNOWN.
	failures []string
	op       string
	// Acknowledged operations by kind.
	pushes, moves, deletes, mounts, skips int
	// recent are the last layers this worker pushed, which it pushes
	// again now and then as an unchanged layer of a rebuilt image: by then
	// the image that had it may be deleted, the layer unreferenced and due
	// for collection.
	recent []blob
}

func newWorkers(seed uint64) []*worker {
	rng := rand.New(rand.NewPCG(seed, 1<<33))
	base := make([]blob, 4)
	for i := range base {
		b := make([]byte, 32<<10)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		base[i] = smallBlob(b)
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{
			id:    i,
			rng:   rand.New(rand.NewPCG(seed, uint64(i))),
			repos: []string{fmt.Sprintf("crash/w%02d/a", i), fmt.Sprintf("crash/w%02d/b", i)},
			tags:  map[string]*tagExp{},
			base:  base,
		}
	}
	return ws
}

// storm runs every worker against c, calls crash after crashAt, lets the
// storm go on for tail, and then ends it. Worker 0 starts with an image
// with large as a layer when large is not nil (a 64 MiB blob, hashed
// before the storm so that the storm's time goes to pushing it).
//
// With tail 0 (the crash ends the registry), the workers send nothing
// after the crash: a request sent later would fail for certain and
// needlessly turn expectations uncertain; the storm ends at once. With a
// tail (the registry lives on), the operations in flight at its end are
// allowed to finish, for at most two minutes.
//
// It returns the number of acknowledgements before the crash, while crash
// ran, and after.
func storm(c *client, ws []*worker, large *blob, crashAt time.Duration, crash func(), tail time.Duration) (before, during, after int64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var halted, cut atomic.Bool
	var acks atomic.Int64
	var wg sync.WaitGroup
	for _, w := range ws {
		w.halted, w.cut, w.acks = &halted, &cut, &acks
		wg.Go(func() {
			if large != nil && w.id == 0 {
				w.pushLarge(ctx, c, *large)
			}
			for !w.stopped(ctx) {
				w.step(ctx, c)
			}
		})
	}
	time.Sleep(crashAt)
	if tail == 0 {
		cut.Store(true)
		halted.Store(true)
	}
	before = acks.Load()
	crash()
	during = acks.Load() - before
	time.Sleep(tail)
	halted.Store(true)
	if tail > 0 {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
		}
	}
	cancel()
	wg.Wait()
	return before, during, acks.Load() - before - during
}

// ack records one acknowledged operation.
func (w *worker) ack() {
	w.acked++
	w.acks.Add(1)
}

// stopped reports that the worker is to start no new operation.
func (w *worker) stopped(ctx context.Context) bool { return ctx.Err() != nil || w.halted.Load() }

// cutOff reports that the worker is to send no further request.
func (w *worker) cutOff(ctx context.Context) bool { return ctx.Err() != nil || w.cut.Load() }

// step does one random operation: mostly pushing an image, sometimes
// moving a tag or deleting a manifest.
func (w *worker) step(ctx context.Context, c *client) {
	switch p := w.rng.IntN(100); {
	case p < 65:
		w.op = "push"
		_ = w.pushImage(ctx, c, nil)
	case p < 85:
		w.op = "move"
		w.moveTag(ctx, c)
	default:
		w.op = "delete"
		w.deleteManifest(ctx, c)
	}
}

func (w *worker) repo() string { return w.repos[w.rng.IntN(len(w.repos))] }

// pushBlob pushes b into repo, monolithic or chunked at random, and
// records it when acknowledged.
func (w *worker) pushBlob(ctx context.Context, c *client, repo string, b blob) bool {
	var chunk int64
	if w.rng.IntN(2) == 0 {
		chunk = max(b.size/int64(2+w.rng.IntN(3)), 1)
	}
	if w.cutOff(ctx) {
		return false
	}
	if err := c.pushBlob(ctx, repo, b, chunk); err != nil {
		w.failed(ctx, err)
		return false
	}
	w.blobs = append(w.blobs, blobExp{repo: repo, digest: b.digest, size: b.size})
	w.ack()
	return true
}

// failed records err unless the storm is ending (its requests cancelled).
func (w *worker) failed(ctx context.Context, err error) {
	if !w.cutOff(ctx) {
		w.failures = append(w.failures, w.op+": "+err.Error())
	}
}

// placeBase puts shared base layer b into repo as a client that knows it
// may be there: at random it HEADs it and skips the upload when it is
// there, mounts it from another worker's repository, or uploads it.
func (w *worker) placeBase(ctx context.Context, c *client, repo string, b blob) bool {
	return w.place(ctx, c, repo, b, w.rng.IntN(3))
}

// place puts b into repo: after a HEAD that finds it there, skipping the
// upload (how 0), by a mount (1), or by an upload (2).
func (w *worker) place(ctx context.Context, c *client, repo string, b blob, how int) bool {
	if w.cutOff(ctx) {
		return false
	}
	switch how {
	case 0:
		ok, err := c.blobExists(ctx, repo, b.digest)
		if err != nil {
			w.failed(ctx, err)
			return false
		}
		if ok {
			w.skips++
			return true
		}
	case 1:
		from := fmt.Sprintf("crash/w%02d/%c", w.rng.IntN(workers), 'a'+rune(w.rng.IntN(2)))
		mounted, err := c.mountBlob(ctx, repo, from, b)
		if err != nil {
			w.failed(ctx, err)
			return false
		}
		if mounted {
			w.mounts++
		}
		w.blobs = append(w.blobs, blobExp{repo: repo, digest: b.digest, size: b.size})
		w.ack()
		return true
	}
	return w.pushBlob(ctx, c, repo, b)
}

func (w *worker) randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return b
}

// pushImage pushes a random config and 1-3 small layers, random or one of
// the shared base layers (and
// extra, when given, as one more layer), then the manifest by tag or by
// digest. It reports whether the manifest was acknowledged.
func (w *worker) pushImage(ctx context.Context, c *client, extra *blob) bool {
	repo := w.repo()
	config := smallBlob(fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"nonce":%d}`, w.rng.Uint64()))
	layers := make([]blob, 1+w.rng.IntN(3))
	for i := range layers {
		layers[i] = smallBlob(w.randomBytes(1 + w.rng.IntN(64<<10)))
	}
	shared := w.rng.IntN(3) == 0
	reused := !shared && len(w.recent) > 0 && w.rng.IntN(3) == 0
	switch {
	case shared: // concurrent uploads of one digest, by several workers
		layers[0] = w.base[w.rng.IntN(len(w.base))]
	case reused:
		layers[0] = w.recent[w.rng.IntN(len(w.recent))]
	default:
		w.recent = append(w.recent, layers[0])
		if len(w.recent) > 8 {
			w.recent = w.recent[1:]
		}
	}
	if extra != nil {
		layers = append([]blob{*extra}, layers...)
	}
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: config.digest, Size: config.size},
	}
	exp := &manifestExp{repo: repo, blobs: []digest.Digest{config.digest}}
	// The large layer first, while the storm is young.
	for i, b := range append(layers, config) {
		place := w.pushBlob
		switch {
		case shared && i == 0:
			place = w.placeBase
		case reused && i == 0:
			place = func(ctx context.Context, c *client, repo string, b blob) bool { return w.place(ctx, c, repo, b, 0) }
		}
		if !place(ctx, c, repo, b) {
			return false
		}
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: l.digest, Size: l.size})
		exp.blobs = append(exp.blobs, l.digest)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	exp.payload, exp.digest = payload, digest.FromBytes(payload)
	if w.cutOff(ctx) {
		return false
	}
	w.manifests = append(w.manifests, exp)
	ref := exp.digest.String()
	if w.rng.IntN(3) > 0 {
		ref = fmt.Sprintf("t%d", w.rng.IntN(4))
	}
	w.putManifest(ctx, c, exp, ref)
	if exp.sure {
		w.pushes++
	}
	return exp.sure
}

// putManifest PUTs exp's payload as ref (a digest or a tag).
func (w *worker) putManifest(ctx context.Context, c *client, exp *manifestExp, ref string) {
	if w.cutOff(ctx) {
		return
	}
	var te *tagExp
	if ref != exp.digest.String() {
		key := exp.repo + ":" + ref
		if te = w.tags[key]; te == nil {
			te = &tagExp{repo: exp.repo, tag: ref}
			w.tags[key] = te
		}
		if !slices.Contains(te.allowed, exp.digest) {
			te.allowed = append(te.allowed, exp.digest)
		}
	}
	_, err := c.expect(ctx, http.StatusCreated, http.MethodPut, "/v2/"+exp.repo+"/manifests/"+ref,
		bytes.NewReader(exp.payload), int64(len(exp.payload)), "Content-Type", v1.MediaTypeImageManifest)
	if err != nil {
		w.failed(ctx, err)
		return
	}
	exp.sure = true
	if te != nil {
		te.allowed, te.sure = []digest.Digest{exp.digest}, true
	}
	w.ack()
}

// live returns the manifests not known to be deleted, sure ones only when
// sure is set.
func (w *worker) live(sure bool) []*manifestExp {
	var out []*manifestExp
	for _, m := range w.manifests {
		if !m.gone && (m.sure || !sure) {
			out = append(out, m)
		}
	}
	return out
}

// moveTag points a tag at a manifest the registry has.
func (w *worker) moveTag(ctx context.Context, c *client) {
	ms := w.live(true)
	if len(ms) == 0 {
		return
	}
	m := ms[w.rng.IntN(len(ms))]
	before := w.acked
	w.putManifest(ctx, c, m, fmt.Sprintf("t%d", w.rng.IntN(4)))
	if w.acked > before {
		w.moves++
	}
}

// deleteManifest deletes a manifest by digest, which also deletes the tags
// pointing to it.
func (w *worker) deleteManifest(ctx context.Context, c *client) {
	ms := w.live(false)
	if len(ms) == 0 {
		return
	}
	m := ms[w.rng.IntN(len(ms))]
	if w.cutOff(ctx) {
		return
	}
	m.sure = false
	var tags []*tagExp
	for _, te := range w.tags {
		if te.repo == m.repo && slices.Contains(te.allowed, m.digest) {
			te.sure = false
			tags = append(tags, te)
		}
	}
	_, err := c.expect(ctx, http.StatusAccepted, http.MethodDelete, "/v2/"+m.repo+"/manifests/"+m.digest.String(), nil, 0)
	if err != nil {
		w.failed(ctx, err)
		return
	}
	w.deletes++
	m.gone = true
	for _, te := range tags {
		te.allowed = slices.DeleteFunc(te.allowed, func(d digest.Digest) bool { return d == m.digest })
		if len(te.allowed) == 0 {
			delete(w.tags, te.repo+":"+te.tag)
		}
	}
	w.ack()
}

// pushLarge pushes an image with the large layer b, again after a failure
// (the S3 server's outage), until it is acknowledged or the storm ends.
func (w *worker) pushLarge(ctx context.Context, c *client, b blob) {
	w.op = "push"
	for !w.stopped(ctx) && !w.pushImage(ctx, c, &b) {
		time.Sleep(100 * time.Millisecond)
	}
}
