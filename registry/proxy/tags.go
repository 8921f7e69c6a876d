package proxy

import (
	"context"
	"errors"
	"slices"

	"github.com/berth-registry/berth/registry/storage"
)

// Tags lists the tags of repository name in byte-wise order: the
// upstream's list, as Distribution's cache answers, or, when the upstream
// cannot give it, the tags cached here (with a log line). Errors:
// storage.ErrNameInvalid; *UpstreamError (storage.ErrNameUnknown,
// storagedriver.ErrUnavailable) when neither has the repository.
func (c *Cache) Tags(ctx context.Context, name string) ([]string, error) {
	if err := storage.CheckName(name); err != nil {
		return nil, err
	}
	u, rref, ok := c.route(name)
	if !ok {
		return c.store.Tags(ctx, name)
	}
	tags, err := u.client.Tags(ctx, rref)
	if err == nil {
		slices.Sort(tags)
		return append([]string{}, slices.Compact(tags)...), nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	uerr := u.fail(ctx, "tags of "+name, err, storage.ErrNameUnknown)
	local, lerr := c.store.Tags(ctx, name)
	if lerr != nil {
		if !errors.Is(lerr, storage.ErrNameUnknown) {
			c.log.ErrorContext(ctx, "proxy: cannot list cached tags", "repository", name, "err", lerr)
		}
		return nil, uerr
	}
	c.log.WarnContext(ctx, "proxy: serving the cached tag list", "repository", name, "upstream", u.RemoteURL, "err", err)
	return local, nil
}
