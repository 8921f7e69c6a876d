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

// HTTP is the http section.
type HTTP struct {
	Addr   string `yaml:"addr"`   // host:port, default :5000
	Host   string `yaml:"host"`   // external URL, e.g. https://registry.example.com
	Prefix string `yaml:"prefix"` // path prefix before /v2/, e.g. /registry/
	Secret string `yaml:"secret"`
	// Headers are added to every response: name -> values.
	Headers map[string][]string `yaml:"headers,omitempty"`
	TLS     TLS                 `yaml:"tls"`
	// DrainTimeout bounds the wait for requests in flight on shutdown;
	// DefaultDrainTimeout when absent, 0 closes connections at once.
	DrainTimeout time.Duration `yaml:"draintimeout"`
	Debug        Debug         `yaml:"debug"`

	// Net is the listener's network: tcp (default) or unix, when Addr is
	// a socket path.
	Net string `yaml:"net"`
	// RelativeURLs makes Location headers relative paths even with Host
	// set; see registry.WithBaseURL.
	RelativeURLs bool  `yaml:"relativeurls"`
	HTTP2        HTTP2 `yaml:"http2"`
	H2C          H2C   `yaml:"h2c"`
}

// Debug is http.debug, as in Distribution: with Addr set, a second
// listener, apart from the API's, serves Go's runtime profiles
// (net/http/pprof) under /debug/pprof/ and, with Prometheus enabled, the
// metrics. It has no authentication, so Addr belongs on loopback or an
// internal network.
type Debug struct {
	Addr       string     `yaml:"addr"` // host:port; empty: no debug listener
	Prometheus Prometheus `yaml:"prometheus"`
}

// DefaultMetricsPath is where the metrics are served without
// http.debug.prometheus.path, as in Distribution.
const DefaultMetricsPath = "/metrics"

// MetricsPath is the configured path, or DefaultMetricsPath.
func (p Prometheus) MetricsPath() string {
	if p.Path == "" {
		return DefaultMetricsPath
	}
	return p.Path
}

// TLS is http.tls. With Certificate and Key set the server speaks HTTPS;
// with ClientCAs it also requires client certificates signed by one of them.
type TLS struct {
	Certificate string   `yaml:"certificate"`
	Key         string   `yaml:"key"`
	ClientCAs   []string `yaml:"clientcas,omitempty"`
	// ClientAuth is how client certificates are checked when ClientCAs
	// are set: Distribution's values (tls.ClientAuthType); default
	// require-and-verify-client-cert.
	ClientAuth string `yaml:"clientauth"`
	// MinimumTLS is tls1.0 to tls1.3; default tls1.2.
	MinimumTLS string `yaml:"minimumtls"`
	// CipherSuites are names from crypto/tls (TLS 1.0-1.2 only; Go picks
	// TLS 1.3's); empty: Go's defaults.
	CipherSuites []string    `yaml:"ciphersuites,omitempty"`
	LetsEncrypt  LetsEncrypt `yaml:"letsencrypt"`
}

// Enabled reports whether the server should speak TLS.
func (t *TLS) Enabled() bool { return t.Certificate != "" || t.Key != "" }

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

// Auth is the auth section: at most one method (htpasswd or token), and
// optionally an access policy.
type Auth struct {
	Htpasswd *Htpasswd   `yaml:"htpasswd,omitempty"`
	Token    *Token      `yaml:"token,omitempty"`
	Silly    Unsupported `yaml:"silly"`
	// Policy is a Berth extension: who may pull, push and delete where.
	// Without it, every authenticated user may do everything.
	Policy *Policy `yaml:"policy,omitempty"`
}

// Method names the configured auth method, or "" for none.
func (a *Auth) Method() string {
	switch {
	case a.Htpasswd != nil:
		return "htpasswd"
	case a.Token != nil:
		return "token"
	}
	return ""
}

// Htpasswd is auth.htpasswd: HTTP basic auth against an htpasswd file of
// bcrypt entries, re-read when it changes.
type Htpasswd struct {
	Realm string `yaml:"realm"`
	Path  string `yaml:"path"`
}

// Token is auth.token: bearer tokens from a token server, verified with the
// keys of RootCertBundle and JWKS and, with Server, the server's own key.
type Token struct {
	Realm          string `yaml:"realm"` // absolute URL of the token endpoint
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
	JWKS           string `yaml:"jwks"`
	// AutoRedirect and AutoRedirectPath are refused (distkeys.go).
	AutoRedirect     bool   `yaml:"autoredirect"`
	AutoRedirectPath string `yaml:"autoredirectpath"`
	// SigningAlgorithms, when set, are the only algs tokens may use.
	SigningAlgorithms []string `yaml:"signingalgorithms,omitempty"`
	// Server is a Berth extension: run the token server at /auth/token.
	Server *TokenServer `yaml:"server,omitempty"`
}

