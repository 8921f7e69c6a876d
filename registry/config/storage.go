package config

import (
	"fmt"
	"time"
)

// Storage is the storage section: exactly one driver (Filesystem, InMemory
// or S3) plus settings that apply to any driver.
type Storage struct {
	Filesystem *Filesystem `yaml:"filesystem,omitempty"`
	InMemory   *InMemory   `yaml:"inmemory,omitempty"`
	S3         *S3         `yaml:"s3,omitempty"`

	Delete      Delete      `yaml:"delete"`
	Maintenance Maintenance `yaml:"maintenance"`
	Cache       Cache       `yaml:"cache"`
	Redirect    Redirect    `yaml:"redirect"`
	Tag         Tag         `yaml:"tag"`
	GC          GC          `yaml:"gc"`

	Azure Unsupported `yaml:"azure"`
	GCS   Unsupported `yaml:"gcs"`
}

// Driver names the configured storage driver: "filesystem", "inmemory",
// "s3", or "" when none is. With more than one configured (which Validate
// rejects) it returns the first in that order.
func (s *Storage) Driver() string {
	if d := s.drivers(); len(d) > 0 {
		return d[0]
	}
	return ""
}

func (s *Storage) drivers() []string {
	var names []string
	if s.Filesystem != nil {
		names = append(names, "filesystem")
	}
	if s.InMemory != nil {
		names = append(names, "inmemory")
	}
	if s.S3 != nil {
		names = append(names, "s3")
	}
	return names
}

// setScalar makes "storage: inmemory" in YAML and REGISTRY_STORAGE=inmemory
// in the environment select a driver. Unlike Distribution, which resets the
// whole storage section, it keeps delete, maintenance, cache and redirect:
// switching the backend should not silently disable deletes. Selecting the
// driver already configured keeps its parameters.
func (s *Storage) setScalar(name string) error {
	switch name {
	case "filesystem":
		if s.Filesystem == nil {
			s.Filesystem = &Filesystem{}
		}
		s.InMemory, s.S3 = nil, nil
	case "inmemory":
		if s.InMemory == nil {
			s.InMemory = &InMemory{}
		}
		s.Filesystem, s.S3 = nil, nil
	case "s3":
		if s.S3 == nil {
			s.S3 = &S3{}
		}
		s.Filesystem, s.InMemory = nil, nil
	default:
		return fmt.Errorf("unknown storage driver %q, want filesystem, inmemory or s3", name)
	}
	return nil
}

// Filesystem is storage.filesystem.
type Filesystem struct {
	// RootDirectory holds the registry's data; DefaultRootDirectory when
	// the key is absent. A relative path is relative to the working
	// directory.
	RootDirectory string `yaml:"rootdirectory"`
	// MaxThreads is accepted without effect (see distkeys.go).
	MaxThreads int `yaml:"maxthreads"`
}

// InMemory is storage.inmemory; it has no parameters. Its content is lost
// when the process ends.
type InMemory struct{}

