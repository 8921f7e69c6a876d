package main

import (
	"log/slog"

	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
)

// openPolicies returns where the repository policies come from: the file
// policies.file names, re-read when it changes, or the section inline in
// config.yml. Without either the registry has no policies (nil).
func openPolicies(cfg *config.Config, logger *slog.Logger) (registry.PolicySource, error) {
	if f := cfg.Policies.File; f != "" {
		w, err := watchfile.Open(f, "requests the policies govern are refused", config.ParsePolicies, logger)
		if err != nil {
			return nil, err
		}
		return w, nil
	}
	s, err := cfg.PolicySet()
	if err != nil {
		return nil, err
	}
	return watchfile.Static(s), nil
}
