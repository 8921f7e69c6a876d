package mirror

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// DefaultConcurrency is how many blobs a rule moves at once per registry
// when the config does not say.
const DefaultConcurrency = 4

// Mirror runs sync rules between registries, and between a registry and
// the store. It is safe for concurrent use.
type Mirror struct {
	store      *store.Store
	creds      client.CredentialStore
	clientOpts []client.Option
	// foreignURLs: the only URLs syncs into the store fetch foreign
	// layers from (WithForeignURLs); nil is any http or https URL.
	foreignURLs *regexp.Regexp
}

// New returns a Mirror over the store st that speaks to registries with
// the credentials creds and the client options opts (plain HTTP for the
// registries a config calls insecure, and its rate limits, are added per
// run).
func New(st *store.Store, creds client.CredentialStore, opts ...client.Option) *Mirror {
	return &Mirror{store: st, creds: creds, clientOpts: opts}
}

// RemoteError adds the agent's class to the registry client's: a missing
// manifest or repository is errdefs.ErrNotFound for the caller too.
func RemoteError(r client.Reference, err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("image %s: %w in the registry: %w", r, errdefs.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", r, err)
}
