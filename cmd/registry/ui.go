package main

import (
	"log/slog"
	"net/http"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/ui"
)

// withUI puts the web UI and the search API in front of app unless
// ui.enabled is false. access holds what authOptions opened.
func withUI(cfg *config.Config, app *registry.App, access ui.Options, logger *slog.Logger) (http.Handler, error) {
	if !cfg.UI.On() {
		return app, nil
	}
	access.Log = logger
	if p := cfg.Proxy; p != nil {
		for _, u := range p.Upstreams {
			access.Upstreams = append(access.Upstreams, ui.Upstream{Prefix: u.Prefix, RemoteURL: u.RemoteURL, TTL: p.UpstreamTTL(u)})
		}
		if p.RemoteURL != "" {
			access.Upstreams = append(access.Upstreams, ui.Upstream{RemoteURL: p.RemoteURL, TTL: p.UpstreamTTL(config.Upstream{})})
		}
	}
	h, err := ui.New(app, access)
	if err != nil {
		return nil, err
	}
	logger.Info("web UI", "path", cfg.HTTP.PathPrefix()+ui.Path)
	return h, nil
}
