package config

import (
	"crypto/tls"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/testutil"
)

// refusedKeys returns the key each line of err names, and fails the test
// for a line that is not a one-line refusal "config: <key> (line N): ...".
func refusedKeys(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want refusals")
	}
	re := regexp.MustCompile(`^config: ([a-z0-9.\[\]]+) \((line \d+|from REGISTRY_[A-Z0-9_]+)\): \S.*; .+$`)
	var keys []string
	for _, line := range strings.Split(err.Error(), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q is not a refusal naming its key, where it is, why and what to do", line)
			continue
		}
		keys = append(keys, m[1])
	}
	return keys
}

// dedupe drops the earlier of two equal keys in every mapping of the
// document, as Distribution's YAML parser (yaml.v2, last one wins) does.
func dedupe(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		var kept []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			later := false
			for j := i + 2; j+1 < len(n.Content); j += 2 {
				later = later || n.Content[j].Value == n.Content[i].Value
			}
			if !later {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dedupe(c)
	}
}

// TestDistributionReference loads the example of Distribution v3.1.2's
// configuration reference that names every option. Distribution's own
// parser cannot load it either (two fields hold a placeholder of the wrong
// type); Berth reports those and the two keys it repeats, all at once.
// With the placeholders filled in and the repeats resolved as
// Distribution's parser would, what remains refused is exactly the keys
// Berth does not offer, one line each.
func TestDistributionReference(t *testing.T) {
	text := testutil.DistributionReferenceExample(t)

	_, err := Load(strings.NewReader(text), nil)
	wantAsIs := []string{
		`config: duplicate key "middleware.storage" (line `,
		`config: notifications.endpoints[0].headers: want a mapping, got "<http.Header>" (line `,
		`config: duplicate key "redis.tls" (line `,
		`config: proxy.username: want a string, got a list (line `,
		`config: proxy.password: want a string, got a list (line `,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(wantAsIs) {
		t.Fatalf("as is: %d problems, want %d:\n%v", len(lines), len(wantAsIs), err)
	}
	for i, want := range wantAsIs {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("as is: problem %d = %q, want %q...", i, lines[i], want)
		}
	}

	for old, fixed := range map[string]string{
		"headers: <http.Header>": "headers: {Authorization: [Bearer x]}",
		"username: [username]":   "username: username",
		"password: [password]":   "password: password",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("the reference no longer has %q: review this test", old)
		}
		text = strings.ReplaceAll(text, old, fixed)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	dedupe(&doc)
	b, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Load(strings.NewReader(string(b)), nil)
	got := refusedKeys(t, err)
	want := []string{
		"storage.azure", "storage.gcs",
		"auth.silly", "auth.token.autoredirect",
		"middleware.registry", "middleware.repository", "middleware.storage",
		"http.tls.letsencrypt", "proxy.exec",
	}
	if !slices.Equal(got, want) {
		t.Errorf("refused %q\nwant    %q\n%v", got, want, err)
	}
}

// TestDistributionExamples loads the configurations of Distribution
// v3.1.2's cmd/registry unchanged.
func TestDistributionExamples(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(c *Config) bool
		// notYet is the keys NotImplemented must name.
		notYet []string
	}{
		{"config-example.yml", func(c *Config) bool {
			return c.Log.Fields["service"] == "registry" && c.Storage.Cache.BlobDescriptor == "inmemory" &&
				c.Storage.Tag.ConcurrencyLimit == 8 && c.Auth.Method() == "htpasswd" &&
				c.Health.StorageDriver == StorageHealth{Enabled: true, Interval: 10 * time.Second, Threshold: 3}
		}, nil},
		{"config-dev.yml", func(c *Config) bool {
			return c.Log.Level == "debug" && len(c.Log.Fields) == 2 && c.Storage.Delete.Enabled &&
				c.HTTP.Debug.Addr == ":5001" && c.HTTP.Debug.Prometheus == Prometheus{Enabled: true, Path: "/metrics"}
		}, nil},
		{"config-cache.yml", func(c *Config) bool {
			return slices.Equal(c.Redis.Addrs, []string{"localhost:6379"}) && c.Redis.PoolSize == 64 &&
				c.Redis.DialTimeout == 10*time.Millisecond && len(c.Notifications.Endpoints) == 2 &&
				c.Proxy != nil && c.Proxy.RemoteURL == "https://registry-1.docker.io"
		}, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			text := testutil.DistributionFile(t, "cmd/registry/"+tc.file)
			c, err := Load(strings.NewReader(text), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("the settings did not arrive: %+v", c)
			}
			var notYet []string
			for _, e := range c.NotImplemented() {
				notYet = append(notYet, e.Error())
			}
			if len(notYet) != len(tc.notYet) {
				t.Fatalf("NotImplemented = %q, want %q", notYet, tc.notYet)
			}
			for i, want := range tc.notYet {
				if !strings.Contains(notYet[i], want) || strings.Contains(notYet[i], "\n") {
					t.Errorf("NotImplemented[%d] = %q, want one line with %q", i, notYet[i], want)
				}
			}
		})
	}
}

