package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/berth-registry/berth/registry/config"
)

// newTLSConfig loads the server certificate and, with client CAs, requires
// clients to present a certificate signed by one of them.
func newTLSConfig(c *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Certificate, c.Key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   c.MinVersion(),
		CipherSuites: c.CipherSuiteIDs(),
		Certificates: []tls.Certificate{cert},
	}
	if len(c.ClientCAs) > 0 {
		pool := x509.NewCertPool()
		for _, name := range c.ClientCAs {
			pem, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificates in it", name)
			}
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = c.ClientAuthType()
	}
	return cfg, nil
}

// protocols is what the server speaks: HTTP/1.1, HTTP/2 over TLS unless
// http.http2.disabled, and HTTP/2 without TLS (h2c, prior knowledge) with
// http.h2c.enabled.
func protocols(c *config.HTTP) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(!c.HTTP2.Disabled)
	p.SetUnencryptedHTTP2(c.H2C.Enabled)
	return p
}

// tlsNote is the start-up line's mention of TLS and client certificates.
func tlsNote(c *tls.Config) string {
	switch {
	case c == nil:
		return ""
	case c.ClientAuth == tls.RequireAndVerifyClientCert:
		return " (TLS, client certificates required)"
	case c.ClientAuth == tls.VerifyClientCertIfGiven:
		return " (TLS, client certificates verified when given)"
	case c.ClientAuth != tls.NoClientCert:
		return " (TLS, client certificates asked for, not verified)"
	}
	return " (TLS)"
}
