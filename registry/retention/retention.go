package retention

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
)

// Options configures one run.
type Options struct {
	// DryRun prints what the rules decide and deletes nothing.
	DryRun bool
	// Grace spares what was written or relied on this recently; at least
	// every serving node's storage.gc.grace. 0: storage.DefaultGCGrace.
	Grace time.Duration
	// Now is the time the rules judge ages by; zero: the store's clock.
	Now time.Time
	// Out receives the report: per repository a rule names, each tag and
	// manifest kept or deleted and why. Nil discards it.
	Out io.Writer
}

// Report counts what a run did (with DryRun: would do).
type Report struct {
	Repositories     int // in the catalog
	Governed         int // that a rule names
	TagsDeleted      int
	ManifestsDeleted int
	Spared           int // deletions skipped because of concurrent requests
}

func (r *Report) String() string {
	return fmt.Sprintf("%d tags, %d manifests in %d repositories (%d governed by rules); %d spared",
		r.TagsDeleted, r.ManifestsDeleted, r.Repositories, r.Governed, r.Spared)
}

// Run applies set's retention rules to every repository of s.
func Run(ctx context.Context, s *storage.Store, set *policy.Set, opts Options) (*Report, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	now := opts.Now
	if now.IsZero() {
		now = s.Now()
	}
	// A dry run writes nothing, not even the repository index that
	// Catalog builds on a root without one.
	list := func(ctx context.Context) ([]string, error) { return s.Catalog(ctx, -1, "") }
	if opts.DryRun {
		list = s.RepositoryNames
	}
	names, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: catalog: %w", err)
	}
	rep := &Report{Repositories: len(names)}
	var pr *storage.Pruner
	if !opts.DryRun {
		if pr, err = s.NewPruner(ctx, opts.Grace); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if !set.RetentionGoverns(name) {
			continue
		}
		rep.Governed++
		inv, err := s.Inventory(ctx, name)
		if err != nil {
			return rep, fmt.Errorf("retention: %s: %w", name, err)
		}
		plan := set.Retain(name, inv, now)
		printPlan(out, plan)
		if err := apply(ctx, pr, plan, rep, out); err != nil {
			return rep, fmt.Errorf("retention: %s: %w", name, err)
		}
	}
	return rep, nil
}

func printPlan(out io.Writer, p *policy.Plan) {
	fmt.Fprintf(out, "repository %s\n", p.Repository)
	verb := map[bool]string{true: "keep  ", false: "delete"}
	for _, t := range p.Tags {
		fmt.Fprintf(out, "  %s tag %s (%s): %s\n", verb[t.Keep], t.Tag, t.Digest, t.Reason)
	}
	for _, m := range p.Manifests {
		fmt.Fprintf(out, "  %s manifest %s: %s\n", verb[m.Keep], m.Digest, m.Reason)
	}
}

// apply carries plan out with pr (nil: a dry run, which only counts).
// Tags go first; a tag spared (moved or deleted meanwhile) leaves the
// repository's manifests to the next run, which sees the new state.
// Manifests go referrers first, then indexes, then the rest, so that an
// interrupted run leaves no referrer or child without what reaches it.
func apply(ctx context.Context, pr *storage.Pruner, plan *policy.Plan, rep *Report, out io.Writer) error {
	tagsSpared := false
	for _, t := range plan.Tags {
		if t.Keep {
			continue
		}
		if pr != nil {
			why, err := pr.Untag(ctx, plan.Repository, t.Tag, t.Digest)
			if err != nil {
				return err
			}
			if why != "" {
				fmt.Fprintf(out, "  spared tag %s: %s\n", t.Tag, why)
				rep.Spared++
				tagsSpared = true
				continue
			}
		}
		rep.TagsDeleted++
	}
	var gone []policy.Decision
	for _, m := range plan.Manifests {
		if !m.Keep {
			gone = append(gone, m)
		}
	}
	if tagsSpared && len(gone) > 0 {
		fmt.Fprintf(out, "  spared %d manifests: tags changed during the run; the next run decides\n", len(gone))
		rep.Spared += len(gone)
		return nil
	}
	rank := func(d policy.Decision) int {
		switch {
		case d.Subject != "":
			return 0
		case d.Index:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(gone, func(a, b policy.Decision) int { return rank(a) - rank(b) })
	for _, m := range gone {
		if pr != nil {
			why, err := pr.DeleteManifest(ctx, plan.Repository, m.Digest, m.Subject)
			if err != nil {
				return err
			}
			if why != "" {
				fmt.Fprintf(out, "  spared manifest %s: %s\n", m.Digest, why)
				rep.Spared++
				continue
			}
		}
		rep.ManifestsDeleted++
	}
	return nil
}
