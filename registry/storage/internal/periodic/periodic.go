package periodic

import (
	"context"
	"time"
)

// Flush calls flush every interval until ctx ends, passing its
// failures to report, and writes nothing once ctx ended: the owner of the
// storage then flushes itself, or clears it (a test's clean-up).
func Flush(ctx context.Context, interval time.Duration, flush func(context.Context) error, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := flush(ctx); err != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}
