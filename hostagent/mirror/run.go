package mirror

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/keylock"
	"github.com/berth-registry/berth/registry/client"
)

// Options tune Sync.
type Options struct {
	// DryRun reads what it must (tags, manifests, HEADs at the
	// destination) and writes nothing; the summary counts what would be
	// copied.
	DryRun bool
	// Rules runs only the rules of these names; empty runs them all.
	Rules []string
	// Drain, once closed, lets the images in flight finish and starts no
	// more: the run ends early with Stopped set. Cancelling ctx instead
	// abandons the images in flight.
	Drain <-chan struct{}
	// Report hears the outcome of each image as it is decided (from
	// several goroutines at once).
	Report func(Image)
}

// Image is what happened to one image of a run.
type Image struct {
	Rule        string        `json:"rule"`
	Source      string        `json:"source"`
	Destination string        `json:"destination"`
	Digest      digest.Digest `json:"digest,omitempty"`
	// Action is "copied" (or, in a dry run, would be), "skipped" (the
	// destination had this digest already) or "failed".
	Action    string `json:"action"`
	Blobs     Counts `json:"blobs"`
	Bytes     int64  `json:"bytes"`               // blob bytes moved
	Referrers int    `json:"referrers,omitempty"` // referrer manifests copied
	// Warnings say what the image was stored without: a foreign layer
	// that neither its URLs nor the registry gave (into the store only).
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
	Err      error    `json:"-"`
}

// Counts counts the images or the blobs of a run.
type Counts struct {
	Copied  int `json:"copied"`
	Mounted int `json:"mounted"` // blobs only: mounted from another repository of the destination
	Skipped int `json:"skipped"` // already at the destination
	Failed  int `json:"failed"`
}

