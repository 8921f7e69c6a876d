package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/oci"
)

// dockerHubKey is where docker keeps Docker Hub's credentials, in auths and
// in credential helpers alike.
const dockerHubKey = "https://index.docker.io/v1/"

// DockerConfig is the credential store of docker's config.json: "auths"
// entries (base64 "auth", or "username"/"password", and "identitytoken"),
// a default "credsStore" helper and per-host "credHelpers", each helper run
// as docker-credential-<name>. Save and Erase write back the way
// `docker login` and `docker logout` do, keeping every field they do not
// understand. The file is read on every call, so logins by other processes
// are seen.
type DockerConfig struct {
	path string
	mu   sync.Mutex // serializes this process's read-modify-write cycles
}

var _ CredentialStore = (*DockerConfig)(nil)

// NewDockerConfig opens the config file at path; an empty path means
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json. A missing file is
// an empty config, not an error.
func NewDockerConfig(path string) (*DockerConfig, error) {
	if path == "" {
		dir := os.Getenv("DOCKER_CONFIG")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("docker config: %w", err)
			}
			dir = filepath.Join(home, ".docker")
		}
		path = filepath.Join(dir, "config.json")
	}
	return &DockerConfig{path: path}, nil
}

// Path is the file this config reads and writes.
func (c *DockerConfig) Path() string { return c.path }