// TestRefusals covers each refused key, from a file and from the
// environment.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       []string
	}{
		{"v4auth false", "storage:\n  s3:\n    bucket: b\n    region: r\n    v4auth: false\n", nil, []string{"storage.s3.v4auth"}},
		{"enabled log hook", "storage: inmemory\nlog:\n  hooks:\n    - type: mail\n    - type: mail\n      disabled: true\n", nil, []string{"log.hooks[0]"}},
		{"reporting", "storage: inmemory\nreporting:\n  bugsnag:\n    apikey: x\n", nil, []string{"reporting"}},
		{"redirectendpoint", "storage:\n  s3:\n    bucket: b\n    region: r\n    redirectendpoint: https://cdn.example.com\n", nil, []string{"storage.s3.redirectendpoint"}},
		{"silly as a scalar section", "storage: inmemory\nauth:\n  silly:\n", nil, []string{"auth.silly"}},
		{"classes", "storage: inmemory\npolicy:\n  repository:\n    classes: [image]\n", nil, []string{"policy.repository.classes"}},
		{"from the environment", "storage: inmemory\n", []string{"REGISTRY_MIDDLEWARE_STORAGE_0_NAME=cloudfront", "REGISTRY_STORAGE_S3_V4AUTH=false"},
			[]string{"storage.s3.v4auth", "middleware.storage"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader("version: 0.1\n"+tc.yaml), tc.env)
			if got := refusedKeys(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("refused %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

// TestAcceptedAsDistributionMeansThem checks the Distribution keys that
// act: values parsed, defaults and aliases applied.
func TestAcceptedAsDistributionMeansThem(t *testing.T) {
	load := func(t *testing.T, yml string, env ...string) *Config {
		t.Helper()
		c, err := Load(strings.NewReader("version: 0.1\nstorage: inmemory\n"+yml), env)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("loglevel alias", func(t *testing.T) {
		if c := load(t, "loglevel: DEBUG\n"); c.Log.Level != "debug" {
			t.Errorf("loglevel alone: log.level %q", c.Log.Level)
		}
		if c := load(t, "loglevel: debug\nlog:\n  level: warn\n"); c.Log.Level != "warn" {
			t.Errorf("log.level and loglevel: log.level %q, want log.level to win", c.Log.Level)
		}
	})
	t.Run("tls", func(t *testing.T) {
		c := load(t, "http:\n  tls:\n    certificate: c.pem\n    key: k.pem\n    clientcas: [ca.pem]\n    clientauth: verify-client-cert-if-given\n    minimumtls: TLS1.3\n    ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n")
		if c.HTTP.TLS.ClientAuthType() != tls.VerifyClientCertIfGiven || c.HTTP.TLS.MinVersion() != tls.VersionTLS13 ||
			!slices.Equal(c.HTTP.TLS.CipherSuiteIDs(), []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}) {
			t.Errorf("tls: %+v", c.HTTP.TLS)
		}
		if d := load(t, ""); d.HTTP.TLS.ClientAuthType() != tls.RequireAndVerifyClientCert || d.HTTP.TLS.MinVersion() != tls.VersionTLS12 || d.HTTP.TLS.CipherSuiteIDs() != nil {
			t.Errorf("tls defaults: %+v", d.HTTP.TLS)
		}
	})
	t.Run("manifest urls", func(t *testing.T) {
		c := load(t, "validation:\n  manifests:\n    urls:\n      allow: ['^https?://([^/]+\\.)*example\\.com/']\n      deny: ['^https?://www\\.example\\.com/']\n")
		allow, deny, err := c.Validation.ManifestURLs()
		if err != nil || !allow.MatchString("https://cdn.example.com/x") || allow.MatchString("https://example.org/x") ||
			!deny.MatchString("https://www.example.com/x") {
			t.Errorf("urls: allow %v, deny %v, %v", allow, deny, err)
		}
		allow, deny, _ = load(t, "").Validation.ManifestURLs()
		if allow.MatchString("https://example.com/") || deny != nil {
			t.Errorf("no lists: allow %v deny %v, want nothing allowed", allow, deny)
		}
		allow, deny, _ = load(t, "validation:\n  disabled: true\n").Validation.ManifestURLs()
		if allow != nil || deny != nil {
			t.Errorf("disabled: allow %v deny %v, want no restriction", allow, deny)
		}
		allow, _, _ = load(t, "validation:\n  enabled: true\n  disabled: true\n").Validation.ManifestURLs()
		if allow == nil {
			t.Error("enabled: true must win over disabled: true, as in Distribution")
		}
	})
	t.Run("s3 and fields from the environment", func(t *testing.T) {
		c := load(t, "", "REGISTRY_STORAGE=s3", "REGISTRY_STORAGE_S3_BUCKET=b", "REGISTRY_STORAGE_S3_REGION=r",
			"REGISTRY_STORAGE_S3_OBJECTACL=bucket-owner-full-control", "REGISTRY_STORAGE_S3_LOGLEVEL=Debug",
			"REGISTRY_LOG_FIELDS_SERVICE=registry")
		if c.Storage.S3.ObjectACL != "bucket-owner-full-control" || c.Storage.S3.LogLevel != "debug" || c.Log.Fields["service"] != "registry" {
			t.Errorf("s3 %+v, fields %v", c.Storage.S3, c.Log.Fields)
		}
	})
}

func TestDistKeyErrors(t *testing.T) {
	const s3 = "storage:\n  s3:\n    bucket: b\n    region: r\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"clientauth", "storage: inmemory\nhttp:\n  tls:\n    certificate: c\n    key: k\n    clientauth: maybe\n", `config: http.tls.clientauth: invalid value "maybe" (line 7), want one of `},
		{"minimumtls", "storage: inmemory\nhttp:\n  tls:\n    certificate: c\n    key: k\n    minimumtls: ssl3\n", `config: http.tls.minimumtls: invalid value "ssl3" (line 7)`},
		{"insecure suite", "storage: inmemory\nhttp:\n  tls:\n    certificate: c\n    key: k\n    ciphersuites: [TLS_RSA_WITH_RC4_128_SHA]\n", `config: http.tls.ciphersuites[0]: unknown or insecure cipher suite "TLS_RSA_WITH_RC4_128_SHA"`},
		{"clientauth without clientcas", "storage: inmemory\nhttp:\n  tls:\n    certificate: c\n    key: k\n    clientauth: verify-client-cert-if-given\n", `config: http.tls.clientauth (line 7): needs http.tls.clientcas`},
		{"tls options without tls", "storage: inmemory\nhttp:\n  tls:\n    minimumtls: tls1.3\n", `config: http.tls: clientauth, minimumtls and ciphersuites need`},
		{"bad regexp", "storage: inmemory\nvalidation:\n  manifests:\n    urls:\n      allow: ['(']\n", `config: validation.manifests.urls.allow[0]: invalid regular expression "("`},
		{"acl", s3 + "    objectacl: everyone\n", `config: storage.s3.objectacl: invalid value "everyone" (line 6)`},
		{"s3 loglevel", s3 + "    loglevel: loud\n", `config: storage.s3.loglevel: invalid value "loud" (line 6)`},
		{"session token alone", s3 + "    sessiontoken: t\n", `config: storage.s3.sessiontoken (line 6): needs storage.s3.accesskey and storage.s3.secretkey`},
		{"accelerate with endpoint", s3 + "    regionendpoint: http://127.0.0.1:9000\n    accelerate: true\n", `config: storage.s3.accelerate (line 7): S3 Transfer Acceleration`},
		{"loglevel", "storage: inmemory\nloglevel: loud\n", `config: loglevel: invalid value "loud" (line 3)`},
		{"maxtags", "storage: inmemory\ntags:\n  maxtags: -1\n", `config: tags.maxtags: invalid value -1 (line 4), want 0 or more`},
		{"signing algorithm", "storage: inmemory\nauth:\n  token:\n    realm: https://r.example.com/t\n    service: s\n    issuer: i\n    jwks: j\n    signingalgorithms: [RS256, none]\n",
			`config: auth.token.signingalgorithms[1]: unknown algorithm "none" (line 9), want one of EdDSA, HS256`},
		{"net", "storage: inmemory\nhttp:\n  net: udp\n", `config: http.net: invalid value "udp" (line 4)`},
		{"prometheus path", "storage: inmemory\nhttp:\n  debug:\n    prometheus:\n      path: metrics\n", `config: http.debug.prometheus.path: invalid value "metrics" (line 6)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader("version: 0.1\n"+tc.yaml), nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Load error\n got %v\nwant %s...", err, tc.want)
			}
		})
	}
}
