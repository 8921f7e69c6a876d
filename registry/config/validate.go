package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

var (
	logLevels      = []string{"error", "warn", "info", "debug"}
	logFormatters  = []string{"text", "json", "logstash"}
	platformModes  = []string{"all", "none", "list"}
	layerModes     = []string{"all", "none"}
	blobDescCaches = []string{"", "inmemory", "redis"}
)

// Validate checks a complete configuration, such as Default returns or Load
// produced, and reports the first problem as a one-line error naming the
// key. Enumerated values must be lower-case here; Load lower-cases them.
func (c *Config) Validate() error { return c.validate(nil) }

func (c *Config) validate(o origins) error {
	// v checks key against its enumerated values.
	v := func(key, value string, want []string) error {
		if slices.Contains(want, value) {
			return nil
		}
		return fmt.Errorf("config: %s: invalid value %q%s, want one of %s", key, value, o.at(key), strings.Join(nonEmpty(want), ", "))
	}
	missing := func(key, why string) error {
		return fmt.Errorf("config: %s: missing, %s", key, why)
	}

	switch c.Version {
	case Version:
	case "":
		return missing("version", fmt.Sprintf("want %q", Version))
	default:
		return fmt.Errorf("config: version: unsupported value %q%s, want %q", c.Version, o.at("version"), Version)
	}
	if c.LogLevel != "" { // before log.level, which it may have set
		if err := v("loglevel", c.LogLevel, logLevels); err != nil {
			return err
		}
	}
	if err := v("log.level", c.Log.Level, logLevels); err != nil {
		return err
	}
	if err := v("log.formatter", c.Log.Formatter, logFormatters); err != nil {
		return err
	}
	if err := c.Health.validate(o); err != nil {
		return err
	}
	if err := c.Storage.validate(o, v, missing); err != nil {
		return err
	}
	if err := c.HTTP.validate(o, missing); err != nil {
		return err
	}
	if err := c.validateDist(o, v); err != nil {
		return err
	}

	if err := v("validation.manifests.layers", c.Validation.Manifests.Layers, layerModes); err != nil {
		return err
	}
	ix := c.Validation.Manifests.Indexes
	if err := v("validation.manifests.indexes.platforms", ix.Platforms, platformModes); err != nil {
		return err
	}
	for i, p := range ix.PlatformList {
		key := fmt.Sprintf("validation.manifests.indexes.platformlist[%d]", i)
		if p.OS == "" {
			return missing(key+".os", "want e.g. linux"+o.at(key))
		}
		if p.Architecture == "" {
			return missing(key+".architecture", "want e.g. amd64"+o.at(key))
		}
	}

	if err := c.Auth.validate(o, missing); err != nil {
		return err
	}
	if err := c.Notifications.validate(o, missing); err != nil {
		return err
	}
	if err := c.validatePolicies(o); err != nil {
		return err
	}
	if c.Proxy != nil {
		return c.Proxy.validate(o, missing)
	}
	return nil
}

func (s *Storage) validate(o origins, v func(key, value string, want []string) error, missing func(key, why string) error) error {
	switch d := s.drivers(); len(d) {
	case 0:
		return fmt.Errorf("config: storage: no driver configured%s, want one of storage.filesystem, storage.inmemory, storage.s3", o.at("storage"))
	case 1:
	default:
		keys := make([]string, len(d))
		for i, name := range d {
			keys[i] = "storage." + name + o.at("storage."+name)
		}
		return fmt.Errorf("config: storage: more than one driver configured (%s), want exactly one", strings.Join(keys, ", "))
	}
	if s.Filesystem != nil && s.Filesystem.RootDirectory == "" {
		return missing("storage.filesystem.rootdirectory", "want a directory")
	}
	if s.S3 != nil {
		if s.S3.Bucket == "" {
			return missing("storage.s3.bucket", "required by the s3 driver"+o.at("storage.s3"))
		}
		if s.S3.Region == "" && s.S3.RegionEndpoint == "" {
			return missing("storage.s3.region", "required by the s3 driver unless storage.s3.regionendpoint is set"+o.at("storage.s3"))
		}
		if s.S3.Timeout < 0 {
			return fmt.Errorf("config: storage.s3.timeout: invalid value %q%s, want 0 or more", s.S3.Timeout, o.at("storage.s3.timeout"))
		}
	}
	if err := v("storage.cache.blobdescriptor", s.Cache.BlobDescriptor, blobDescCaches); err != nil {
		return err
	}
	if s.Cache.BlobDescriptorSize < 0 {
		return fmt.Errorf("config: storage.cache.blobdescriptorsize: invalid value %d%s, want 0 (the default, 10000) or more", s.Cache.BlobDescriptorSize, o.at("storage.cache.blobdescriptorsize"))
	}
	if s.GC.Interval < 0 || s.GC.Grace < 0 {
		key, val := "storage.gc.interval", s.GC.Interval
		if s.GC.Grace < 0 {
			key, val = "storage.gc.grace", s.GC.Grace
		}
		return fmt.Errorf("config: %s: invalid value %q%s, want 0 or more", key, val, o.at(key))
	}
	if p := s.Maintenance.UploadPurging; p != nil {
		if p.Age < 0 {
			return fmt.Errorf("config: storage.maintenance.uploadpurging.age: invalid value %q%s, want 0 or more", p.Age, o.at("storage.maintenance.uploadpurging.age"))
		}
		if p.Interval < 0 {
			return fmt.Errorf("config: storage.maintenance.uploadpurging.interval: invalid value %q%s, want 0 or more", p.Interval, o.at("storage.maintenance.uploadpurging.interval"))
		}
	}
	return nil
}

