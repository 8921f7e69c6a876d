package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
)

// Quota accounting on one node (docs/policies.md, "Quotas").
//
// For each namespace a quota covers, the node keeps a snapshot of its
// usage: the digests linked in its repositories with their sizes and its
// repositories, from a walk of the storage (storage.NamespaceUsage), plus
// what this node linked since. A check walks again when the snapshot is
// older than the quota's refresh. Checks and the additions they make are
// atomic per node (the namespace's lock), so one node never lets usage
// pass a limit; what other nodes linked since the walk is invisible until
// the next one. Hence, with N nodes, usage can pass a byte limit by at most
// what the other N-1 nodes accepted into the namespace during one refresh
// interval (each of them stays within the limit by its own count), and the
// same holds for repositories. Tags are counted from storage at each
// check, so the tag limit is exact but for pushes racing on several nodes.
// Deletes and garbage collection lower usage at the next walk.
type quotaTracker struct {
	store *storage.Store
	sizes storage.BlobSizes
	now   func() time.Time

	mu     sync.Mutex
	spaces map[string]*nsUsage // by namespace
}

// nsUsage is a node's snapshot of one namespace's usage.
type nsUsage struct {
	mu     sync.Mutex
	walked time.Time // zero: never walked
	gen    int       // counts walks, so that an undo spares a newer walk
	bytes  int64
	blobs  map[digest.Digest]int64
	repos  map[string]bool
}

func newQuotaTracker(s *storage.Store, now func() time.Time) *quotaTracker {
	if now == nil {
		now = time.Now
	}
	return &quotaTracker{store: s, now: now, spaces: map[string]*nsUsage{}}
}

func (t *quotaTracker) space(ns string) *nsUsage {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.spaces[ns]
	if u == nil {
		u = &nsUsage{}
		t.spaces[ns] = u
	}
	return u
}

// walk replaces u's snapshot with a walk of the storage; u is locked.
func (t *quotaTracker) walk(ctx context.Context, ns string, u *nsUsage) error {
	su, err := t.store.NamespaceUsage(ctx, ns, &t.sizes)
	if err != nil {
		return err
	}
	u.set(t.now(), su)
	return nil
}

// set replaces u's snapshot with su, a walk made at now; u is locked.
func (u *nsUsage) set(now time.Time, su *storage.Usage) {
	u.walked, u.gen = now, u.gen+1
	u.bytes, u.blobs, u.repos = su.Bytes, maps.Clone(su.Blobs), map[string]bool{}
	for r := range su.Tags {
		u.repos[r] = true
	}
}

// push is what a request is about to add to repository name.
type push struct {
	name  string
	blobs map[digest.Digest]int64 // digests it links, with their sizes
	tags  []string                // tags it sets
	start bool                    // an upload starts: refused when a namespace is already full
}

// held is a check's locks and what it added, to release or undo.
type held struct {
	spaces []*nsUsage
	gens   []int
	added  []map[digest.Digest]int64
	repos  []bool // whether the check added name to spaces[i].repos
	name   string
}

// charge checks p against every quota of the policies in force and, when
// all allow it, adds it to the snapshots. It returns an undo for when the
// write then fails (nil when no quota applies), or DENIED naming the
// first quota p would exceed.
func (a *App) charge(ctx context.Context, set *policy.Set, p push) (undo func(), err error) {
	qs := set.Quotas(p.name)
	if len(qs) == 0 {
		return nil, nil
	}
	t := a.quota
	// One lock per namespace, taken in a fixed order.
	nss := []string{}
	for _, q := range qs {
		if !slices.Contains(nss, q.Namespace) {
			nss = append(nss, q.Namespace)
		}
	}
	slices.Sort(nss)
	h := &held{name: p.name}
	for _, ns := range nss {
		u := t.space(ns)
		u.mu.Lock()
		h.spaces = append(h.spaces, u)
	}
	unlock := func() {
		for _, u := range h.spaces {
			u.mu.Unlock()
		}
	}
	defer unlock()
	for _, q := range qs {
		if q.MaxBytes == 0 && q.MaxRepositories == 0 {
			continue // tags are counted from storage: no walk needed
		}
		u := h.spaces[slices.Index(nss, q.Namespace)]
		if u.walked.IsZero() || t.now().Sub(u.walked) >= q.Refresh {
			if err := t.walk(ctx, q.Namespace, u); err != nil {
				return nil, err
			}
		}
	}
	var tags []string
	if len(p.tags) > 0 && slices.ContainsFunc(qs, func(q policy.QuotaLimit) bool { return q.MaxTagsPerRepository > 0 }) {
		if tags, err = a.store.Tags(ctx, p.name); err != nil && !errors.Is(err, storage.ErrNameUnknown) {
			return nil, err
		}
	}
	for _, q := range qs {
		u := h.spaces[slices.Index(nss, q.Namespace)]
		if err := a.checkQuota(ctx, q, u, p, tags); err != nil {
			return nil, err
		}
	}
	for _, u := range h.spaces {
		h.gens = append(h.gens, u.gen)
		if u.walked.IsZero() { // only tag limits here: nothing to add to
			h.added, h.repos = append(h.added, nil), append(h.repos, false)
			continue
		}
		added := map[digest.Digest]int64{}
		for d, n := range p.blobs {
			if _, ok := u.blobs[d]; !ok {
				u.blobs[d], added[d] = n, n
				u.bytes += n
			}
		}
		h.added = append(h.added, added)
		h.repos = append(h.repos, !u.repos[p.name])
		u.repos[p.name] = true
	}
	return h.undo, nil
}

