package config

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// This file holds the keys of Distribution v3's configuration reference
// that Berth accepts for compatibility, and decides which of them a
// configuration may use. Every key of the reference parses; a key that
// would change behaviour in a way Berth cannot honour is refused at
// start-up by refusals, one line per key naming it and what to do instead.
// Keys that are pure tuning of Distribution's internals (and so change
// nothing a client can observe) are accepted without effect; docs/configuration.md
// lists both sets with the reasons.

// Unsupported is a section Berth parses only to refuse it: whatever it
// holds (a mapping, a list, a scalar, even nothing), Set records that the
// file or environment configured it.
type Unsupported struct{ Set bool }

var unsupportedType = reflect.TypeFor[Unsupported]()

// AccessLog is log.accesslog.
type AccessLog struct {
	Disabled bool `yaml:"disabled"` // no line per request
}

// LogHook is one entry of log.hooks (Distribution's mail hooks). Only
// disabled hooks are accepted.
type LogHook struct {
	Type     string      `yaml:"type"`
	Disabled bool        `yaml:"disabled"`
	Levels   []string    `yaml:"levels,omitempty"`
	Options  Unsupported `yaml:"options"`
}

// Tag is storage.tag.
type Tag struct {
	// ConcurrencyLimit is accepted without effect: Distribution's bound on
	// parallel tag lookups when a manifest is deleted.
	ConcurrencyLimit int `yaml:"concurrencylimit"`
}

// Prometheus is http.debug.prometheus: metrics on the debug listener.
type Prometheus struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"` // default /metrics
}

// HTTP2 is http.http2.
type HTTP2 struct {
	Disabled bool `yaml:"disabled"` // serve HTTPS with HTTP/1.1 only
}

// H2C is http.h2c.
type H2C struct {
	Enabled bool `yaml:"enabled"` // HTTP/2 without TLS (prior knowledge)
}

// LetsEncrypt is http.tls.letsencrypt, refused when any key is set.
type LetsEncrypt struct {
	CacheFile    string   `yaml:"cachefile"`
	Email        string   `yaml:"email"`
	Hosts        []string `yaml:"hosts,omitempty"`
	DirectoryURL string   `yaml:"directoryurl"`
}