// TokenServer is auth.token.server, the built-in token server.
type TokenServer struct {
	// Key is the PEM private key tokens are signed with ("registry
	// keygen" makes one).
	Key string `yaml:"key"`
	// Htpasswd is the file of users who may log in.
	Htpasswd string `yaml:"htpasswd"`
	// Expiration is the lifetime of access tokens: default 5m, at most 1h.
	Expiration time.Duration `yaml:"expiration"`
	// RefreshExpiration is the lifetime of refresh (offline) tokens; nil
	// means DefaultRefreshExpiration, 0 issues none.
	RefreshExpiration *time.Duration `yaml:"refreshexpiration,omitempty"`
}

// Default lifetimes of the token server's tokens.
const (
	DefaultTokenExpiration   = 5 * time.Minute
	MaxTokenExpiration       = time.Hour
	DefaultRefreshExpiration = 7 * 24 * time.Hour
)

// Policy is auth.policy.
type Policy struct {
	Path string `yaml:"path"` // the policy file (YAML), re-read when it changes
}

// Notifications is the notifications section: webhooks (registry/notify).
type Notifications struct {
	Events    Events     `yaml:"events"`
	Endpoints []Endpoint `yaml:"endpoints,omitempty"`
	// Queue is a Berth extension: where the events wait for delivery.
	Queue NotificationQueue `yaml:"queue"`
}

// NotificationQueue is notifications.queue, a Berth extension.
type NotificationQueue struct {
	// Directory holds the durable queue, one per registry process; empty
	// is QueueDirectory's default.
	Directory string `yaml:"directory"`
	// MaxSize bounds the queue in bytes (0: notify.DefaultMaxBytes); past
	// it the oldest undelivered events are dropped.
	MaxSize int64 `yaml:"maxsize"`
}

// Events is notifications.events.
type Events struct {
	IncludeReferences bool `yaml:"includereferences"`
}

// Endpoint is one entry of notifications.endpoints.
type Endpoint struct {
	Name              string              `yaml:"name"`
	Disabled          bool                `yaml:"disabled"`
	URL               string              `yaml:"url"`
	Headers           map[string][]string `yaml:"headers,omitempty"`
	Timeout           time.Duration       `yaml:"timeout"`
	Threshold         int64               `yaml:"threshold"`
	Backoff           time.Duration       `yaml:"backoff"`
	IgnoredMediaTypes []string            `yaml:"ignoredmediatypes,omitempty"`
	Ignore            Ignore              `yaml:"ignore"`
}

// Ignore is notifications.endpoints[].ignore.
type Ignore struct {
	MediaTypes []string `yaml:"mediatypes,omitempty"`
	Actions    []string `yaml:"actions,omitempty"`
}

// Proxy is the proxy section: serve repositories as a pull-through cache
// of upstream registries. RemoteURL (Distribution's form) makes every
// repository that no upstream prefix takes a cache of it; Upstreams (a
// Berth extension) each take the repositories under their prefix. At
// least one of the two is set.
type Proxy struct {
	RemoteURL string `yaml:"remoteurl"`
	Username  string `yaml:"username"` // RemoteURL's credentials
	Password  string `yaml:"password"`
	// TTL is how long a cached tag is served before the upstream is asked
	// (once) whether it moved; content by digest never expires. nil means
	// DefaultProxyTTL (Distribution's default), 0 trusts cached tags
	// forever. It is also the default of Upstreams without a ttl.
	TTL       *time.Duration `yaml:"ttl,omitempty"`
	Upstreams []Upstream     `yaml:"upstreams,omitempty"`
	// Exec is refused; CacheWriteTimeout is accepted without effect
	// (distkeys.go).
	Exec              Unsupported    `yaml:"exec"`
	CacheWriteTimeout *time.Duration `yaml:"cachewritetimeout,omitempty"`
}

// Upstream is one entry of proxy.upstreams: the repositories named
// <Prefix>/<repository> are a cache of <repository> at RemoteURL.
type Upstream struct {
	Prefix    string         `yaml:"prefix"` // e.g. docker.io, ghcr.io
	RemoteURL string         `yaml:"remoteurl"`
	Username  string         `yaml:"username"`
	Password  string         `yaml:"password"`
	TTL       *time.Duration `yaml:"ttl,omitempty"` // nil: proxy.ttl
}

// DefaultProxyTTL is the proxy TTL when none is configured.
const DefaultProxyTTL = 168 * time.Hour

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
