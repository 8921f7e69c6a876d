package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const (
	exampleFile = "../../config.example.yml"
	dockerFile  = "../../cmd/registry/config-docker.yml"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// enable uncomments, in a file written like config.example.yml, the block
// of commented-out settings ("# " lines at one indentation, up to the next
// "##" or active line) whose first line, indentation removed, is first.
func enable(t *testing.T, text, first string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.TrimLeft(l, " ") != first {
			continue
		}
		prefix := l[:len(l)-len(first)] + "# "
		for j := i; j < len(lines) && strings.HasPrefix(lines[j], prefix); j++ {
			lines[j] = lines[j][:len(prefix)-2] + lines[j][len(prefix):]
		}
		return strings.Join(lines, "\n")
	}
	t.Fatalf("no line %q in the example", first)
	return ""
}

// TestExample loads config.example.yml as it is and with each of its
// optional blocks enabled: every documented setting must be valid.
func TestExample(t *testing.T) {
	text := readFile(t, exampleFile)

	c, err := Load(strings.NewReader(text), nil)
	if err != nil {
		t.Fatalf("as is: %v", err)
	}
	if c.Storage.Driver() != "filesystem" || c.Storage.Filesystem.RootDirectory != "/var/lib/registry" || !c.Storage.Delete.Enabled {
		t.Errorf("as is: storage %+v", c.Storage)
	}

	variants := []struct {
		name   string
		blocks []string
		env    []string
		check  func(c *Config) bool
	}{
		{"inmemory", []string{"# inmemory:"}, []string{"REGISTRY_STORAGE=inmemory"},
			func(c *Config) bool { return c.Storage.InMemory != nil }},
		{"s3", []string{"# s3:"}, []string{"REGISTRY_STORAGE=s3"},
			func(c *Config) bool {
				return c.Storage.S3 != nil && c.Storage.S3.Bucket == "registry" && *c.Storage.S3.Secure
			}},
		{"htpasswd", []string{"# auth:", "#   htpasswd:"}, nil,
			func(c *Config) bool { return c.Auth.Method() == "htpasswd" && c.Auth.Htpasswd.Path != "" }},
		{"token", []string{"# auth:", "#   token:"}, nil,
			func(c *Config) bool {
				s := c.Auth.Token.Server
				return c.Auth.Method() == "token" && c.Auth.Token.JWKS != "" && s != nil && s.Key != "" &&
					s.Expiration == DefaultTokenExpiration && *s.RefreshExpiration == DefaultRefreshExpiration
			}},
		{"htpasswd and policy", []string{"# auth:", "#   htpasswd:", "#   policy:"}, nil,
			func(c *Config) bool { return c.Auth.Method() == "htpasswd" && c.Auth.Policy.Path != "" }},
		{
			"everything else",
			[]string{
				"# uploadpurging:", "# gc:", "# cache:", "# host: https://registry.example.com", "# prefix: /registry/",
				"# secret: change-me", "# tls:", "# platformlist:", "# notifications:", "# proxy:",
				"# file:", "# http:", "# tcp:",
			},
			[]string{"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS=list"},
			func(c *Config) bool {
				return c.Storage.Maintenance.UploadPurging != nil && c.Storage.Cache.BlobDescriptor == "inmemory" &&
					c.Storage.GC.Enabled && c.Storage.GC.Grace == DefaultGCGrace &&
					c.HTTP.Host != "" && c.HTTP.Prefix != "" && c.HTTP.Secret != "" && len(c.HTTP.TLS.ClientCAs) == 1 &&
					len(c.Validation.Manifests.Indexes.PlatformList) == 2 && len(c.Notifications.Endpoints) == 1 &&
					c.Proxy != nil && c.Proxy.TTL != nil && len(c.Proxy.Upstreams) == 2 &&
					len(c.Health.File) == 1 && c.Health.HTTP[0].StatusCode == 200 && c.Health.HTTP[0].Headers["Authorization"][0] == "Bearer probe-token" &&
					c.Health.TCP[0].Addr == "db.internal:5432"
			},
		},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			text := text
			for _, b := range v.blocks {
				text = enable(t, text, b)
			}
			c, err := Load(strings.NewReader(text), v.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !v.check(c) {
				t.Errorf("the enabled settings did not arrive: %+v", c)
			}
		})
	}
}

// TestExampleMentionsEveryKey fails when a key is added to Config but not
// documented in config.example.yml.
func TestExampleMentionsEveryKey(t *testing.T) {
	text := readFile(t, exampleFile)
	var walk func(typ reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if typ == unsupportedType {
				continue
			}
			if !regexp.MustCompile(`(?m)^[ #]*(- )?` + tagName(f) + `:`).MatchString(text) {
				t.Errorf("config.example.yml does not mention %q (%s.%s)", tagName(f), typ.Name(), f.Name)
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
}

// TestDockerConfig loads the configuration baked into the Docker image.
func TestDockerConfig(t *testing.T) {
	c, err := Load(strings.NewReader(readFile(t, dockerFile)), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Storage.Driver() != "filesystem" || c.Storage.Filesystem.RootDirectory != "/var/lib/registry" ||
		!c.Storage.Delete.Enabled || c.HTTP.Addr != ":5000" {
		t.Errorf("docker config: storage %q at %+v, delete %v, addr %q",
			c.Storage.Driver(), c.Storage.Filesystem, c.Storage.Delete.Enabled, c.HTTP.Addr)
	}
}
