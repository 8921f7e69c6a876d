package parallel

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Each runs fn for every item, at most jobs at once (at least one). The
// first error cancels the ctx the others see, no further item starts, and
// that error is returned; when ctx itself ends, its error is returned.
func Each[T any](ctx context.Context, jobs int, items []T, fn func(ctx context.Context, item T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for _, it := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, it) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
