package config

import "time"

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
