package registry

import (
	"github.com/berth-registry/berth/registry/storage"
)

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