// dockerConfigFile is the part of config.json that credentials need.
type dockerConfigFile struct {
	Auths       map[string]dockerAuth `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// Get returns host's credential: from its credential helper when one is
// configured (credHelpers, else credsStore), else from auths.
func (c *DockerConfig) Get(host string) (Credential, error) {
	raw, err := c.read()
	if err != nil {
		return Credential{}, err
	}
	var f dockerConfigFile
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &f); err != nil {
			return Credential{}, fmt.Errorf("docker config %s: %w", c.path, err)
		}
	}
	key := configKey(host)
	if helper := f.helper(host); helper != "" {
		cred, found, err := helperGet(helper, key)
		if err != nil || found {
			return cred, err
		}
	}
	for _, k := range matchingKeys(f.Auths, host) {
		cred, err := f.Auths[k].credential()
		if err != nil {
			return Credential{}, fmt.Errorf("docker config %s: auths[%q]: %w", c.path, k, err)
		}
		if !cred.IsZero() {
			return cred, nil
		}
	}
	return Credential{}, nil
}

// Save stores cred for host, as `docker login` does: through the host's
// credential helper when one is configured (and then an empty auths entry
// for a credsStore, so the host is listed), else as a base64 "auth" entry.
// The file is replaced atomically with mode 0600.
func (c *DockerConfig) Save(host string, cred Credential) error {
	if !utf8.ValidString(host) {
		// JSON would store the key with U+FFFD in place of the bad
		// bytes, under which Get never finds it.
		return fmt.Errorf("docker config: host %q is not valid UTF-8", host)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	doc, f, err := c.load()
	if err != nil {
		return err
	}
	key := configKey(host)
	auths, err := rawObject(doc["auths"])
	if err != nil {
		return fmt.Errorf("docker config %s: auths: %w", c.path, err)
	}
	entry, err := rawObject(auths[key])
	if err != nil {
		return fmt.Errorf("docker config %s: auths[%q]: %w", c.path, key, err)
	}
	for _, k := range []string{"auth", "username", "password", "identitytoken"} {
		delete(entry, k)
	}
	if helper := f.helper(host); helper != "" {
		if err := helperStore(helper, key, cred); err != nil {
			return err
		}
		if f.credHelperFor(host) != "" {
			return nil // credHelpers hosts get no auths entry
		}
	} else {
		if cred.Username != "" || cred.Password != "" {
			entry["auth"] = jsonString(base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password)))
		}
		if cred.IdentityToken != "" {
			entry["identitytoken"] = jsonString(cred.IdentityToken)
		}
	}
	if auths[key], err = json.Marshal(entry); err != nil {
		return err
	}
	if doc["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	return c.write(doc)
}

// Erase removes host's credential, from its helper and from auths, as
// `docker logout` does. Erasing what is not there is not an error.
func (c *DockerConfig) Erase(host string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	doc, f, err := c.load()
	if err != nil {
		return err
	}
	if helper := f.helper(host); helper != "" {
		if err := helperErase(helper, configKey(host)); err != nil {
			return err
		}
	}
	keys := matchingKeys(f.Auths, host)
	if len(keys) == 0 {
		return nil
	}
	auths, err := rawObject(doc["auths"])
	if err != nil {
		return fmt.Errorf("docker config %s: auths: %w", c.path, err)
	}
	for _, k := range keys {
		delete(auths, k)
	}
	if doc["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	return c.write(doc)
}

// helper is the credential helper that serves host, if any.
func (f *dockerConfigFile) helper(host string) string {
	if h := f.credHelperFor(host); h != "" {
		return h
	}
	return f.CredsStore
}

func (f *dockerConfigFile) credHelperFor(host string) string {
	for k, h := range f.CredHelpers {
		if k == configKey(host) || sameHost(k, host) {
			return h
		}
	}
	return ""
}

func (a dockerAuth) credential() (Credential, error) {
	cred := Credential{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
	if a.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return Credential{}, fmt.Errorf("auth: %w", err)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return Credential{}, errors.New("auth: not base64 of user:password")
		}
		cred.Username, cred.Password = user, pass
	}
	return cred, nil
}

// configKey is the key docker uses for host in config.json and helpers.
func configKey(host string) string {
	if isDockerHub(host) {
		return dockerHubKey
	}
	return host
}

func isDockerHub(host string) bool {
	switch host {
	case DockerHub, "index.docker.io", dockerHubAPI:
		return true
	}
	return false
}

// matchingKeys lists the auths keys that name host: the exact key first,
// then any written as a URL ("https://host/v1/") or another alias.
func matchingKeys(auths map[string]dockerAuth, host string) []string {
	var keys []string
	key := configKey(host)
	if _, ok := auths[key]; ok {
		keys = append(keys, key)
	}
	for k := range auths {
		if k != key && sameHost(k, host) {
			keys = append(keys, k)
		}
	}
	return keys
}

// sameHost reports whether a config key (a host, or a URL as older docker
// versions wrote) names host.
func sameHost(key, host string) bool {
	k := key
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k, _, _ = strings.Cut(k, "/")
	if isDockerHub(host) {
		return isDockerHub(k)
	}
	return k == host
}

// read returns the file's bytes, nil when it does not exist.
func (c *DockerConfig) read() ([]byte, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	return b, nil
}

// load reads the file both as a generic object (to write back untouched
// fields) and as the typed view.
func (c *DockerConfig) load() (map[string]json.RawMessage, *dockerConfigFile, error) {
	raw, err := c.read()
	if err != nil {
		return nil, nil, err
	}
	doc, err := rawObject(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("docker config %s: %w", c.path, err)
	}
	var f dockerConfigFile
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, nil, fmt.Errorf("docker config %s: %w", c.path, err)
		}
	}
	return doc, &f, nil
}

// write replaces the file atomically (oci.WriteAtomicMode: temporary file,
// fsync, rename, directory fsync) with mode 0600, following a symlink to
// the file it points at.
func (c *DockerConfig) write(doc map[string]json.RawMessage) error {
	b, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	path := c.path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("docker config: %w", err)
	}
	err = oci.WriteAtomicMode(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("docker config: %w", err)
	}
	return nil
}

// rawObject decodes a JSON object keeping its values raw; empty or null
// input is an empty object.
func rawObject(b []byte) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(b) == 0 || string(b) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// jsonString encodes s as a JSON string (which cannot fail).
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
