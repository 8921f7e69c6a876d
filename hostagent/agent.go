package hostagent

import (
	"context"
	"fmt"
	"regexp"
	"sync/atomic"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// DefaultConcurrency is how many blobs a pull or push moves at once.
const DefaultConcurrency = 4

// Agent is a local image store and the registries it pulls from and pushes
// to. It is safe for concurrent use, and several processes may use one
// store at once.
type Agent struct {
	store      *imageStore
	reg        atomic.Pointer[client.Client] // replaced on Login and Logout
	clientOpts []client.Option
	creds      *client.DockerConfig
	jobs       int
	progress   Progress
	// pushNondistributable: Push uploads foreign and non-distributable
	// layers too (WithPushNondistributable).
	pushNondistributable bool
	// foreignURLs: the only URLs Verify's repair and Sync into the store
	// fetch foreign layers from (WithForeignURLs); nil is any http or
	// https URL.
	foreignURLs *regexp.Regexp
}

// Option configures an Agent.
type Option func(*Agent)

// WithDockerConfig sets the credential store used for registries and written
// by Login and Logout. By default it is docker's config.json
// ($DOCKER_CONFIG/config.json or ~/.docker/config.json).
func WithDockerConfig(dc *client.DockerConfig) Option { return func(a *Agent) { a.creds = dc } }

// WithClientOptions adds options for the registry client (e.g.
// client.WithInsecure). Credentials come from WithDockerConfig.
func WithClientOptions(opts ...client.Option) Option {
	return func(a *Agent) { a.clientOpts = append(a.clientOpts, opts...) }
}

// WithConcurrency bounds how many blobs a pull or push transfers at once.
func WithConcurrency(n int) Option {
	return func(a *Agent) {
		if n > 0 {
			a.jobs = n
		}
	}
}

// WithPushNondistributable makes Push upload foreign and non-distributable
// layers, which by default it leaves out (the registry's manifest names
// them by their URLs), as docker's --allow-nondistributable-artifacts.
func WithPushNondistributable(allow bool) Option {
	return func(a *Agent) { a.pushNondistributable = allow }
}

// WithForeignURLs limits the URLs that Verify's repair and Sync (and the
// sync daemon) into the store fetch foreign layers from to those allow
// matches, as PullOptions.ForeignURLs does for Pull; nil allows any http
// or https URL.
func WithForeignURLs(allow *regexp.Regexp) Option {
	return func(a *Agent) { a.foreignURLs = allow }
}

// WithProgress sets where transfer progress goes.
func WithProgress(p Progress) Option { return func(a *Agent) { a.progress = p } }

// New opens (creating if needed) the store at root and returns an agent
// over it. root "" means DefaultRoot().
func New(root string, opts ...Option) (*Agent, error) {
	if root == "" {
		var err error
		if root, err = DefaultRoot(); err != nil {
			return nil, err
		}
	}
	a, err := newAgent(opts)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(root)
	if err != nil {
		return nil, err
	}
	a.store = &imageStore{s}
	a.renewClient()
	return a, nil
}

// NewRemote returns an agent without a store, for what needs only
// registries (Find, Login, Logout): it creates no directory. Anything that
// uses the store must come from New.
func NewRemote(opts ...Option) (*Agent, error) {
	a, err := newAgent(opts)
	if err != nil {
		return nil, err
	}
	a.renewClient()
	return a, nil
}

// newAgent is an agent with opts applied and, unless an option gave
// credentials, those of the Docker config; no store, no client yet.
func newAgent(opts []Option) (*Agent, error) {
	a := &Agent{jobs: DefaultConcurrency}
	for _, o := range opts {
		o(a)
	}
	if a.creds == nil {
		dc, err := client.NewDockerConfig("")
		if err != nil {
			return nil, err
		}
		a.creds = dc
	}
	return a, nil
}

// client is the registry client of the moment.
func (a *Agent) client() *client.Client { return a.reg.Load() }

// renewClient replaces the registry client: a client asks its credential
// store once per registry, so a login or logout needs a new one.
func (a *Agent) renewClient() {
	a.reg.Store(client.New(append([]client.Option{client.WithCredentials(a.creds)}, a.clientOpts...)...))
}

// Root is the store's directory.
func (a *Agent) Root() string { return a.store.Root() }

// ProgressEvent tells how the transfer of one blob goes.
type ProgressEvent struct {
	Kind ProgressKind
	// Action says what happens to the blob: "download", "upload", or at
	// Done also "exists" (nothing to move) and "mount" (cross-repository).
	Action     string
	Descriptor v1.Descriptor
	// Resumed is at Start how many bytes were already there (a partial
	// download continued, not fetched again).
	Resumed int64
	// N is at Advance how many more bytes moved.
	N   int64
	Err error // at Done
}

// ProgressKind orders the events of one blob: Start, Advance…, Done.
type ProgressKind int

// The events of one blob, in the order they come.
const (
	ProgressStart ProgressKind = iota
	ProgressAdvance
	ProgressDone
)

// Progress receives transfer events. It is called from several goroutines
// at once and must not block for long.
type Progress func(ProgressEvent)

func (a *Agent) emit(ev ProgressEvent) {
	if a.progress != nil {
		a.progress(ev)
	}
}

// Login checks cred against the registry host (reachable, and accepted) and
// then saves it in the docker config. It fails with client.ErrUnauthorized
// when the registry refuses it, and saves nothing then.
func (a *Agent) Login(ctx context.Context, host string, cred client.Credential) error {
	c := client.New(append(a.clientOpts, client.WithCredentials(client.StaticCredentials{host: cred}))...)
	if err := c.Ping(ctx, host); err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	if err := a.creds.Save(host, cred); err != nil {
		return fmt.Errorf("login to %s: save credentials: %w", host, err)
	}
	a.renewClient()
	return nil
}

// Logout removes the credential of host from the docker config.
func (a *Agent) Logout(_ context.Context, host string) error {
	if err := a.creds.Erase(host); err != nil {
		return fmt.Errorf("logout from %s: %w", host, err)
	}
	a.renewClient()
	return nil
}
