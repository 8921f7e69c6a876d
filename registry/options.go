package registry

import (
	"log/slog"
	"net/http"
)

// Option configures an App.
type Option func(*options)

type options struct {
	readOnly       bool
	deleteEnabled  bool
	indexPlatforms string   // "all" (default), "none" or "list"
	platformList   []string // os/arch[/variant], with "list"
	skipLayers     bool
	headers        http.Header
	logger         *slog.Logger
}

// WithReadOnly refuses every write with UNSUPPORTED/405, as Distribution's
// storage.maintenance.readonly.enabled does.
func WithReadOnly(on bool) Option { return func(o *options) { o.readOnly = on } }

// WithDelete allows DELETE of blobs, manifests and tags
// (storage.delete.enabled). Without it they answer UNSUPPORTED/405.
func WithDelete(on bool) Option { return func(o *options) { o.deleteEnabled = on } }

// WithIndexPlatforms follows Distribution's validation.manifests.indexes:
// mode "all" requires every child of an index to exist, "none" requires none,
// "list" requires those whose platform is in platforms ("os/arch[/variant]").
func WithIndexPlatforms(mode string, platforms []string) Option {
	return func(o *options) { o.indexPlatforms, o.platformList = mode, platforms }
}

// WithLayerValidation with false accepts image manifests whose layers are
// not in the repository (sparse images); the config must still be there.
// Berth's validation.manifests.layers: none. The default (true) requires
// every layer, as Distribution does.
func WithLayerValidation(required bool) Option { return func(o *options) { o.skipLayers = !required } }

// WithHeaders adds headers to every response (http.headers).
func WithHeaders(h http.Header) Option { return func(o *options) { o.headers = h } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
