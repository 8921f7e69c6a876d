package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// fsFile configures filesystem storage with deletes, the base of the
// environment tests.
const fsFile = `version: 0.1
storage:
  filesystem:
    rootdirectory: /data
  delete:
    enabled: true
http:
  headers:
    X-Frame-Options: [SAMEORIGIN]
`

// wantFS returns what Load makes of fsFile, changed by f.
func wantFS(f func(c *Config)) *Config {
	c := base()
	c.Storage.Filesystem = &Filesystem{RootDirectory: "/data"}
	c.Storage.Delete.Enabled = true
	c.HTTP.Headers = map[string][]string{"X-Frame-Options": {"SAMEORIGIN"}}
	if f != nil {
		f(c)
	}
	return c
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want *Config
	}{
		{"no variables", nil, wantFS(nil)},
		{"scalar", []string{"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv/registry", "REGISTRY_HTTP_ADDR=:6000"},
			wantFS(func(c *Config) { c.Storage.Filesystem.RootDirectory = "/srv/registry"; c.HTTP.Addr = ":6000" })},
		{"boolean", []string{"REGISTRY_STORAGE_DELETE_ENABLED=false", "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED=true"},
			wantFS(func(c *Config) { c.Storage.Delete.Enabled = false; c.Storage.Maintenance.ReadOnly.Enabled = true })},
		{"duration", []string{"REGISTRY_HTTP_DRAINTIMEOUT=2m"},
			wantFS(func(c *Config) { c.HTTP.DrainTimeout = 2 * time.Minute })},
		{"enumeration in upper case", []string{"REGISTRY_LOG_LEVEL=DEBUG", "REGISTRY_LOG_FORMATTER=json"},
			wantFS(func(c *Config) { c.Log = Log{Level: "debug", Formatter: "json"} })},
		{"a scalar value is taken as written, not as YAML", []string{"REGISTRY_HTTP_SECRET=#not: [yaml"},
			wantFS(func(c *Config) { c.HTTP.Secret = "#not: [yaml" })},
		{"REGISTRY_STORAGE switches the driver and keeps delete", []string{"REGISTRY_STORAGE=inmemory"},
			wantFS(func(c *Config) { c.Storage.Filesystem = nil; c.Storage.InMemory = &InMemory{} })},
		{"REGISTRY_STORAGE naming the configured driver keeps its parameters", []string{"REGISTRY_STORAGE=filesystem"},
			wantFS(nil)},
		{
			"REGISTRY_STORAGE applies before the driver's keys whatever the order of env",
			[]string{"REGISTRY_STORAGE_S3_REGION=eu-west-1", "REGISTRY_STORAGE_S3_BUCKET=images", "REGISTRY_STORAGE=s3", "REGISTRY_STORAGE_S3_SECURE=false"},
			wantFS(func(c *Config) {
				c.Storage.Filesystem = nil
				c.Storage.S3 = &S3{Region: "eu-west-1", Bucket: "images", Secure: ptr(false)}
			}),
		},
		{"header replaces the file's, keeping its spelling", []string{"REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS=[DENY]"},
			wantFS(func(c *Config) { c.HTTP.Headers["X-Frame-Options"] = []string{"DENY"} })},
		{"new header", []string{"REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS=[nosniff]"},
			wantFS(func(c *Config) { c.HTTP.Headers["x-content-type-options"] = []string{"nosniff"} })},
		{"empty value clears a list", []string{"REGISTRY_HTTP_TLS_CERTIFICATE=/c.pem", "REGISTRY_HTTP_TLS_KEY=/k.pem", "REGISTRY_HTTP_TLS_CLIENTCAS="},
			wantFS(func(c *Config) { c.HTTP.TLS = TLS{Certificate: "/c.pem", Key: "/k.pem"} })},
		{
			"list as YAML, then items by index",
			[]string{
				"REGISTRY_HTTP_TLS_CERTIFICATE=/c.pem", "REGISTRY_HTTP_TLS_KEY=/k.pem",
				"REGISTRY_HTTP_TLS_CLIENTCAS=[/a.pem, /b.pem]",
				"REGISTRY_HTTP_TLS_CLIENTCAS_1=/B.pem", "REGISTRY_HTTP_TLS_CLIENTCAS_2=/c.pem",
			},
			wantFS(func(c *Config) {
				c.HTTP.TLS = TLS{Certificate: "/c.pem", Key: "/k.pem", ClientCAs: []string{"/a.pem", "/B.pem", "/c.pem"}}
			}),
		},
		{
			"list of structs by index",
			[]string{
				"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS=list",
				"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMLIST_0_OS=linux",
				"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMLIST_0_ARCHITECTURE=arm64",
			},
			wantFS(func(c *Config) {
				c.Validation.Manifests.Indexes = Indexes{Platforms: "list", PlatformList: []Platform{{OS: "linux", Architecture: "arm64"}}}
			}),
		},
		{"a whole section as YAML", []string{"REGISTRY_VALIDATION_MANIFESTS_INDEXES={platforms: none}"},
			wantFS(func(c *Config) { c.Validation.Manifests.Indexes.Platforms = "none" })},
		{"optional section created", []string{"REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io", "REGISTRY_PROXY_TTL=0s"},
			wantFS(func(c *Config) {
				c.Proxy = &Proxy{RemoteURL: "https://registry-1.docker.io", TTL: ptr(time.Duration(0))}
			})},
		{"names fold case", []string{"REGISTRY_http_Addr=:7000"},
			wantFS(func(c *Config) { c.HTTP.Addr = ":7000" })},
		{
			"ignored: not under a section, Kubernetes service links, other prefixes",
			[]string{
				"REGISTRY_=x", "REGISTRY_FOO=bar", "REGISTRY_PORT=tcp://10.0.0.1:5000",
				"REGISTRY_PORT_5000_TCP_ADDR=10.0.0.1", "REGISTRY_SERVICE_HOST=10.0.0.1",
				"REGISTRY_HTTP_SERVICE_HOST=10.0.0.2", "REGISTRY_HTTP_SERVICE_PORT_API=5000",
				"REGISTRY_HTTP_PORT=tcp://10.0.0.2:5000", "REGISTRY_HTTP_PORT_5000_TCP=tcp://10.0.0.2:5000",
				"REGISTRY_HTTP_PORT_5000_TCP_PROTO=tcp",
				"NOT_REGISTRY_HTTP_ADDR=:1", "HOME=/root", "REGISTRY_HTTP_ADDR", // no "=": not a variable
			},
			wantFS(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(strings.NewReader(fsFile), tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		err  string
	}{
		{"typo in a key", []string{"REGISTRY_HTTP_ADR=:6000"}, `config: unknown key "http.adr" (from REGISTRY_HTTP_ADR)`},
		{"typo in a nested key", []string{"REGISTRY_STORAGE_FILESYSTEM_ROOTDIR=/x"}, `config: unknown key "storage.filesystem.rootdir" (from REGISTRY_STORAGE_FILESYSTEM_ROOTDIR)`},
		{"underscore inside a key", []string{"REGISTRY_STORAGE_FILESYSTEM_ROOT_DIRECTORY=/x"}, `config: unknown key "storage.filesystem.root" (from REGISTRY_STORAGE_FILESYSTEM_ROOT_DIRECTORY)`},
		{"below a scalar", []string{"REGISTRY_HTTP_ADDR_HOST=x"}, `config: unknown key "http.addr.host" (from REGISTRY_HTTP_ADDR_HOST)`},
		{"below a scalar list item", []string{"REGISTRY_HTTP_TLS_CLIENTCAS_0_PATH=/x"}, `config: unknown key "http.tls.clientcas[0].path" (from REGISTRY_HTTP_TLS_CLIENTCAS_0_PATH)`},
		{"bad boolean", []string{"REGISTRY_STORAGE_DELETE_ENABLED=maybe"}, `config: storage.delete.enabled: invalid boolean "maybe", want true or false (from REGISTRY_STORAGE_DELETE_ENABLED)`},
		{"empty boolean", []string{"REGISTRY_STORAGE_DELETE_ENABLED="}, `config: storage.delete.enabled: invalid boolean "", want true or false (from REGISTRY_STORAGE_DELETE_ENABLED)`},
		{"bad duration", []string{"REGISTRY_HTTP_DRAINTIMEOUT=30"}, `config: http.draintimeout: invalid duration "30", want a number with a unit, e.g. 30s, 5m, 168h (from REGISTRY_HTTP_DRAINTIMEOUT)`},
		{"bad enumeration", []string{"REGISTRY_LOG_LEVEL=verbose"}, `config: log.level: invalid value "verbose" (from REGISTRY_LOG_LEVEL), want one of error, warn, info, debug`},
		{"unknown driver", []string{"REGISTRY_STORAGE=nfs"}, `config: storage: unknown storage driver "nfs", want filesystem, inmemory or s3 (from REGISTRY_STORAGE)`},
		{"a second driver", []string{"REGISTRY_STORAGE_S3_BUCKET=b"}, `config: storage: more than one driver configured (storage.filesystem (line 3), storage.s3 (from REGISTRY_STORAGE_S3_BUCKET)), want exactly one`},
		{"list index past the end", []string{"REGISTRY_HTTP_TLS_CLIENTCAS_5=/x"}, `config: http.tls.clientcas: invalid list index "5", want 0 to 0 (from REGISTRY_HTTP_TLS_CLIENTCAS_5)`},
		{"list index not a number", []string{"REGISTRY_HTTP_TLS_CLIENTCAS_FIRST=/x"}, `config: http.tls.clientcas: invalid list index "FIRST", want 0 to 0 (from REGISTRY_HTTP_TLS_CLIENTCAS_FIRST)`},
		{"list given a scalar", []string{"REGISTRY_HTTP_HEADERS_X-FOO=bar"}, `config: http.headers.x-foo: want a list, got "bar" (from REGISTRY_HTTP_HEADERS_X-FOO)`},
		{"bad YAML", []string{"REGISTRY_HTTP_HEADERS_X-FOO=[bar"}, `config: http.headers.x-foo: invalid value "[bar": line 1: did not find expected ',' or ']' (from REGISTRY_HTTP_HEADERS_X-FOO)`},
		{"unknown key in a YAML value", []string{"REGISTRY_VALIDATION_MANIFESTS_INDEXES={platform: none}"}, `config: unknown key "validation.manifests.indexes.platform" (from REGISTRY_VALIDATION_MANIFESTS_INDEXES)`},
		{"validation names the variable", []string{"REGISTRY_HTTP_ADDR=5000"}, `config: http.addr: invalid value "5000" (from REGISTRY_HTTP_ADDR), want host:port, e.g. :5000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(fsFile), tt.env)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("Load error\n got %s\nwant %s", err, tt.err)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	c, err := FromEnv(nil)
	if err != nil {
		t.Fatalf("FromEnv(nil): %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("FromEnv(nil) = %+v, want Default() %+v", c, Default())
	}

	c, err = FromEnv([]string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0"})
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if c.Storage.Driver() != "inmemory" || !c.Storage.Delete.Enabled || c.HTTP.Addr != "127.0.0.1:0" {
		t.Errorf("FromEnv: driver %q, delete %v, addr %q; want inmemory, true, 127.0.0.1:0",
			c.Storage.Driver(), c.Storage.Delete.Enabled, c.HTTP.Addr)
	}

	if _, err := FromEnv([]string{"REGISTRY_HTTP_ADR=:1"}); err == nil {
		t.Error("FromEnv accepted an unknown key")
	}
}
