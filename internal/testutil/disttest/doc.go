// Package disttest runs CNCF Distribution v3's registry in-process, for
// tests that check Berth against the registry most others are measured by.
//
// New builds Distribution's App the way its binary does (YAML through
// configuration.Parse, which applies the defaults, then handlers.NewApp,
// whose panics on a bad configuration become test failures) and returns it
// as an http.Handler, for a caller that wraps it (request counters, slow
// bodies) before serving it; Start also serves it on loopback. Storage is
// in memory, or Distribution's filesystem driver on Options.Root. Deletes
// are on; the upload purger is off, so that no App leaves a goroutine
// behind; the HTTP secret is fixed, else Distribution makes one up and
// warns. Distribution's logrus output is discarded.
//
// Auth is none, htpasswd basic auth for Options.Users, or Distribution's
// token auth, for which a TokenServer of the test's own issues EdDSA JWTs
// that Distribution verifies with the key it reads from a JWKS file: on a
// GET, to a user with the right password (basic auth) everything the
// requested scopes ask, to an anonymous caller only their pull actions,
// and to a wrong password a 401.
//
// Everything started ends with the test (t.Cleanup), the App with
// app.Shutdown.
//
// Imports: the standard library, CNCF Distribution v3 (configuration,
// handlers, htpasswd and token auth, the filesystem and inmemory drivers),
// logrus and x/crypto/bcrypt; nothing of Berth. Only tests import it.
package disttest
