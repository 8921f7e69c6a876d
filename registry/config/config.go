package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/yamlx"
	"github.com/berth-registry/berth/registry/policy"
)

// Version is the only configuration version Berth reads, as in Distribution.
const Version = "0.1"

// DefaultRootDirectory is where a filesystem driver configured without a
// rootdirectory keeps its data, as in Distribution (and the Docker image's
// volume).
const DefaultRootDirectory = "/var/lib/registry"

// DefaultDrainTimeout is how long a shutdown waits for requests in flight
// when http.draintimeout is not set.
const DefaultDrainTimeout = 30 * time.Second

// Config is the registry configuration, one field per key of config.yml.
type Config struct {
	Version       string        `yaml:"version"`
	Log           Log           `yaml:"log"`
	Storage       Storage       `yaml:"storage"`
	HTTP          HTTP          `yaml:"http"`
	Validation    Validation    `yaml:"validation"`
	Auth          Auth          `yaml:"auth"`
	Notifications Notifications `yaml:"notifications"`
	Proxy         *Proxy        `yaml:"proxy,omitempty"` // nil: not a pull-through cache
	// Policies are Berth's repository policies (registry/policy):
	// retention, immutable tags, quotas.
	Policies policy.Config `yaml:"policies"`
	UI       UI            `yaml:"ui"` // the web UI (ui.go)

	// Distribution's remaining top-level keys (distkeys.go).
	LogLevel   string      `yaml:"loglevel"` // deprecated alias of log.level
	Redis      Redis       `yaml:"redis"`
	Health     Health      `yaml:"health"`
	Middleware Middleware  `yaml:"middleware"`
	Catalog    Catalog     `yaml:"catalog"`
	Tags       Tags        `yaml:"tags"`
	Policy     RepoPolicy  `yaml:"policy"`
	Reporting  Unsupported `yaml:"reporting"`
}

// Log is the log section.
type Log struct {
	Level     string `yaml:"level"`     // error, warn, info (default) or debug
	Formatter string `yaml:"formatter"` // text (default), json or logstash
	// Fields are added to every log line.
	Fields    map[string]string `yaml:"fields,omitempty"`
	AccessLog AccessLog         `yaml:"accesslog"`
	// ReportCaller adds the source file and line to every log line.
	ReportCaller bool      `yaml:"reportcaller"`
	Hooks        []LogHook `yaml:"hooks,omitempty"`
}

// Validation is the validation section.
type Validation struct {
	// Disabled, as in Distribution, lifts the checks on foreign-layer
	// URLs and on the children of image indexes; Enabled (deprecated)
	// true wins over it.
	Enabled   bool      `yaml:"enabled"`
	Disabled  bool      `yaml:"disabled"`
	Manifests Manifests `yaml:"manifests"`
}

// Manifests is validation.manifests.
type Manifests struct {
	// Layers is a Berth extension: "all" (default, as Distribution)
	// requires every layer of an image manifest to exist in the
	// repository, "none" accepts sparse images whose layers are absent
	// (the config blob must still exist).
	Layers  string  `yaml:"layers"`
	Indexes Indexes `yaml:"indexes"`
	URLs    URLs    `yaml:"urls"`
}

// Indexes is validation.manifests.indexes: which children of an image index
// must exist when it is pushed.
type Indexes struct {
	Platforms    string     `yaml:"platforms"` // all (default), none or list
	PlatformList []Platform `yaml:"platformlist,omitempty"`
}

// Platform is one entry of validation.manifests.indexes.platformlist.
type Platform struct {
	OS           string `yaml:"os"`
	Architecture string `yaml:"architecture"`
	Variant      string `yaml:"variant,omitempty"`
}

