package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// plan lists the images of a rule's source that its filter selects, with
// where each goes. Listing failures are returned as failures of the
// repository or registry concerned; what could be listed is still copied.
func (s *syncer) plan(ctx context.Context, r *syncRule) ([]syncJob, []Failure) {
	if r.src.local {
		return s.planLocal(r)
	}
	fail := func(what string, err error) []Failure {
		return []Failure{{Image: what, Error: err.Error(), err: err}}
	}
	switch r.src.kind {
	case epImage:
		return []syncJob{{src: r.src.ref, dst: r.destFor(r.src.ref)}}, nil
	case epRepo:
		jobs, err := s.planRepo(ctx, r, r.src.ref)
		if err != nil {
			return nil, fail(r.src.ref.Name(), err)
		}
		return jobs, nil
	}
	repos, err := s.c.Catalog(ctx, r.src.ref.Registry)
	if err != nil {
		return nil, fail(r.src.String(), fmt.Errorf("catalog of %s: %w", r.src.ref.Registry, err))
	}
	var jobs []syncJob
	var failures []Failure
	for _, repo := range repos {
		if r.src.ref.Repository != "" && !strings.HasPrefix(repo, r.src.ref.Repository+"/") {
			continue
		}
		ref := client.Reference{Registry: r.src.ref.Registry, Repository: repo}
		js, err := s.planRepo(ctx, r, ref)
		if errors.Is(err, client.ErrNotFound) {
			continue // deleted since the catalog was read
		}
		if err != nil {
			failures = append(failures, fail(ref.Name(), err)...)
			continue
		}
		jobs = append(jobs, js...)
	}
	return jobs, failures
}

func (s *syncer) planRepo(ctx context.Context, r *syncRule, repo client.Reference) ([]syncJob, error) {
	tags, err := s.c.Tags(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo.Name(), err)
	}
	var jobs []syncJob
	for _, t := range r.filter.apply(tags) {
		src := repo.WithTag(t)
		jobs = append(jobs, syncJob{src: src, dst: r.destFor(src)})
	}
	return jobs, nil
}

// planLocal lists the store's images that a local source names.
func (s *syncer) planLocal(r *syncRule) ([]syncJob, []Failure) {
	idx, err := s.m.store.ReadIndex()
	if err != nil {
		return nil, []Failure{{Image: r.src.String(), Error: err.Error(), err: err}}
	}
	byRepo := map[string][]string{}
	entries := map[string]v1.Descriptor{}
	var repos []string
	for _, e := range idx.Manifests {
		ref, err := client.ParseReference(store.EntryName(e))
		if err != nil {
			continue // a name another tool gave; not a reference
		}
		want := r.src.ref
		switch {
		case r.src.kind == epImage && ref.String() != want.String():
			continue
		case r.src.kind == epRepo && ref.Name() != want.Name():
			continue
		case r.src.kind == epPrefix && want.Registry != "" && (ref.Registry != want.Registry ||
			(want.Repository != "" && !strings.HasPrefix(ref.Repository, want.Repository+"/"))):
			continue
		case r.src.kind != epImage && ref.Tag == "":
			continue // an untagged name: only an image source picks it
		}
		entries[ref.String()] = e
		if _, ok := byRepo[ref.Name()]; !ok {
			repos = append(repos, ref.Name())
		}
		byRepo[ref.Name()] = append(byRepo[ref.Name()], ref.Tag)
	}
	var jobs []syncJob
	for _, name := range repos {
		tags := byRepo[name]
		if r.filter != nil {
			tags = r.filter.apply(tags)
		}
		for _, t := range tags {
			src, _ := client.ParseReference(name + ":" + t)
			if r.src.kind == epImage {
				src = r.src.ref
			}
			jobs = append(jobs, syncJob{src: src, dst: r.destFor(src), entry: entries[src.String()]})
		}
	}
	return jobs, nil
}

// knownBlobs remembers, per registry, repositories that hold a blob, so
// that a later copy to the same registry mounts it rather than uploading.
type knownBlobs struct {
	mu   sync.Mutex
	repo map[string]map[digest.Digest][]string
}

func newKnownBlobs() *knownBlobs { return &knownBlobs{repo: map[string]map[digest.Digest][]string{}} }

// add notes that blob d is in repository repo of registry, and says
// whether that was new.
func (k *knownBlobs) add(registry, repo string, d digest.Digest) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.repo[registry]
	if m == nil {
		m = map[digest.Digest][]string{}
		k.repo[registry] = m
	}
	if slices.Contains(m[d], repo) {
		return false
	}
	m[d] = append([]string{repo}, m[d][:min(len(m[d]), store.MaxSources-1)]...)
	return true
}

func (k *knownBlobs) repos(registry string, d digest.Digest) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.repo[registry][d])
}
