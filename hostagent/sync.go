package hostagent

import (
	"context"
	"log/slog"

	"github.com/berth-registry/berth/hostagent/mirror"
)

// The sync types are package mirror's; these names keep the Agent's API.
type (
	// SyncConfig is a sync.yml (mirror.Config).
	SyncConfig = mirror.Config
	// SyncDefaults apply to every rule (mirror.Defaults).
	SyncDefaults = mirror.Defaults
	// SyncRegistry holds the limits of one registry (mirror.Registry).
	SyncRegistry = mirror.Registry
	// SyncRule is one rule of a sync.yml (mirror.Rule).
	SyncRule = mirror.Rule
	// SyncTags selects the tags a rule copies (mirror.Tags).
	SyncTags = mirror.Tags
	// SyncList is a YAML string or list of strings (mirror.List).
	SyncList = mirror.List
	// SyncOptions tune a run (mirror.Options).
	SyncOptions = mirror.Options
	// SyncImage is what happened to one image of a run (mirror.Image).
	SyncImage = mirror.Image
	// SyncCounts counts what a run moved (mirror.Counts).
	SyncCounts = mirror.Counts
	// SyncSummary is what one rule's run did (mirror.Summary).
	SyncSummary = mirror.Summary
	// SyncFailure is one image a run could not copy (mirror.Failure).
	SyncFailure = mirror.Failure
	// SyncDaemon runs the rules on their schedules (mirror.Daemon).
	SyncDaemon = mirror.Daemon
)

// LoadSyncConfig reads and checks the sync.yml at path (mirror.LoadConfig).
func LoadSyncConfig(path string) (*SyncConfig, error) { return mirror.LoadConfig(path) }

// ParseSyncConfig reads and checks a sync.yml (mirror.ParseConfig).
func ParseSyncConfig(data []byte) (*SyncConfig, error) { return mirror.ParseConfig(data) }

// mirror is the sync engine over the agent's store, with its credentials,
// client options and foreign-layer URL allow-list (WithForeignURLs).
func (a *Agent) mirror() *mirror.Mirror {
	return mirror.New(a.store.Store, a.creds, a.clientOpts...).WithForeignURLs(a.foreignURLs)
}

// Sync runs the rules of cfg (all, or those opts.Rules names) once; see
// mirror.Mirror.Sync.
func (a *Agent) Sync(ctx context.Context, cfg *SyncConfig, opts SyncOptions) ([]SyncSummary, error) {
	return a.mirror().Sync(ctx, cfg, opts)
}

// NewSyncDaemon checks cfg and prepares a daemon for it; log receives its
// lines. Errors: ErrInvalid. See mirror.Mirror.NewDaemon.
func (a *Agent) NewSyncDaemon(cfg *SyncConfig, log *slog.Logger) (*SyncDaemon, error) {
	return a.mirror().NewDaemon(cfg, log)
}