// String is "os/architecture[/variant]", the form registry.WithIndexPlatforms
// takes.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// base is the configuration every file starts from: the defaults of keys a
// file may leave out. It has no storage driver and delete disabled, as a
// Distribution config file without those keys means.
func base() *Config {
	return &Config{
		Version: Version,
		Log:     Log{Level: "info", Formatter: "text"},
		HTTP:    HTTP{Addr: ":5000", DrainTimeout: DefaultDrainTimeout},
		Validation: Validation{Manifests: Manifests{
			Layers:  "all",
			Indexes: Indexes{Platforms: "all"},
		}},
	}
}

// Default is the configuration used without a config file: filesystem
// storage in ./data, listening on :5000, and deletes enabled. Distribution
// disables deletes unless configured; Berth's default enables them because
// the owner of a private registry expects to be able to delete, and the OCI
// conformance suite needs it. A config file that omits storage.delete gets
// Distribution's behaviour (disabled).
func Default() *Config {
	c := base()
	c.Storage.Filesystem = &Filesystem{RootDirectory: "./data"}
	c.Storage.Delete.Enabled = true
	return c
}

// Load reads a YAML configuration from r, applies the REGISTRY_* overrides
// found in env (entries "NAME=value", as os.Environ returns) and validates
// the result. Every problem is one line starting with "config: " that
// names the dotted key, the offending value, and where it came from (a line
// of the file or an environment variable); decode problems and refused
// keys are all reported, one line each.
func Load(r io.Reader, env []string) (*Config, error) {
	in, err := io.ReadAll(io.LimitReader(r, yamlx.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	doc, err := yamlx.Parse(in)
	if err != nil {
		if errors.Is(err, yamlx.ErrEmpty) {
			return nil, errors.New("config: empty configuration")
		}
		if errors.Is(err, yamlx.ErrLimit) {
			return nil, fmt.Errorf("config: %w", err)
		}
		return nil, fmt.Errorf("config: %s", oneLine(err.Error()))
	}

	c := base()
	c.Version = "" // a file must say which version it is
	o := origins{}
	d := decoder{origins: o}
	if err := d.decodeAll("", doc, reflect.ValueOf(c).Elem()); err != nil {
		return nil, err
	}
	return c.finish(env, o)
}

// FromEnv is Default with the REGISTRY_* overrides of env applied, then
// validated: the configuration of a registry started without a file.
func FromEnv(env []string) (*Config, error) {
	return Default().finish(env, origins{})
}

// finish applies the environment, fills in defaults that depend on what
// was configured, normalizes and validates.
func (c *Config) finish(env []string, o origins) (*Config, error) {
	if err := c.applyEnv(env, o); err != nil {
		return nil, err
	}
	if c.Storage.Filesystem != nil && c.Storage.Filesystem.RootDirectory == "" {
		c.Storage.Filesystem.RootDirectory = DefaultRootDirectory
	}
	// The deprecated top-level loglevel applies when log.level is not
	// configured, as in Distribution.
	if _, set := o["log.level"]; !set && c.LogLevel != "" {
		c.Log.Level = c.LogLevel
	}
	// Enumerated values match case-insensitively (REGISTRY_LOG_LEVEL=DEBUG).
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Formatter = strings.ToLower(c.Log.Formatter)
	c.Storage.Cache.BlobDescriptor = strings.ToLower(c.Storage.Cache.BlobDescriptor)
	c.Validation.Manifests.Layers = strings.ToLower(c.Validation.Manifests.Layers)
	c.Validation.Manifests.Indexes.Platforms = strings.ToLower(c.Validation.Manifests.Indexes.Platforms)
	c.HTTP.Net = strings.ToLower(c.HTTP.Net)
	c.HTTP.TLS.MinimumTLS = strings.ToLower(c.HTTP.TLS.MinimumTLS)
	if c.Storage.S3 != nil {
		c.Storage.S3.LogLevel = strings.ToLower(c.Storage.S3.LogLevel)
	}
	if errs := c.refusals(o); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := c.validate(o); err != nil {
		return nil, err
	}
	return c, nil
}

// oneLine folds yaml.v3's multi-line error lists into one line.
func oneLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	fields := strings.Split(s, "\n")
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return strings.Join(fields, " ")
}
