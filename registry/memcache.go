package registry

import "github.com/berth-registry/berth/registry/storage"

// memCacheOption is WithMemCache's choice; nil (no option): a cache of
// the default size.
type memCacheOption struct{ c *storage.MemCache }

func (m *memCacheOption) get() *storage.MemCache {
	if m == nil {
		return storage.NewMemCache(0, 0)
	}
	return m.c
}

// WithMemCache sets the node's in-memory cache of manifests, tags and
// used records (storage.WithMemCache); nil turns it off. Without this
// option the App has one of the default size (storage.NewMemCache(0, 0)).
// Give the same cache to the stores of the process that delete (the
// collector's), so that what they delete is forgotten at once.
func WithMemCache(c *storage.MemCache) Option {
	return func(o *options) { o.memCache = &memCacheOption{c} }
}