// undo takes back what a check added, in the snapshots no walk replaced
// since.
func (h *held) undo() {
	for i, u := range h.spaces {
		u.mu.Lock()
		if u.gen == h.gens[i] {
			for d, n := range h.added[i] {
				delete(u.blobs, d)
				u.bytes -= n
			}
			if h.repos[i] {
				delete(u.repos, h.name)
			}
		}
		u.mu.Unlock()
	}
}

// checkQuota checks push p against quota q, whose namespace's snapshot u
// is locked and fresh. tags are the repository's tags now.
func (a *App) checkQuota(ctx context.Context, q policy.QuotaLimit, u *nsUsage, p push, tags []string) error {
	ns := q.Namespace + "/"
	if q.MaxRepositories > 0 && !u.repos[p.name] {
		// Not in the snapshot: perhaps another node created it since.
		exists, err := a.store.RepositoryExists(ctx, p.name)
		if err != nil {
			return err
		}
		if exists {
			u.repos[p.name] = true
		} else if len(u.repos) >= q.MaxRepositories {
			return newError(codeDenied, "quota exceeded: namespace %s: %d repositories of %d (%s.maxrepositories); a new repository %s would be one more",
				ns, len(u.repos), q.MaxRepositories, q.Key, p.name)
		}
	}
	if q.MaxBytes > 0 {
		if p.start && u.bytes >= q.MaxBytes {
			s := sizes(u.bytes, q.MaxBytes)
			return newError(codeDenied, "quota exceeded: namespace %s: %s used of %s (%s.maxbytes)", ns, s[0], s[1], q.Key)
		}
		var more int64
		for d, n := range p.blobs {
			if _, ok := u.blobs[d]; !ok {
				more += n
			}
		}
		if more > 0 && u.bytes+more > q.MaxBytes {
			s := sizes(u.bytes, more, u.bytes+more, q.MaxBytes)
			return newError(codeDenied, "quota exceeded: namespace %s: %s used + %s new = %s, over %s (%s.maxbytes)",
				ns, s[0], s[1], s[2], s[3], q.Key)
		}
	}
	if q.MaxTagsPerRepository > 0 {
		var fresh []string
		for _, tag := range p.tags {
			if !slices.Contains(tags, tag) && !slices.Contains(fresh, tag) {
				fresh = append(fresh, tag)
			}
		}
		if len(fresh) > 0 && len(tags)+len(fresh) > q.MaxTagsPerRepository {
			return newError(codeDenied, "quota exceeded: repository %s: %d tags of %d (%s.maxtagsperrepository); new tag %s refused",
				p.name, len(tags), q.MaxTagsPerRepository, q.Key, strings.Join(fresh, ", "))
		}
	}
	return nil
}

// sizes writes the figures of a message for people ("10.2 GiB"), or all
// in bytes when rounding would make the last two, a usage and its limit,
// read the same though they differ ("1 MiB, over 1 MiB" says nothing).
func sizes(ns ...int64) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = policy.FormatSize(n)
	}
	if k := len(ns) - 1; out[k-1] == out[k] && ns[k-1] != ns[k] {
		for i, n := range ns {
			out[i] = fmt.Sprintf("%d B", n)
		}
	}
	return out
}

