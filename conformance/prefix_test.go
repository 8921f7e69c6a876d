package conformance_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestConformancePrefix runs the whole conformance suite against a
// registry served under a path prefix (Distribution's http.prefix): the
// suite takes a registry "host:port/registry" and sends every request to
// /registry/v2/..., and follows the Location headers the registry sends,
// which must carry the prefix. Once, on the in-memory driver: the prefix
// is routing, not storage.
func TestConformancePrefix(t *testing.T) {
	t.Parallel()
	bin := suiteBinary(t)
	srv := registrytest.Start(t, inmemory.New(), append(suiteOptions(), registry.WithPrefix("/registry"))...)
	runSuite(t, bin, srv.Host+"/registry", "prefix /registry")
}
