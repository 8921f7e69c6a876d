// Package mirror copies images between registries, and between a registry
// and the host agent's store, as a sync.yml says: the config and its
// strict decoding (config.go), rules with their sources, destinations and
// platforms (rule.go), tag filters and semver ranges (tags.go,
// semver.go), schedules (cron.go), per-registry limits (limit.go), the
// plan of what to copy (plan.go), the copies themselves (run.go,
// registry.go, local.go) and the daemon that runs rules on their
// schedules (daemon.go). Only what the destination lacks moves, compared
// by digest.
//
// It is named mirror, not sync, so as not to shadow the standard library.
// The Agent (package hostagent) keeps the names it had (SyncConfig,
// Agent.Sync, ...) as aliases and delegates to a Mirror.
//
// Imports: the standard library, image-spec, go-digest, yaml,
// golang.org/x/time/rate (the per-registry request rate), the agent's
// packages hostagent/store, hostagent/foreign (foreign layers from their
// URLs) and hostagent/errdefs, the leaf packages
// internal/oci (the reference grammar of rule sources, among others),
// internal/yamlx, internal/parallel and internal/keylock, and of the
// registry only registry/client.
package mirror