// limited reports whether a quota covers repository name; an error when
// the policies cannot be read.
func (a *App) limited(name string) (bool, error) {
	set, err := a.policies()
	return len(set.Quotas(name)) > 0, err
}

// chargeBlob checks the link of blob d (size bytes) into repository name,
// for a mount or an upload's commit.
func (a *App) chargeBlob(ctx context.Context, name string, d digest.Digest, size int64) (func(), error) {
	set, err := a.policies()
	if err != nil {
		return nil, err
	}
	return a.charge(ctx, set, push{name: name, blobs: map[digest.Digest]int64{d: size}})
}

// chargeManifest checks the put of manifest payload into repository name
// with tags: the manifest and what it references, at the sizes stored.
func (a *App) chargeManifest(ctx context.Context, name, ref, contentType string, payload []byte, tags []string) (func(), error) {
	set, err := a.policies()
	if err != nil || len(set.Quotas(name)) == 0 {
		return nil, err
	}
	p := push{name: name, blobs: map[digest.Digest]int64{}}
	alg := digest.SHA256
	if storage.IsDigest(ref) {
		alg = digest.Digest(ref).Algorithm()
	} else {
		p.tags = append(p.tags, ref)
	}
	p.tags = append(p.tags, tags...)
	if alg.Available() {
		p.blobs[alg.FromBytes(payload)] = int64(len(payload))
	}
	refs, err := storage.ManifestReferences(payload, contentType)
	if err != nil {
		return nil, nil // PutManifest refuses it, with the reason
	}
	for _, d := range refs {
		n, err := a.store.BlobSize(ctx, d, &a.quota.sizes)
		switch {
		case err == nil:
			p.blobs[d] = n
		case errors.Is(err, storage.ErrBlobUnknown):
			// Not stored (a sparse image): it takes no space.
		default:
			return nil, err
		}
	}
	return a.charge(ctx, set, p)
}

// chargeStart checks an upload's start into repository name: refused when
// a namespace is already at its byte limit or the repository would be one
// too many.
func (a *App) chargeStart(ctx context.Context, name string) error {
	set, err := a.policies()
	if err != nil {
		return err
	}
	_, err = a.charge(ctx, set, push{name: name, start: true})
	return err
}

// usageSnapshot replaces the node's snapshot of namespace ns with su, a
// walk just made (the usage endpoint's).
func (t *quotaTracker) usageSnapshot(ns string, su *storage.Usage) {
	u := t.space(ns)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.set(t.now(), su)
}

// chargeMount checks the mount of blob d into repository name; a blob that
// is not stored is not checked (the mount fails, and an upload starts).
func (a *App) chargeMount(ctx context.Context, name string, d digest.Digest) (func(), error) {
	if limited, err := a.limited(name); !limited {
		return nil, err
	}
	n, err := a.store.BlobSize(ctx, d, &a.quota.sizes)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return a.chargeBlob(ctx, name, d, n)
}

// commitCharged runs commit, an upload's commit as blob d of repository
// name, within the quotas. When the blob's size is known beforehand (size
// >= 0: the bytes received plus a last chunk of known length) a blob that
// would take a namespace over its byte limit is refused before the commit
// and the upload discarded: it could never be referenced. Otherwise (a last
// chunk of unknown length) the check follows the commit, and a refused
// blob is unlinked again, left for garbage collection.
func (a *App) commitCharged(ctx context.Context, name string, u *storage.Upload, d digest.Digest, size int64, commit func() error) error {
	limited, err := a.limited(name)
	if err != nil {
		_ = u.Cancel(ctx)
		return err
	}
	if !limited {
		return commit()
	}
	if size >= 0 {
		undo, err := a.chargeBlob(ctx, name, d, size)
		if err != nil {
			_ = u.Cancel(ctx)
			return err
		}
		if err := commit(); err != nil {
			if undo != nil {
				undo()
			}
			return err
		}
		return nil
	}
	if err := commit(); err != nil {
		return err
	}
	n, err := a.store.BlobSize(ctx, d, &a.quota.sizes)
	if err == nil {
		_, err = a.chargeBlob(ctx, name, d, n)
	}
	if err != nil {
		if derr := a.store.DeleteBlob(ctx, name, d); derr != nil {
			a.log.ErrorContext(ctx, "quota: unlinking a refused blob", "repository", name, "digest", d, "err", derr)
		}
		return err
	}
	return nil
}
