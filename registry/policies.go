package registry

import (
	"github.com/berth-registry/berth/registry/policy"
)

// policies returns the repository policies in force: nil when the
// registry has none, an UNAVAILABLE error while they cannot be read.
func (a *App) policies() (*policy.Set, error) {
	if a.opts.policies == nil {
		return nil, nil
	}
	s, err := a.opts.policies.Get()
	if err != nil {
		a.log.Error("repository policies unavailable", "err", err)
		return nil, newError(codeUnavailable, "the repository policies cannot be read; try again later")
	}
	return s, nil
}
