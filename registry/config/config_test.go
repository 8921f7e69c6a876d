package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file.
const minimal = "version: 0.1\nstorage:\n  inmemory:\n"

// tokenServer starts an auth.token section with a server block (lines 4-9
// after minimal), to be completed with the server's keys.
const tokenServer = "auth:\n  token:\n    realm: https://r/auth/token\n    service: s\n    issuer: i\n    server:\n"

// want returns the configuration Load produces for minimal, changed by f.
func want(f func(c *Config)) *Config {
	c := base()
	c.Storage.InMemory = &InMemory{}
	if f != nil {
		f(c)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want *Config
	}{
		{"minimal", minimal, want(nil)},
		{"null sections keep defaults", minimal + "log:\nhttp:\n", want(nil)},
		{"storage as a scalar selects the driver", "version: 0.1\nstorage: inmemory\n", want(nil)},
		{"inmemory as an empty mapping", "version: 0.1\nstorage:\n  inmemory: {}\n", want(nil)},
		{"version as a string", "version: \"0.1\"\nstorage: {inmemory: {}}\n", want(nil)},
		{
			"filesystem without rootdirectory defaults as in Distribution",
			"version: 0.1\nstorage:\n  filesystem:\n",
			want(func(c *Config) {
				c.Storage.InMemory = nil
				c.Storage.Filesystem = &Filesystem{RootDirectory: DefaultRootDirectory}
			}),
		},
		{
			"empty rootdirectory takes the default",
			"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \"\"\n",
			want(func(c *Config) {
				c.Storage.InMemory = nil
				c.Storage.Filesystem = &Filesystem{RootDirectory: DefaultRootDirectory}
			}),
		},
		{
			"enumerations are case-insensitive",
			minimal + "log:\n  level: DEBUG\n  formatter: JSON\nvalidation:\n  manifests:\n    indexes:\n      platforms: None\n",
			want(func(c *Config) {
				c.Log = Log{Level: "debug", Formatter: "json"}
				c.Validation.Manifests.Indexes.Platforms = "none"
			}),
		},
		{
			"booleans as YAML 1.1 words",
			minimal + "  delete:\n    enabled: yes\n  redirect:\n    disable: on\n",
			want(func(c *Config) {
				c.Storage.Delete.Enabled = true
				c.Storage.Redirect.Disable = true
			}),
		},
		{
			"debug listener",
			minimal + "http:\n  debug:\n    addr: localhost:5001\n",
			want(func(c *Config) { c.HTTP.Debug.Addr = "localhost:5001" }),
		},
		{
			"metrics on the debug listener",
			minimal + "http:\n  debug:\n    addr: localhost:5001\n    prometheus:\n      enabled: true\n      path: /m\n",
			want(func(c *Config) {
				c.HTTP.Debug = Debug{Addr: "localhost:5001", Prometheus: Prometheus{Enabled: true, Path: "/m"}}
			}),
		},
		{
			"draintimeout 0 means no drain",
			minimal + "http:\n  draintimeout: 0s\n",
			want(func(c *Config) { c.HTTP.DrainTimeout = 0 }),
		},
		{
			"anchors and aliases",
			minimal + "http:\n  headers:\n    X-A: &v [one]\n    X-B: *v\n",
			want(func(c *Config) { c.HTTP.Headers = map[string][]string{"X-A": {"one"}, "X-B": {"one"}} }),
		},
		{
			"proxy ttl null is unset",
			minimal + "proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl:\n",
			want(func(c *Config) { c.Proxy = &Proxy{RemoteURL: "https://registry-1.docker.io"} }),
		},
		{
			"proxy ttl 0 never expires",
			minimal + "proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 0s\n",
			want(func(c *Config) {
				c.Proxy = &Proxy{RemoteURL: "https://registry-1.docker.io", TTL: ptr(time.Duration(0))}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(strings.NewReader(tt.yaml), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// everything sets every key; TestLoadEverything checks each one arrives in
// its field.
const everything = `version: 0.1
log:
  level: warn
  formatter: json
storage:
  s3:
    region: eu-west-1
    regionendpoint: http://minio:9000
    bucket: images
    rootdirectory: /berth
    accesskey: AK
    secretkey: SK
    forcepathstyle: true
    secure: false
    skipverify: true
    chunksize: 10485760
    multipartcopychunksize: 33554432
    multipartcopymaxconcurrency: 100
    multipartcopythresholdsize: 33554432
    storageclass: STANDARD
    encrypt: true
    keyid: key-1
  delete:
    enabled: true
  maintenance:
    readonly:
      enabled: true
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: true
  cache:
    blobdescriptor: inmemory
  redirect:
    disable: true
http:
  addr: 127.0.0.1:5001
  host: https://registry.example.com
  prefix: /reg/
  secret: s3cr3t
  headers:
    X-Content-Type-Options: [nosniff]
    X-Multi: [a, b]
  tls:
    certificate: /certs/cert.pem
    key: /certs/key.pem
    clientcas:
      - /certs/ca1.pem
      - /certs/ca2.pem
  draintimeout: 1m30s
validation:
  manifests:
    layers: none
    indexes:
      platforms: list
      platformlist:
        - os: linux
          architecture: amd64
        - os: linux
          architecture: arm
          variant: v7
auth:
  token:
    realm: https://auth.example.com/token
    service: registry.example.com
    issuer: berth
    rootcertbundle: /certs/token.pem
    jwks: /certs/jwks.json
notifications:
  events:
    includereferences: true
  endpoints:
    - name: hook
      disabled: false
      url: https://hooks.example.com/registry
      headers:
        Authorization: [Bearer t]
      timeout: 500ms
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
      ignore:
        mediatypes: [application/vnd.oci.image.config.v1+json]
        actions: [pull]
proxy:
  remoteurl: https://registry-1.docker.io
  username: user
  password: pass
  ttl: 72h
`

func TestLoadEverything(t *testing.T) {
	got, err := Load(strings.NewReader(everything), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	exp := &Config{
		Version: "0.1",
		Log:     Log{Level: "warn", Formatter: "json"},
		Storage: Storage{
			S3: &S3{
				Region: "eu-west-1", RegionEndpoint: "http://minio:9000", Bucket: "images",
				RootDirectory: "/berth", AccessKey: "AK", SecretKey: "SK", ForcePathStyle: true,
				Secure: ptr(false), SkipVerify: true, ChunkSize: 10485760,
				MultipartCopyChunkSize: 33554432, MultipartCopyMaxConcurrency: 100,
				MultipartCopyThresholdSize: 33554432, StorageClass: "STANDARD", Encrypt: true, KeyID: "key-1",
			},
			Delete: Delete{Enabled: true},
			Maintenance: Maintenance{
				ReadOnly:      ReadOnly{Enabled: true},
				UploadPurging: &UploadPurging{Enabled: true, Age: 168 * time.Hour, Interval: 24 * time.Hour, DryRun: true},
			},
			Cache:    Cache{BlobDescriptor: "inmemory"},
			Redirect: Redirect{Disable: true},
		},
		HTTP: HTTP{
			Addr: "127.0.0.1:5001", Host: "https://registry.example.com", Prefix: "/reg/", Secret: "s3cr3t",
			Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}, "X-Multi": {"a", "b"}},
			TLS: TLS{
				Certificate: "/certs/cert.pem", Key: "/certs/key.pem",
				ClientCAs: []string{"/certs/ca1.pem", "/certs/ca2.pem"},
			},
			DrainTimeout: 90 * time.Second,
		},
		Validation: Validation{Manifests: Manifests{
			Layers: "none",
			Indexes: Indexes{
				Platforms: "list",
				PlatformList: []Platform{
					{OS: "linux", Architecture: "amd64"},
					{OS: "linux", Architecture: "arm", Variant: "v7"},
				},
			},
		}},
		Auth: Auth{Token: &Token{
			Realm: "https://auth.example.com/token", Service: "registry.example.com", Issuer: "berth",
			RootCertBundle: "/certs/token.pem", JWKS: "/certs/jwks.json",
		}},
		Notifications: Notifications{
			Events: Events{IncludeReferences: true},
			Endpoints: []Endpoint{{
				Name: "hook", URL: "https://hooks.example.com/registry",
				Headers: map[string][]string{"Authorization": {"Bearer t"}},
				Timeout: 500 * time.Millisecond, Threshold: 5, Backoff: time.Second,
				IgnoredMediaTypes: []string{"application/octet-stream"},
				Ignore: Ignore{
					MediaTypes: []string{"application/vnd.oci.image.config.v1+json"},
					Actions:    []string{"pull"},
				},
			}},
		},
		Proxy: &Proxy{RemoteURL: "https://registry-1.docker.io", Username: "user", Password: "pass", TTL: ptr(72 * time.Hour)},
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, exp)
	}
	if got.Storage.Driver() != "s3" || got.Auth.Method() != "token" || !got.HTTP.TLS.Enabled() {
		t.Errorf("Driver, Method, TLS.Enabled = %q, %q, %v; want s3, token, true",
			got.Storage.Driver(), got.Auth.Method(), got.HTTP.TLS.Enabled())
	}
	if p := got.Validation.Manifests.Indexes.PlatformList[1].String(); p != "linux/arm/v7" {
		t.Errorf("Platform.String = %q, want linux/arm/v7", p)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml, err string
	}{
		{"empty", "", `config: empty configuration`},
		{"syntax", "version: 0.1\nstorage: [\n", `config: line 2: did not find expected node content`},
		{"two documents", minimal + "---\n" + minimal, `config: more than one YAML document`},
		{"top level is a list", "- a\n", `config: want a mapping, got a list (line 1)`},
		{"no version", "storage: {inmemory: {}}\n", `config: version: missing, want "0.1"`},
		{"other version", "version: 0.2\nstorage: {inmemory: {}}\n", `config: version: unsupported value "0.2" (line 1), want "0.1"`},

		{"unknown top-level key", minimal + "logging: debug\n", `config: unknown key "logging" (line 4)`},
		{"unknown nested key", "version: 0.1\nstorage:\n  filesystem:\n    rootdir: /data\n", `config: unknown key "storage.filesystem.rootdir" (line 4)`},
		{"keys are case-sensitive", "version: 0.1\nstorage:\n  filesystem:\n    RootDirectory: /data\n", `config: unknown key "storage.filesystem.RootDirectory" (line 4)`},
		{"inmemory takes no parameters", "version: 0.1\nstorage:\n  inmemory:\n    size: 1\n", `config: unknown key "storage.inmemory.size" (line 4)`},
		{"unknown key in a list item", minimal + "notifications:\n  endpoints:\n    - name: a\n      uri: http://x\n", `config: unknown key "notifications.endpoints[0].uri" (line 7)`},
		{"unknown driver key", "version: 0.1\nstorage:\n  swift:\n    container: b\n", `config: unknown key "storage.swift" (line 3)`},
		{"duplicate key", minimal + "http:\n  addr: :1\n  addr: :2\n", `config: duplicate key "http.addr" (line 6)`},
		{"duplicate header", minimal + "http:\n  headers:\n    X-A: [a]\n    X-A: [b]\n", `config: duplicate key "http.headers.X-A" (line 7)`},

		{"string given a list", minimal + "http:\n  addr: [a]\n", `config: http.addr: want a string, got a list (line 5)`},
		{"section given a scalar", minimal + "http: 5000\n", `config: http: want a mapping, got "5000" (line 4)`},
		{"list given a scalar", minimal + "http:\n  tls:\n    clientcas: /ca.pem\n", `config: http.tls.clientcas: want a list, got "/ca.pem" (line 6)`},
		{"boolean given a mapping", minimal + "  delete:\n    enabled: {a: b}\n", `config: storage.delete.enabled: want a boolean, got a mapping (line 5)`},
		{"bad boolean", minimal + "  delete:\n    enabled: maybe\n", `config: storage.delete.enabled: invalid boolean "maybe", want true or false (line 5)`},
		{"bad integer", "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    region: r\n    chunksize: 10MB\n", `config: storage.s3.chunksize: invalid integer "10MB" (line 6)`},
		{"bad duration", minimal + "http:\n  draintimeout: 5 minutes\n", `config: http.draintimeout: invalid duration "5 minutes", want a number with a unit, e.g. 30s, 5m, 168h (line 5)`},
		{"duration without unit", minimal + "  maintenance:\n    uploadpurging:\n      age: 168\n", `config: storage.maintenance.uploadpurging.age: invalid duration "168", want a number with a unit, e.g. 30s, 5m, 168h (line 6)`},
		{"negative duration", minimal + "http:\n  draintimeout: -1s\n", `config: http.draintimeout: invalid value "-1s" (line 5), want 0 or more`},

		{"metrics without a debug listener", minimal + "http:\n  debug:\n    prometheus:\n      enabled: true\n",
			"config: http.debug.prometheus.enabled (line 7): the metrics are served on the debug listener; set http.debug.addr too"},
		{"metrics path not absolute", minimal + "http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n      path: metrics\n",
			`config: http.debug.prometheus.path: invalid value "metrics" (line 9), want an absolute path outside /debug/pprof/, e.g. /metrics`},
		{"bad log level", minimal + "log:\n  level: verbose\n", `config: log.level: invalid value "verbose" (line 5), want one of error, warn, info, debug`},
		{"bad log formatter", minimal + "log:\n  formatter: xml\n", `config: log.formatter: invalid value "xml" (line 5), want one of text, json, logstash`},
		{"nested log field", minimal + "log:\n  fields:\n    service:\n      name: x\n", `config: log.fields.service: want a string, got a mapping (line 7)`},
		{"negative health threshold", minimal + "health:\n  storagedriver:\n    threshold: -1\n", `config: health.storagedriver: interval and threshold must not be negative (line 5)`},
		{"health file without path", minimal + "health:\n  file:\n    - interval: 1s\n", `config: health.file[0].file: missing, want the path whose existence fails the check`},
		{"health http relative uri", minimal + "health:\n  http:\n    - uri: /ping\n", `config: health.http[0].uri: invalid value "/ping", want an absolute http or https URL (line 6)`},
		{"health http bad scheme", minimal + "health:\n  http:\n    - uri: ftp://host/x\n", `config: health.http[0].uri: invalid value "ftp://host/x", want an absolute http or https URL (line 6)`},
		{"health http bad status", minimal + "health:\n  http:\n    - uri: http://host/x\n      statuscode: 42\n", `config: health.http[0].statuscode: invalid value 42, want an HTTP status code (default 200) (line 7)`},
		{"health http negative timeout", minimal + "health:\n  http:\n    - uri: http://host/x\n      timeout: -1s\n", `config: health.http[0]: interval, timeout and threshold must not be negative (line 6)`},
		{"health tcp without port", minimal + "health:\n  tcp:\n    - addr: db.internal\n", `config: health.tcp[0].addr: invalid value "db.internal", want host:port (line 6)`},
		{"health tcp port out of range", minimal + "health:\n  tcp:\n    - addr: db.internal:70000\n", `config: health.tcp[0].addr: invalid value "db.internal:70000", want host:port (line 6)`},
		{"health tcp negative threshold", minimal + "health:\n  tcp:\n    - addr: db:5432\n      threshold: -2\n", `config: health.tcp[0]: interval, timeout and threshold must not be negative (line 6)`},
		{"bad platforms mode", minimal + "validation:\n  manifests:\n    indexes:\n      platforms: some\n", `config: validation.manifests.indexes.platforms: invalid value "some" (line 7), want one of all, none, list`},
		{"platform without architecture", minimal + "validation:\n  manifests:\n    indexes:\n      platforms: list\n      platformlist:\n        - os: linux\n", `config: validation.manifests.indexes.platformlist[0].architecture: missing, want e.g. amd64 (line 9)`},
		{"bad layers mode", minimal + "validation:\n  manifests:\n    layers: some\n", `config: validation.manifests.layers: invalid value "some" (line 6), want one of all, none`},
		{"bad cache", minimal + "  cache:\n    blobdescriptor: memcached\n", `config: storage.cache.blobdescriptor: invalid value "memcached" (line 5), want one of inmemory, redis`},
		{"negative cache size", minimal + "  cache:\n    blobdescriptor: inmemory\n    blobdescriptorsize: -1\n", `config: storage.cache.blobdescriptorsize: invalid value -1 (line 6), want 0 (the default, 10000) or more`},

		{"no storage", "version: 0.1\n", `config: storage: no driver configured, want one of storage.filesystem, storage.inmemory, storage.s3`},
		{"storage with only delete", "version: 0.1\nstorage:\n  delete:\n    enabled: true\n", `config: storage: no driver configured (line 2), want one of storage.filesystem, storage.inmemory, storage.s3`},
		{"two drivers", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /d\n  inmemory:\n", `config: storage: more than one driver configured (storage.filesystem (line 3), storage.inmemory (line 5)), want exactly one`},
		{"unknown driver as a scalar", "version: 0.1\nstorage: nfs\n", `config: storage: unknown storage driver "nfs", want filesystem, inmemory or s3 (line 2)`},
		{"s3 without bucket", "version: 0.1\nstorage:\n  s3:\n    region: r\n", `config: storage.s3.bucket: missing, required by the s3 driver (line 3)`},
		{"s3 without region", "version: 0.1\nstorage:\n  s3:\n    bucket: b\n", `config: storage.s3.region: missing, required by the s3 driver unless storage.s3.regionendpoint is set (line 3)`},

		{"addr without port", minimal + "http:\n  addr: \"5000\"\n", `config: http.addr: invalid value "5000" (line 5), want host:port, e.g. :5000`},
		{"debug addr without port", minimal + "http:\n  debug:\n    addr: localhost\n", `config: http.debug.addr: invalid value "localhost" (line 6), want host:port, e.g. localhost:5001`},
		{"host without scheme", minimal + "http:\n  host: registry.example.com\n", `config: http.host: invalid value "registry.example.com" (line 5), want an absolute URL, e.g. https://registry.example.com`},
		{"relative prefix", minimal + "http:\n  prefix: reg/\n", `config: http.prefix: invalid value "reg/" (line 5), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
		{"prefix with dot-dot", minimal + "http:\n  prefix: /a/../b/\n", `config: http.prefix: invalid value "/a/../b/" (line 5), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
		{"prefix with a double slash", minimal + "http:\n  prefix: /a//b/\n", `config: http.prefix: invalid value "/a//b/" (line 5), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
		{"prefix with a brace", minimal + "http:\n  prefix: /{name}/\n", `config: http.prefix: invalid value "/{name}/" (line 5), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
		{"prefix with a query", minimal + "http:\n  prefix: /a?b/\n", `config: http.prefix: invalid value "/a?b/" (line 5), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
		{"bad header name", minimal + "http:\n  headers:\n    \"X Foo\": [a]\n", `config: http.headers: invalid header name "X Foo" (line 6)`},
		{"certificate without key", minimal + "http:\n  tls:\n    certificate: /c.pem\n", `config: http.tls.key: missing, required with http.tls.certificate (line 6)`},
		{"key without certificate", minimal + "http:\n  tls:\n    key: /k.pem\n", `config: http.tls.certificate: missing, required with http.tls.key (line 6)`},
		{"clientcas without certificate", minimal + "http:\n  tls:\n    clientcas: [/ca.pem]\n", `config: http.tls.certificate: missing, required with http.tls.clientcas (line 6)`},

		{"two auth methods", minimal + "auth:\n  htpasswd:\n    realm: r\n    path: /p\n  token:\n    realm: r\n", `config: auth: more than one method configured (auth.htpasswd (line 5), auth.token (line 8)), want at most one`},
		{"htpasswd without path", minimal + "auth:\n  htpasswd:\n    realm: r\n", `config: auth.htpasswd.path: missing, want the htpasswd file (line 5)`},
		{"htpasswd without realm", minimal + "auth:\n  htpasswd:\n    path: /p\n", `config: auth.htpasswd.realm: missing, want e.g. berth (line 5)`},
		{"token with a relative realm", minimal + "auth:\n  token:\n    realm: /auth/token\n", `config: auth.token.realm: invalid value "/auth/token" (line 6), want an absolute http or https URL`},
		{"token without service", minimal + "auth:\n  token:\n    realm: https://r/t\n    issuer: i\n    jwks: /j\n", `config: auth.token.service: missing, want the registry's service name, e.g. registry.example.com (line 5)`},
		{"token without issuer", minimal + "auth:\n  token:\n    realm: https://r/t\n    service: s\n    jwks: /j\n", `config: auth.token.issuer: missing, want the token issuer's name (line 5)`},
		{"token without keys", minimal + "auth:\n  token:\n    realm: https://r/t\n    service: s\n    issuer: i\n", `config: auth.token.rootcertbundle: missing, want rootcertbundle, jwks or server to know the token signing keys (line 5)`},
		{"token server without key", minimal + tokenServer + "      htpasswd: /h\n", `config: auth.token.server.key: missing, want the PEM signing key (registry keygen makes one) (line 9)`},
		{"token server without htpasswd", minimal + tokenServer + "      key: /k\n", `config: auth.token.server.htpasswd: missing, want the htpasswd file of the users who may log in (line 9)`},
		{"token lifetime too long", minimal + tokenServer + "      key: /k\n      htpasswd: /h\n      expiration: 2h\n", `config: auth.token.server.expiration: invalid value "2h0m0s" (line 12), want at most 1h0m0s`},
		{"negative refresh lifetime", minimal + tokenServer + "      key: /k\n      htpasswd: /h\n      refreshexpiration: -1s\n", `config: auth.token.server.refreshexpiration: invalid value "-1s" (line 12), want 0 or more`},
		{"unknown token server key", minimal + tokenServer + "      signingkey: /k\n", `config: unknown key "auth.token.server.signingkey" (line 10)`},
		{"policy without path", minimal + "auth:\n  htpasswd:\n    realm: r\n    path: /p\n  policy: {}\n", `config: auth.policy.path: missing, want the policy file (line 8)`},
		{"policy without htpasswd or token server", minimal + "auth:\n  policy:\n    path: /p\n", `config: auth.policy (line 5): needs auth.htpasswd or auth.token.server, which apply it`},
		{"proxy without remoteurl", minimal + "proxy:\n  username: u\n", `config: proxy.remoteurl: missing, required in a proxy section without upstreams (line 4)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.yaml), nil)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("Load error\n got %s\nwant %s", err, tt.err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate: %v", err)
	}
	if c.Storage.Driver() != "filesystem" || c.Storage.Filesystem.RootDirectory != "./data" {
		t.Errorf("storage = %q at %v, want filesystem at ./data", c.Storage.Driver(), c.Storage.Filesystem)
	}
	if !c.Storage.Delete.Enabled {
		t.Error("Default has deletes disabled, want enabled")
	}
	if c.HTTP.Addr != ":5000" || c.HTTP.DrainTimeout != DefaultDrainTimeout {
		t.Errorf("http = %q, %v; want :5000, %v", c.HTTP.Addr, c.HTTP.DrainTimeout, DefaultDrainTimeout)
	}
	if Default() == c || Default().Storage.Filesystem == c.Storage.Filesystem {
		t.Error("Default returns shared values; callers may modify theirs")
	}
}

func TestValidateZeroConfig(t *testing.T) {
	err := (&Config{}).Validate()
	if err == nil || err.Error() != `config: version: missing, want "0.1"` {
		t.Errorf("Validate of the zero Config = %v", err)
	}
}

// TestSchema guards the conventions the decoder and the environment
// mapping rely on: every field has a lower-case yaml tag without "_" (which
// separates environment variable parts), unique within its struct, and a
// type the decoder handles.
func TestSchema(t *testing.T) {
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := tagName(f)
			key := join(path, tag)
			if tag == "" || tag != strings.ToLower(tag) || strings.ContainsAny(tag, "_-. ") {
				t.Errorf("%s.%s: yaml tag %q must be a lower-case word", typ, f.Name, tag)
			}
			if seen[tag] {
				t.Errorf("%s: duplicate tag %q", typ, tag)
			}
			seen[tag] = true
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == unsupportedType: // takes anything, refused
			case isScalar(ft) || ft == durationType:
			case ft.Kind() == reflect.Struct:
				walk(key, ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(key+"[]", ft.Elem())
			case ft.Kind() == reflect.Slice && isScalar(ft.Elem()):
			case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && isScalar(ft.Elem()):
			case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String &&
				ft.Elem().Kind() == reflect.Slice && isScalar(ft.Elem().Elem()):
			default:
				t.Errorf("%s: type %s is not handled by the decoder", key, f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}
