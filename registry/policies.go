package registry

import (
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
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

// tagGuard is the storage.TagGuard of repository name under the policies
// in force (policies.immutable): nil when no rule covers the repository.
// While a policies file cannot be read it fails (UNAVAILABLE), so that no
// immutable tag moves meanwhile.
func (a *App) tagGuard(name string) (storage.TagGuard, error) {
	set, err := a.policies()
	if err != nil || !set.HasImmutable(name) {
		return nil, err
	}
	return func(tag string) (string, bool) { return set.Immutable(name, tag) }, nil
}