func (h *HTTP) validate(o origins, missing func(key, why string) error) error {
	if h.Net == "unix" {
		if h.Addr == "" {
			return missing("http.addr", "want the socket's path with http.net: unix")
		}
	} else if _, port, err := net.SplitHostPort(h.Addr); err != nil || port == "" {
		return fmt.Errorf("config: http.addr: invalid value %q%s, want host:port, e.g. :5000", h.Addr, o.at("http.addr"))
	}
	if h.Host != "" {
		u, err := url.Parse(h.Host)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: http.host: invalid value %q%s, want an absolute URL, e.g. https://registry.example.com", h.Host, o.at("http.host"))
		}
	}
	if h.Prefix != "" && !validPrefix(h.Prefix) {
		return fmt.Errorf("config: http.prefix: invalid value %q%s, want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/", h.Prefix, o.at("http.prefix"))
	}
	for name := range h.Headers {
		if !validHeaderName(name) {
			return fmt.Errorf("config: http.headers: invalid header name %q%s", name, o.at("http.headers."+name))
		}
	}
	switch {
	case h.TLS.Certificate != "" && h.TLS.Key == "":
		return missing("http.tls.key", "required with http.tls.certificate"+o.at("http.tls.certificate"))
	case h.TLS.Key != "" && h.TLS.Certificate == "":
		return missing("http.tls.certificate", "required with http.tls.key"+o.at("http.tls.key"))
	case len(h.TLS.ClientCAs) > 0 && h.TLS.Certificate == "":
		return missing("http.tls.certificate", "required with http.tls.clientcas"+o.at("http.tls.clientcas"))
	}
	if h.DrainTimeout < 0 {
		return fmt.Errorf("config: http.draintimeout: invalid value %q%s, want 0 or more", h.DrainTimeout, o.at("http.draintimeout"))
	}
	if a := h.Debug.Addr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("config: http.debug.addr: invalid value %q%s, want host:port, e.g. localhost:5001", a, o.at("http.debug.addr"))
		}
	}
	if p := h.Debug.Prometheus; p.Enabled {
		if h.Debug.Addr == "" {
			return fmt.Errorf("config: http.debug.prometheus.enabled%s: the metrics are served on the debug listener; set http.debug.addr too", o.at("http.debug.prometheus.enabled"))
		}
		if mp := p.MetricsPath(); !strings.HasPrefix(mp, "/") || strings.HasPrefix(mp, "/debug/pprof") {
			return fmt.Errorf("config: http.debug.prometheus.path: invalid value %q%s, want an absolute path outside /debug/pprof/, e.g. /metrics", mp, o.at("http.debug.prometheus.path"))
		}
	}
	return nil
}

func (a *Auth) validate(o origins, missing func(key, why string) error) error {
	if a.Htpasswd != nil && a.Token != nil {
		return fmt.Errorf("config: auth: more than one method configured (auth.htpasswd%s, auth.token%s), want at most one",
			o.at("auth.htpasswd"), o.at("auth.token"))
	}
	if h := a.Htpasswd; h != nil {
		if h.Realm == "" {
			return missing("auth.htpasswd.realm", "want e.g. berth"+o.at("auth.htpasswd"))
		}
		if h.Path == "" {
			return missing("auth.htpasswd.path", "want the htpasswd file"+o.at("auth.htpasswd"))
		}
	}
	if t := a.Token; t != nil {
		u, err := url.Parse(t.Realm)
		switch {
		case t.Realm == "":
			return missing("auth.token.realm", "want the token endpoint's URL, e.g. https://registry.example.com/auth/token"+o.at("auth.token"))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("config: auth.token.realm: invalid value %q%s, want an absolute http or https URL", t.Realm, o.at("auth.token.realm"))
		case t.Service == "":
			return missing("auth.token.service", "want the registry's service name, e.g. registry.example.com"+o.at("auth.token"))
		case t.Issuer == "":
			return missing("auth.token.issuer", "want the token issuer's name"+o.at("auth.token"))
		case t.RootCertBundle == "" && t.JWKS == "" && t.Server == nil:
			return missing("auth.token.rootcertbundle", "want rootcertbundle, jwks or server to know the token signing keys"+o.at("auth.token"))
		}
		if s := t.Server; s != nil {
			switch {
			case s.Key == "":
				return missing("auth.token.server.key", "want the PEM signing key (registry keygen makes one)"+o.at("auth.token.server"))
			case s.Htpasswd == "":
				return missing("auth.token.server.htpasswd", "want the htpasswd file of the users who may log in"+o.at("auth.token.server"))
			case s.Expiration < 0 || s.Expiration > MaxTokenExpiration:
				return fmt.Errorf("config: auth.token.server.expiration: invalid value %q%s, want at most %v",
					s.Expiration, o.at("auth.token.server.expiration"), MaxTokenExpiration)
			case s.RefreshExpiration != nil && *s.RefreshExpiration < 0:
				return fmt.Errorf("config: auth.token.server.refreshexpiration: invalid value %q%s, want 0 or more",
					*s.RefreshExpiration, o.at("auth.token.server.refreshexpiration"))
			}
		}
	}
	if p := a.Policy; p != nil {
		if p.Path == "" {
			return missing("auth.policy.path", "want the policy file"+o.at("auth.policy"))
		}
		if a.Htpasswd == nil && (a.Token == nil || a.Token.Server == nil) {
			return fmt.Errorf("config: auth.policy%s: needs auth.htpasswd or auth.token.server, which apply it", o.at("auth.policy"))
		}
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

func nonEmpty(ss []string) []string {
	return slices.DeleteFunc(slices.Clone(ss), func(s string) bool { return s == "" })
}
