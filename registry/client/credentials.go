package client

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"

	helperclient "github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
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

// A credential helper is the program docker-credential-<name>, spoken to
// through docker-credential-helpers/client (the protocol's own client):
// the action as argument, the server URL or the credential's JSON on stdin,
// the answer or an error message on stdout.

// helperRun is one call of a helper. It runs the program with stderr kept
// for the error message (never copied to this process's stderr, where it
// would break the CLI's output), and notes a "credentials not found"
// answer, which means no credential rather than a failure.
type helperRun struct {
	name     string // docker-credential-<helper>
	notFound bool
}

func newHelperRun(helper string) (*helperRun, error) {
	if helper == "" || strings.ContainsAny(helper, `/\`) {
		return nil, fmt.Errorf("credential helper %q: invalid name", helper)
	}
	return &helperRun{name: "docker-credential-" + helper}, nil
}

// program is the helperclient.ProgramFunc of the run.
func (h *helperRun) program(args ...string) helperclient.Program {
	return &helperProcess{run: h, cmd: exec.Command(h.name, args...)}
}

type helperProcess struct {
	run *helperRun
	cmd *exec.Cmd
}

func (p *helperProcess) Input(in io.Reader) { p.cmd.Stdin = in }

func (p *helperProcess) Output() ([]byte, error) {
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	out, err := p.cmd.Output()
	if err == nil {
		return out, nil
	}
	msg := strings.TrimSpace(string(out))
	if msg == "" {
		msg = strings.TrimSpace(stderr.String())
	}
	if strings.Contains(strings.ToLower(msg), "credentials not found") {
		p.run.notFound = true
	}
	if len(bytes.TrimSpace(out)) == 0 && msg != "" {
		out = []byte(msg) // the client puts stdout in its error
	}
	return out, err
}

func (h *helperRun) fail(action string, err error) error {
	return fmt.Errorf("%s %s: %w", h.name, action, err)
}

// helperGet asks helper for serverURL's credential; found is false when the
// helper has none.
func helperGet(helper, serverURL string) (cred Credential, found bool, err error) {
	h, err := newHelperRun(helper)
	if err != nil {
		return Credential{}, false, err
	}
	c, err := helperclient.Get(h.program, serverURL)
	if h.notFound || credentials.IsErrCredentialsNotFound(err) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, h.fail(credentials.ActionGet, err)
	}
	if c.Username == tokenUsername {
		return Credential{IdentityToken: c.Secret}, true, nil
	}
	return Credential{Username: c.Username, Password: c.Secret}, c.Username != "" || c.Secret != "", nil
}

func helperStore(helper, serverURL string, cred Credential) error {
	h, err := newHelperRun(helper)
	if err != nil {
		return err
	}
	c := &credentials.Credentials{ServerURL: serverURL, Username: cred.Username, Secret: cred.Password}
	if cred.IdentityToken != "" {
		c.Username, c.Secret = tokenUsername, cred.IdentityToken
	}
	if err := helperclient.Store(h.program, c); err != nil {
		return h.fail(credentials.ActionStore, err)
	}
	return nil
}

// helperErase removes serverURL's credential from helper; one it does not
// have is not an error.
func helperErase(helper, serverURL string) error {
	h, err := newHelperRun(helper)
	if err != nil {
		return err
	}
	if err := helperclient.Erase(h.program, serverURL); err != nil && !h.notFound {
		return h.fail(credentials.ActionErase, err)
	}
	return nil
}
