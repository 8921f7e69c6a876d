package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Credential is what a client presents to a registry or its token server:
// a user name and password, or an identity token (an OAuth2 refresh token,
// as `docker login` stores for some registries), or nothing.
type Credential struct {
	Username      string
	Password      string
	IdentityToken string
}

// IsZero reports whether c holds nothing (anonymous access).
func (c Credential) IsZero() bool { return c == Credential{} }

// CredentialStore gives the credential for a registry host as written in
// references ("docker.io", "localhost:5000"). A host it knows nothing about
// yields the zero Credential and a nil error; errors mean the store itself
// failed (unreadable file, broken helper).
type CredentialStore interface {
	Get(host string) (Credential, error)
}

// StaticCredentials is a CredentialStore over a fixed map, for flags such as
// --username/--password and for tests.
type StaticCredentials map[string]Credential

var _ CredentialStore = StaticCredentials(nil)

// Get returns the credential of host, or the zero Credential.
func (s StaticCredentials) Get(host string) (Credential, error) { return s[host], nil }

// tokenUsername is the user name credential helpers store with an identity
// token as the secret (docker's convention).
const tokenUsername = "<token>"

// helperCred is the JSON a docker-credential-* helper reads (store) and
// writes (get).
type helperCred struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// errHelperNotFound is the helpers' "credentials not found in native
// keychain": no credential, not a failure.
var errHelperNotFound = errors.New("credentials not found")

// runHelper runs `docker-credential-<helper> <action>` with input on stdin.
// Helpers report errors as a message on stdout and a non-zero exit.
func runHelper(helper, action string, input []byte) ([]byte, error) {
	if helper == "" || strings.ContainsAny(helper, `/\`) {
		return nil, fmt.Errorf("credential helper %q: invalid name", helper)
	}
	name := "docker-credential-" + helper
	cmd := exec.Command(name, action)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String())
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return nil, errHelperNotFound
		}
		if msg != "" {
			return nil, fmt.Errorf("%s %s: %s: %w", name, action, msg, err)
		}
		return nil, fmt.Errorf("%s %s: %w", name, action, err)
	}
	return stdout.Bytes(), nil
}

// helperGet asks helper for serverURL's credential; found is false when the
// helper has none.
func helperGet(helper, serverURL string) (cred Credential, found bool, err error) {
	out, err := runHelper(helper, "get", []byte(serverURL))
	if errors.Is(err, errHelperNotFound) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, err
	}
	var hc helperCred
	if err := json.Unmarshal(out, &hc); err != nil {
		return Credential{}, false, fmt.Errorf("docker-credential-%s get: %w", helper, err)
	}
	if hc.Username == tokenUsername {
		return Credential{IdentityToken: hc.Secret}, true, nil
	}
	return Credential{Username: hc.Username, Password: hc.Secret}, hc.Username != "" || hc.Secret != "", nil
}

func helperStore(helper, serverURL string, cred Credential) error {
	hc := helperCred{ServerURL: serverURL, Username: cred.Username, Secret: cred.Password}
	if cred.IdentityToken != "" {
		hc.Username, hc.Secret = tokenUsername, cred.IdentityToken
	}
	in, err := json.Marshal(hc)
	if err != nil {
		return err
	}
	_, err = runHelper(helper, "store", in)
	return err
}

func helperErase(helper, serverURL string) error {
	_, err := runHelper(helper, "erase", []byte(serverURL))
	if errors.Is(err, errHelperNotFound) {
		return nil
	}
	return err
}