func (c *Counts) add(o Counts) {
	c.Copied += o.Copied
	c.Mounted += o.Mounted
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

// Summary is what one run of one rule did.
type Summary struct {
	Rule      string        `json:"rule"`
	DryRun    bool          `json:"dryRun,omitempty"`
	Stopped   bool          `json:"stopped,omitempty"` // drained or cancelled before every image was done
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
	Images    Counts        `json:"images"`
	Blobs     Counts        `json:"blobs"`
	Bytes     int64         `json:"bytes"`
	Referrers int           `json:"referrers"`
	Failures  []Failure     `json:"failures,omitempty"`
}

// Failure is an image (or a listing) that failed.
type Failure struct {
	Image string `json:"image"`
	Error string `json:"error"`
	err   error
}

// Sync runs the rules of cfg once each, in order: it lists what each
// source offers (a repository's tags, a prefix's repositories from the
// catalog, the store's images) through the rule's tag filter, and copies
// each image that the destination lacks.
//
// Only what is missing moves. The destination's manifest is asked for
// first (HEAD) and an image whose digest is already there is skipped, so a
// second run of an unchanged rule transfers no blob; otherwise each blob is
// checked with HEAD, mounted from another repository of the destination
// registry where sync knows it to be (the source repository on the same
// registry, repositories it copied to, and for the store its
// sources.json), and else streamed from source to destination
// (BlobGet into BlobPut, verified, never whole in memory). Referrers of a
// copied or skipped image are copied after it (rule.referrers); a
// destination without the referrers API gets the referrers tag schema.
//
// An index is copied whole with platforms "all". With a list of platforms,
// only the children for those platforms (and their attestations) are
// copied and the index goes to a registry unchanged, a sparse index whose
// digest stays the source's (the destination must accept sparse indexes,
// as Berth and Distribution do with validation.manifests.indexes.platforms
// none or list); in the store, one platform becomes the image itself, as
// install does, and several an index of just those.
//
// It returns a summary per rule run. Failures of single images do not stop
// the run: they are counted and listed, and the error returned then wraps
// the first of them (with its class: client.ErrUnauthorized, ...). A
// config that does not check, or an unknown rule name, is errdefs.ErrInvalid.
func (m *Mirror) Sync(ctx context.Context, cfg *Config, opts Options) ([]Summary, error) {
	comp, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	rules, err := comp.pick(opts.Rules)
	if err != nil {
		return nil, err
	}
	s := m.newSyncer(comp, newKnownBlobs(), opts.DryRun)
	var out []Summary
	var first error
	failed := 0
	for _, r := range rules {
		if isClosed(opts.Drain) || ctx.Err() != nil {
			break
		}
		sum := s.run(ctx, r, opts)
		out = append(out, sum)
		failed += sum.Images.Failed
		for _, f := range sum.Failures {
			if first == nil {
				first = f.err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("sync: %w", err)
	}
	if first != nil {
		return out, fmt.Errorf("sync: %d image(s) failed; the first: %w", max(failed, 1), first)
	}
	return out, nil
}

// pick returns the rules named, all when names is empty.
func (c *compiled) pick(names []string) ([]*syncRule, error) {
	if len(names) == 0 {
		return c.rules, nil
	}
	var out []*syncRule
	for _, n := range names {
		i := slices.IndexFunc(c.rules, func(r *syncRule) bool { return r.name == n })
		if i < 0 {
			var all []string
			for _, r := range c.rules {
				all = append(all, fmt.Sprintf("%q", r.name))
			}
			return nil, fmt.Errorf("sync: no rule named %q (rules: %s): %w", n, strings.Join(all, ", "), errdefs.ErrInvalid)
		}
		out = append(out, c.rules[i])
	}
	return out, nil
}

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// syncer runs rules with one client whose transport enforces the
// configured limits.
type syncer struct {
	m      *Mirror
	c      *client.Client
	limits *syncLimits
	known  *knownBlobs
	// blobs is one transfer per blob and destination registry at a time:
	// two images that share a blob (two tags of one image, a common base)
	// copied at once would otherwise both move it; with a lock per blob
	// the second waits, then finds it there or mounts it.
	blobs  *keylock.Map
	dryRun bool
}

// newSyncer builds the client of a sync: the agent's credentials and
// client options, plus plain HTTP for the registries configured insecure,
// over a base transport of its own that waits for each registry's rate.
func (m *Mirror) newSyncer(comp *compiled, known *knownBlobs, dryRun bool) *syncer {
	limits := newSyncLimits(comp.registries)
	var base http.RoundTripper = http.DefaultTransport
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		base = t.Clone()
	}
	opts := append([]client.Option{client.WithCredentials(m.creds)}, m.clientOpts...)
	opts = append(opts, client.WithInsecure(limits.insecure()...), client.WithTransport(&rateTransport{next: base, limits: limits}))
	return &syncer{m: m, c: client.New(opts...), limits: limits, known: known, blobs: &keylock.Map{}, dryRun: dryRun}
}

// syncJob is one image to copy.
type syncJob struct {
	src, dst client.Reference
	entry    v1.Descriptor // a local source's index entry
}

// run runs one rule once.
func (s *syncer) run(ctx context.Context, r *syncRule, opts Options) Summary {
	sum := Summary{Rule: r.name, DryRun: s.dryRun, Started: time.Now()}
	jobs, failures := s.plan(ctx, r)
	for _, f := range failures {
		sum.Images.Failed++
		sum.Failures = append(sum.Failures, f)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.limits.concurrency(registryOf(r.src), registryOf(r.dst)))
loop:
	for _, j := range jobs {
		if isClosed(opts.Drain) {
			sum.Stopped = true
			break
		}
		select {
		case sem <- struct{}{}:
		case <-opts.Drain:
			sum.Stopped = true
			break loop
		case <-ctx.Done():
			sum.Stopped = true
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := s.copyImage(ctx, r, j)
			mu.Lock()
			sum.addImage(res)
			mu.Unlock()
			if opts.Report != nil {
				opts.Report(res)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		sum.Stopped = true
	}
	sum.Duration = time.Since(sum.Started)
	return sum
}

func (sum *Summary) addImage(res Image) {
	switch res.Action {
	case "copied":
		sum.Images.Copied++
	case "skipped":
		sum.Images.Skipped++
	default:
		sum.Images.Failed++
		sum.Failures = append(sum.Failures, Failure{Image: res.Source, Error: res.Error, err: res.Err})
	}
	sum.Blobs.add(res.Blobs)
	sum.Bytes += res.Bytes
	sum.Referrers += res.Referrers
}

func registryOf(e endpoint) string {
	if e.local {
		return ""
	}
	return e.ref.Registry
}

// imageStats gathers the counts of one image from its blob goroutines.
type imageStats struct {
	mu        sync.Mutex
	blobs     Counts
	bytes     int64
	referrers int
	warnings  []string
}

func (st *imageStats) count(f func(st *imageStats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(st)
}

// copyImage copies one image to the rule's destination.
func (s *syncer) copyImage(ctx context.Context, r *syncRule, j syncJob) Image {
	res := Image{Rule: r.name, Source: j.src.String(), Destination: j.dst.String()}
	if r.src.local {
		res.Source = "local:" + res.Source
	}
	if r.dst.local {
		res.Destination = "local:" + res.Destination
	}
	st := &imageStats{}
	var err error
	if r.dst.local {
		res.Action, res.Digest, err = s.toLocal(ctx, r, j, st)
	} else {
		res.Action, res.Digest, err = s.toRegistry(ctx, r, j, st)
	}
	if err != nil {
		res.Action, res.Err, res.Error = "failed", err, err.Error()
	}
	res.Blobs, res.Bytes, res.Referrers = st.blobs, st.bytes, st.referrers
	if err == nil {
		res.Warnings = st.warnings
	}
	return res
}
