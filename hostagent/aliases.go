package hostagent

import "github.com/berth-registry/berth/hostagent/layer"

// Limits bound what unpacking a layer or loading an archive may write.
type Limits = layer.Limits

// The limits that apply where Limits leaves a field zero.
const (
	DefaultMaxBytes   = layer.DefaultMaxBytes
	DefaultMaxEntries = layer.DefaultMaxEntries
)

// DiffStats counts what a commit's layer holds.
type DiffStats = layer.DiffStats
