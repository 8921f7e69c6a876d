package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-registry/berth/auth"
)

const keygenUsage = `Usage: registry keygen [-alg ES256|RS256|EdDSA] [-jwks FILE] [-cert FILE] KEYFILE

Writes a new private key for the built-in token server to KEYFILE (PEM,
PKCS#8, mode 0600; an existing file is never overwritten), for
auth.token.server.key. Prints its key id.

  -alg   signature algorithm: ES256 (default, ECDSA P-256), RS256 (RSA 3072)
         or EdDSA (Ed25519)
  -jwks  also write the public key as a JSON Web Key Set, for auth.token.jwks
         of registries that verify these tokens without issuing them
  -cert  also write a self-signed certificate of the public key (valid 10
         years), for auth.token.rootcertbundle of such registries
`

// keygen runs "registry keygen".
func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	alg := fs.String("alg", auth.AlgES256, "")
	jwksPath := fs.String("jwks", "", "")
	certPath := fs.String("cert", "", "")
	fail := failer(stderr, "registry keygen")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, keygenUsage)
			return exitOK
		}
		return fail(exitUsage, "%v; run \"registry keygen -h\"", err)
	}
	if fs.NArg() != 1 {
		return fail(exitUsage, "want one argument, the key file to write; run \"registry keygen -h\"")
	}
	key, err := auth.GenerateKey(*alg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	priv, err := key.PrivateKeyPEM()
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	outputs := []struct {
		path string
		mode os.FileMode
		make func() ([]byte, error)
	}{
		{fs.Arg(0), 0o600, func() ([]byte, error) { return priv, nil }},
		{*jwksPath, 0o644, key.JWKS},
		{*certPath, 0o644, func() ([]byte, error) { return key.CertificatePEM("berth token signing key", 10*365*24*time.Hour) }},
	}
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		b, err := o.make()
		if err == nil {
			err = writeNew(o.path, b, o.mode)
		}
		if err != nil {
			return fail(exitFailure, "%v", err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s key %s (key id %s)\n", key.Algorithm(), fs.Arg(0), key.KeyID())
	return exitOK
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
