package mirror

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/foreign"
	"github.com/berth-registry/berth/registry/client"
)

// WithForeignURLs returns a Mirror like m whose syncs into the store fetch
// foreign and non-distributable layers only from the URLs allow matches
// (nil, the default, allows any http or https URL), as install's
// --foreign-urls.
func (m *Mirror) WithForeignURLs(allow *regexp.Regexp) *Mirror {
	c := *m
	c.foreignURLs = allow
	return &c
}

// fetchForeign brings the foreign or non-distributable layer b of ref into
// the store as install does: from the URLs of its descriptor, else from
// the registry (which holds it when it was pushed with
// --allow-nondistributable). When neither gives it, the image is stored
// without it and st gets a warning naming the layer, its URLs and why:
// not a failure. Content that does not match the digest is.
func (s *syncer) fetchForeign(ctx context.Context, ref client.Reference, b v1.Descriptor, st *imageStats) error {
	var moved atomic.Int64
	why, err := foreign.Fetch(ctx, s.m.store, b, s.m.foreignURLs, foreign.Observer{Write: func(n int) { moved.Add(int64(n)) }})
	if err != nil || why == "" {
		s.countFetch(st, true, moved.Load(), err)
		return err
	}
	fetched, n, err := s.fromRegistry(ctx, ref, b)
	switch {
	case err == nil:
		s.countFetch(st, fetched, n, nil)
		return nil
	case errors.Is(err, errdefs.ErrCorrupt) || ctx.Err() != nil:
		s.countFetch(st, false, 0, err)
		return fmt.Errorf("foreign layer %s from the registry: %w", b.Digest, err)
	}
	w := foreign.Warning(ref.String(), b, foreign.NotInRegistry(why))
	st.count(func(st *imageStats) { st.warnings = append(st.warnings, w) })
	return nil
}