// URLs is validation.manifests.urls: regular expressions (Go syntax,
// unanchored, as in Distribution) for the URLs a layer descriptor may
// carry. With neither list a manifest whose layers carry URLs is refused,
// unless validation.disabled.
type URLs struct {
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

// Redis is the redis section, Distribution v3's go-redis UniversalOptions
// (and Distribution 2's addr and tls.enabled), used by
// storage.cache.blobdescriptor: redis (cmd/registry maps it onto go-redis).
type Redis struct {
	Addrs                 []string      `yaml:"addrs,omitempty"`
	Addr                  string        `yaml:"addr"`
	ClientName            string        `yaml:"clientname"`
	DB                    int           `yaml:"db"`
	Protocol              int           `yaml:"protocol"`
	Username              string        `yaml:"username"`
	Password              string        `yaml:"password"`
	SentinelUsername      string        `yaml:"sentinelusername"`
	SentinelPassword      string        `yaml:"sentinelpassword"`
	MaxRetries            int           `yaml:"maxretries"`
	MinRetryBackoff       time.Duration `yaml:"minretrybackoff"`
	MaxRetryBackoff       time.Duration `yaml:"maxretrybackoff"`
	DialTimeout           time.Duration `yaml:"dialtimeout"`
	ReadTimeout           time.Duration `yaml:"readtimeout"`
	WriteTimeout          time.Duration `yaml:"writetimeout"`
	ContextTimeoutEnabled bool          `yaml:"contexttimeoutenabled"`
	PoolFIFO              bool          `yaml:"poolfifo"`
	PoolSize              int           `yaml:"poolsize"`
	PoolTimeout           time.Duration `yaml:"pooltimeout"`
	MinIdleConns          int           `yaml:"minidleconns"`
	MaxIdleConns          int           `yaml:"maxidleconns"`
	MaxActiveConns        int           `yaml:"maxactiveconns"`
	ConnMaxIdleTime       time.Duration `yaml:"connmaxidletime"`
	ConnMaxLifetime       time.Duration `yaml:"connmaxlifetime"`
	MaxRedirects          int           `yaml:"maxredirects"`
	ReadOnly              bool          `yaml:"readonly"`
	RouteByLatency        bool          `yaml:"routebylatency"`
	RouteRandomly         bool          `yaml:"routerandomly"`
	MasterName            string        `yaml:"mastername"`
	DisableIdentity       bool          `yaml:"disableidentity"`
	IdentitySuffix        string        `yaml:"identitysuffix"`
	UnstableResp3         bool          `yaml:"unstableresp3"`
	TLS                   RedisTLS      `yaml:"tls"`
}

// RedisTLS is redis.tls.
type RedisTLS struct {
	Enabled     bool     `yaml:"enabled"`
	Certificate string   `yaml:"certificate"`
	Key         string   `yaml:"key"`
	RootCAs     []string `yaml:"rootcas,omitempty"`
}

// Health is the health section: Distribution's periodic checks, which
// /readyz and /debug/health report.
type Health struct {
	StorageDriver StorageHealth `yaml:"storagedriver"`
	File          []FileCheck   `yaml:"file,omitempty"`
	HTTP          []HTTPCheck   `yaml:"http,omitempty"`
	TCP           []TCPCheck    `yaml:"tcp,omitempty"`
}

// StorageHealth is health.storagedriver.
type StorageHealth struct {
	Enabled   bool          `yaml:"enabled"`
	Interval  time.Duration `yaml:"interval"`  // Distribution's default 10s
	Threshold int           `yaml:"threshold"` // failures before unhealthy
}

// FileCheck is one entry of health.file: unhealthy while File exists.
// Threshold is accepted and, as in Distribution, has no effect.
type FileCheck struct {
	File      string        `yaml:"file"`
	Interval  time.Duration `yaml:"interval"`
	Threshold int           `yaml:"threshold"`
}

// HTTPCheck is one entry of health.http.
type HTTPCheck struct {
	URI        string              `yaml:"uri"`
	Headers    map[string][]string `yaml:"headers,omitempty"`
	StatusCode int                 `yaml:"statuscode"` // default 200
	Timeout    time.Duration       `yaml:"timeout"`
	Interval   time.Duration       `yaml:"interval"`
	Threshold  int                 `yaml:"threshold"`
}

// TCPCheck is one entry of health.tcp.
type TCPCheck struct {
	Addr      string        `yaml:"addr"`
	Timeout   time.Duration `yaml:"timeout"`
	Interval  time.Duration `yaml:"interval"`
	Threshold int           `yaml:"threshold"`
}

// Middleware is the middleware section. Distribution's middlewares are Go
// plugins compiled into its binary; each kind configured is refused.
type Middleware struct {
	Registry   Unsupported `yaml:"registry"`
	Repository Unsupported `yaml:"repository"`
	Storage    Unsupported `yaml:"storage"`
}

// Catalog is the catalog section.
type Catalog struct {
	// MaxEntries caps a catalog page; DefaultPageMax when 0.
	MaxEntries int `yaml:"maxentries"`
}

// Tags is the tags section.
type Tags struct {
	// MaxTags caps the n of a tags list request; DefaultPageMax when 0.
	MaxTags int `yaml:"maxtags"`
}

// RepoPolicy is Distribution's top-level policy section (not auth.policy).
type RepoPolicy struct {
	Repository RepoClasses `yaml:"repository"`
}

// RepoClasses is policy.repository.
type RepoClasses struct {
	Classes []string `yaml:"classes,omitempty"` // refused when set
}

// DefaultPageMax is Distribution's default of catalog.maxentries and
// tags.maxtags.
const DefaultPageMax = 1000

// PageMax is a configured catalog.maxentries or tags.maxtags with
// Distribution's default applied.
func PageMax(n int) int {
	if n <= 0 {
		return DefaultPageMax
	}
	return n
}

var (
	netKinds    = []string{"", "tcp", "unix"}
	clientAuths = map[string]tls.ClientAuthType{
		"":                               tls.RequireAndVerifyClientCert,
		"request-client-cert":            tls.RequestClientCert,
		"require-any-client-cert":        tls.RequireAnyClientCert,
		"verify-client-cert-if-given":    tls.VerifyClientCertIfGiven,
		"require-and-verify-client-cert": tls.RequireAndVerifyClientCert,
	}
	tlsVersions = map[string]uint16{
		"":       tls.VersionTLS12,
		"tls1.0": tls.VersionTLS10,
		"tls1.1": tls.VersionTLS11,
		"tls1.2": tls.VersionTLS12,
		"tls1.3": tls.VersionTLS13,
	}
	// s3ACLs are S3's canned ACLs, as Distribution accepts them.
	s3ACLs = []string{"", "private", "public-read", "public-read-write", "authenticated-read",
		"aws-exec-read", "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"}
	// jwtAlgorithms are the JWS names Distribution accepts in
	// auth.token.signingalgorithms; Berth verifies RS256, ES256 and EdDSA.
	jwtAlgorithms = []string{"EdDSA", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
		"ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
	s3LogLevels = []string{"", "off", "debug", "debugwithsigning", "debugwithhttpbody",
		"debugwithrequestretries", "debugwithrequesterrors", "debugwitheventstreambody"}
)

// ClientAuthType is http.tls.clientauth as crypto/tls names it.
func (t *TLS) ClientAuthType() tls.ClientAuthType { return clientAuths[t.ClientAuth] }

// MinVersion is http.tls.minimumtls as crypto/tls names it.
func (t *TLS) MinVersion() uint16 { return tlsVersions[t.MinimumTLS] }

// CipherSuiteIDs are http.tls.ciphersuites as crypto/tls numbers them, nil
// for Go's defaults.
func (t *TLS) CipherSuiteIDs() []uint16 {
	var ids []uint16
	for _, name := range t.CipherSuites {
		if id, ok := cipherSuite(name); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// cipherSuite finds a suite by its crypto/tls name, secure ones only.
func cipherSuite(name string) (uint16, bool) {
	for _, s := range tls.CipherSuites() {
		if s.Name == name {
			return s.ID, true
		}
	}
	return 0, false
}

// ValidationDisabled reports whether validation.disabled applies: as in
// Distribution, the deprecated validation.enabled: true overrides it.
func (v *Validation) ValidationDisabled() bool { return v.Disabled && !v.Enabled }

// ManifestURLs compiles validation.manifests.urls as Distribution does:
// each list joined into one alternation of non-capturing groups. With
// validation disabled both are nil (any http or https URL); with neither
// list, allow matches only "" so that no URL passes.
func (v *Validation) ManifestURLs() (allow, deny *regexp.Regexp, err error) {
	if v.ValidationDisabled() {
		return nil, nil, nil
	}
	u := v.Manifests.URLs
	if len(u.Allow) == 0 && len(u.Deny) == 0 {
		return regexp.MustCompile("^$"), nil, nil
	}
	compile := func(key string, list []string) (*regexp.Regexp, error) {
		if len(list) == 0 {
			return nil, nil
		}
		parts := make([]string, len(list))
		for i, s := range list {
			if _, err := regexp.Compile(s); err != nil {
				return nil, fmt.Errorf("config: %s[%d]: invalid regular expression %q: %v", key, i, s, err)
			}
			parts[i] = "(?:" + s + ")"
		}
		return regexp.Compile(strings.Join(parts, "|"))
	}
	if allow, err = compile("validation.manifests.urls.allow", u.Allow); err != nil {
		return nil, nil, err
	}
	if deny, err = compile("validation.manifests.urls.deny", u.Deny); err != nil {
		return nil, nil, err
	}
	return allow, deny, nil
}

// refusals lists, one error per key, the configured Distribution keys that
// Berth does not offer by design. Each line names the key, why, and what
// to do instead. Keys for features still to come would parse and
// validate, and the program refuse them until it implements them
// (NotImplemented; none today).
func (c *Config) refusals(o origins) []error {
	var errs []error
	refuse := func(key, why string) {
		errs = append(errs, fmt.Errorf("config: %s%s: %s", key, o.at(key), why))
	}
	if c.Reporting.Set {
		refuse("reporting", "bugsnag and newrelic reporting is not supported (Distribution v3 removed it too); remove the section")
	}
	for i, h := range c.Log.Hooks {
		if !h.Disabled {
			refuse(fmt.Sprintf("log.hooks[%d]", i), "log hooks (mail alerts) are not supported; alert from your log pipeline, or set disabled: true")
		}
	}
	s := &c.Storage
	if s.Azure.Set {
		refuse("storage.azure", "the azure driver is not supported; use storage.s3 (through an S3-compatible gateway) or storage.filesystem")
	}
	if s.GCS.Set {
		refuse("storage.gcs", "the gcs driver is not supported; use storage.s3 with regionendpoint: https://storage.googleapis.com and HMAC keys")
	}
	if s3 := s.S3; s3 != nil {
		if s3.V4Auth != nil && !*s3.V4Auth {
			refuse("storage.s3.v4auth", "false asks for AWS signature version 2, which aws-sdk-go-v2 and S3 no longer offer; remove the key (Berth signs with version 4)")
		}
		if s3.RedirectEndpoint != "" {
			refuse("storage.s3.redirectendpoint", "is not supported; redirects go to the S3 endpoint itself (storage.redirect.disable: true serves blobs through Berth instead)")
		}
	}
	if c.Auth.Silly.Set {
		refuse("auth.silly", "the silly method (any Authorization header passes) is for tests and is not offered; use auth.htpasswd or auth.token")
	}
	if t := c.Auth.Token; t != nil {
		if t.AutoRedirect || t.AutoRedirectPath != "" {
			refuse("auth.token.autoredirect", "is not supported; set auth.token.realm to the token endpoint's absolute URL")
		}
	}
	if c.Middleware.Registry.Set {
		refuse("middleware.registry", "registry middlewares are Go plugins of Distribution's binary and do not exist here; remove the section")
	}
	if c.Middleware.Repository.Set {
		refuse("middleware.repository", "repository middlewares are Go plugins of Distribution's binary and do not exist here; remove the section")
	}
	if c.Middleware.Storage.Set {
		refuse("middleware.storage", "storage middlewares (cloudfront, redirect, rewrite) are not supported; use storage.redirect (presigned S3 URLs) and put a CDN in front of the registry")
	}
	if len(c.Policy.Repository.Classes) > 0 {
		refuse("policy.repository.classes", "is not supported; restrict what may be pushed with auth.policy")
	}
	h := &c.HTTP
	if le := h.TLS.LetsEncrypt; le.CacheFile != "" || le.Email != "" || len(le.Hosts) > 0 || le.DirectoryURL != "" {
		refuse("http.tls.letsencrypt", "is not supported; obtain certificates with an ACME client (certbot, a reverse proxy) and set http.tls.certificate and http.tls.key")
	}
	if c.Proxy != nil && c.Proxy.Exec.Set {
		refuse("proxy.exec", "credential helpers are not supported; set proxy.username and proxy.password")
	}
	return errs
}

// validateDist checks the values of the Distribution keys Berth implements.
func (c *Config) validateDist(o origins, v func(key, value string, want []string) error) error {
	h := &c.HTTP
	if err := v("http.net", h.Net, netKinds); err != nil {
		return err
	}
	if _, ok := clientAuths[h.TLS.ClientAuth]; !ok {
		return fmt.Errorf("config: http.tls.clientauth: invalid value %q%s, want one of %s", h.TLS.ClientAuth, o.at("http.tls.clientauth"), strings.Join(sortedKeys(clientAuths), ", "))
	}
	if _, ok := tlsVersions[h.TLS.MinimumTLS]; !ok {
		return fmt.Errorf("config: http.tls.minimumtls: invalid value %q%s, want one of %s", h.TLS.MinimumTLS, o.at("http.tls.minimumtls"), strings.Join(sortedKeys(tlsVersions), ", "))
	}
	for i, name := range h.TLS.CipherSuites {
		if _, ok := cipherSuite(name); !ok {
			key := fmt.Sprintf("http.tls.ciphersuites[%d]", i)
			return fmt.Errorf("config: %s: unknown or insecure cipher suite %q%s, want a name from Go's crypto/tls, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", key, name, o.at(key))
		}
	}
	if (h.TLS.ClientAuth != "" || h.TLS.MinimumTLS != "" || len(h.TLS.CipherSuites) > 0) && !h.TLS.Enabled() {
		return fmt.Errorf("config: http.tls: clientauth, minimumtls and ciphersuites need http.tls.certificate and http.tls.key%s", o.at("http.tls"))
	}
	if h.TLS.ClientAuth != "" && len(h.TLS.ClientCAs) == 0 {
		return fmt.Errorf("config: http.tls.clientauth%s: needs http.tls.clientcas, the CAs client certificates are checked against", o.at("http.tls.clientauth"))
	}
	if c.Catalog.MaxEntries < 0 {
		return fmt.Errorf("config: catalog.maxentries: invalid value %d%s, want 0 or more", c.Catalog.MaxEntries, o.at("catalog.maxentries"))
	}
	if c.Tags.MaxTags < 0 {
		return fmt.Errorf("config: tags.maxtags: invalid value %d%s, want 0 or more", c.Tags.MaxTags, o.at("tags.maxtags"))
	}
	if t := c.Auth.Token; t != nil {
		for i, a := range t.SigningAlgorithms {
			if !slices.Contains(jwtAlgorithms, a) {
				key := fmt.Sprintf("auth.token.signingalgorithms[%d]", i)
				return fmt.Errorf("config: %s: unknown algorithm %q%s, want one of %s", key, a, o.at(key), strings.Join(jwtAlgorithms, ", "))
			}
		}
	}
	if p := h.Debug.Prometheus; p.Path != "" && !strings.HasPrefix(p.Path, "/") {
		return fmt.Errorf("config: http.debug.prometheus.path: invalid value %q%s, want a path starting with /", p.Path, o.at("http.debug.prometheus.path"))
	}
	if s3 := c.Storage.S3; s3 != nil {
		if err := v("storage.s3.objectacl", s3.ObjectACL, s3ACLs); err != nil {
			return err
		}
		if err := v("storage.s3.loglevel", s3.LogLevel, s3LogLevels); err != nil {
			return err
		}
		if s3.SessionToken != "" && (s3.AccessKey == "" || s3.SecretKey == "") {
			return fmt.Errorf("config: storage.s3.sessiontoken%s: needs storage.s3.accesskey and storage.s3.secretkey", o.at("storage.s3.sessiontoken"))
		}
		if s3.Accelerate && s3.RegionEndpoint != "" {
			return fmt.Errorf("config: storage.s3.accelerate%s: S3 Transfer Acceleration is AWS's own endpoint, it cannot go with storage.s3.regionendpoint", o.at("storage.s3.accelerate"))
		}
	}
	if _, _, err := c.Validation.ManifestURLs(); err != nil {
		return err
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// NotImplemented lists, one error per key, the configured keys whose
// feature Berth will have but does not have yet, in the form of refusals.
// A program that serves the configuration calls it after Load.
func (c *Config) NotImplemented() []error {
	return nil
}