// S3 is storage.s3, with Distribution's key names (see storagedriver/s3
// for their meaning and defaults), plus Timeout.
type S3 struct {
	Region                      string `yaml:"region"`
	RegionEndpoint              string `yaml:"regionendpoint"`
	Bucket                      string `yaml:"bucket"`
	RootDirectory               string `yaml:"rootdirectory"`
	AccessKey                   string `yaml:"accesskey"`
	SecretKey                   string `yaml:"secretkey"`
	ForcePathStyle              bool   `yaml:"forcepathstyle"`
	Secure                      *bool  `yaml:"secure,omitempty"` // nil: true, as in Distribution
	SkipVerify                  bool   `yaml:"skipverify"`
	ChunkSize                   int64  `yaml:"chunksize"`
	MultipartCopyChunkSize      int64  `yaml:"multipartcopychunksize"`
	MultipartCopyMaxConcurrency int64  `yaml:"multipartcopymaxconcurrency"`
	MultipartCopyThresholdSize  int64  `yaml:"multipartcopythresholdsize"`
	StorageClass                string `yaml:"storageclass"`
	Encrypt                     bool   `yaml:"encrypt"`
	KeyID                       string `yaml:"keyid"`
	// Timeout is a Berth extension: how long an S3 request may make no
	// progress before the request fails with 503; 0 means the driver's
	// default (30s).
	Timeout time.Duration `yaml:"timeout"`

	// V4Auth false (AWS signature version 2) is refused; nil or true
	// signs with version 4, the only signature aws-sdk-go-v2 has.
	V4Auth          *bool  `yaml:"v4auth,omitempty"`
	UserAgent       string `yaml:"useragent"`       // added to the SDK's User-Agent
	ObjectACL       string `yaml:"objectacl"`       // canned ACL of written objects; default private
	SessionToken    string `yaml:"sessiontoken"`    // with accesskey and secretkey
	UseDualStack    bool   `yaml:"usedualstack"`    // AWS dual-stack (IPv6) endpoints
	Accelerate      bool   `yaml:"accelerate"`      // S3 Transfer Acceleration endpoint
	UseFIPSEndpoint bool   `yaml:"usefipsendpoint"` // AWS FIPS endpoints
	LogLevel        string `yaml:"loglevel"`        // SDK logging: off (default), debug, debugwith...
	// RedirectEndpoint is refused (distkeys.go).
	RedirectEndpoint string `yaml:"redirectendpoint"`
}

// Delete is storage.delete.
type Delete struct {
	Enabled bool `yaml:"enabled"`
}

// Maintenance is storage.maintenance.
type Maintenance struct {
	ReadOnly ReadOnly `yaml:"readonly"`
	// UploadPurging is nil when not configured: then Distribution's
	// defaults apply (enabled, 168h, 24h; see cmd/registry, purge.go), as
	// they do to a zero Age or Interval.
	UploadPurging *UploadPurging `yaml:"uploadpurging,omitempty"`
}

// ReadOnly is storage.maintenance.readonly.
type ReadOnly struct {
	Enabled bool `yaml:"enabled"`
}

// UploadPurging is storage.maintenance.uploadpurging.
type UploadPurging struct {
	Enabled  bool          `yaml:"enabled"`
	Age      time.Duration `yaml:"age"`
	Interval time.Duration `yaml:"interval"`
	DryRun   bool          `yaml:"dryrun"`
}

// GC is storage.gc, a Berth extension: garbage collection while the
// registry serves (see registry/storage's doc.go). Off by default, so that a
// Distribution root behaves as before; Grace applies also when it is off,
// to the requests that `registry gc` must not break.
type GC struct {
	Enabled        bool          `yaml:"enabled"`
	Interval       time.Duration `yaml:"interval"` // between runs; DefaultGCInterval when 0
	Grace          time.Duration `yaml:"grace"`    // DefaultGCGrace when 0
	DeleteUntagged bool          `yaml:"deleteuntagged"`
}

// Defaults of storage.gc.
const (
	DefaultGCInterval = 24 * time.Hour
	DefaultGCGrace    = time.Hour
)

// IntervalOrDefault is Interval, or DefaultGCInterval when unset.
func (g GC) IntervalOrDefault() time.Duration {
	if g.Interval > 0 {
		return g.Interval
	}
	return DefaultGCInterval
}

// GraceOrDefault is Grace, or DefaultGCGrace when unset.
func (g GC) GraceOrDefault() time.Duration {
	if g.Grace > 0 {
		return g.Grace
	}
	return DefaultGCGrace
}

// Cache is storage.cache: the blob descriptor cache (registry/storage
// /blobcache).
type Cache struct {
	BlobDescriptor string `yaml:"blobdescriptor"` // "" (none), inmemory, or redis (the redis section's server)
	// BlobDescriptorSize bounds the inmemory cache (entries of each kind;
	// 0: Distribution's default, 10000). The redis cache's keys expire.
	BlobDescriptorSize int `yaml:"blobdescriptorsize"`
}

// Redirect is storage.redirect.
type Redirect struct {
	Disable bool `yaml:"disable"`
}
