package client

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHelper installs docker-credential-test on PATH: a shell script that
// keeps credentials as files in its directory, answers like the real
// helpers, and logs each call as "<action> <server>".
func fakeHelper(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
dir=$(dirname "$0")
key() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
case "$1" in
get)
	server=$(cat)
	echo "get $server" >> "$dir/log"
	f="$dir/store-$(key "$server")"
	if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
	in=$(cat)
	server=$(printf %s "$in" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
	echo "store $server" >> "$dir/log"
	printf %s "$in" > "$dir/store-$(key "$server")" ;;
erase)
	server=$(cat)
	echo "erase $server" >> "$dir/log"
	f="$dir/store-$(key "$server")"
	if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*)
	echo "unknown action $1"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func helperLog(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "|"))
}

func writeConfig(t *testing.T, v string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestDockerConfigAuths: every form of auths entry docker writes.
func TestDockerConfigAuths(t *testing.T) {
	path := writeConfig(t, `{
	"auths": {
		"https://index.docker.io/v1/": {"auth": "`+b64("hubuser:hubpass")+`"},
		"registry.example.com": {"auth": "`+b64("alice:pa:ss")+`"},
		"https://old.example.com/v1/": {"username": "bob", "password": "builder"},
		"token.example.com:5000": {"auth": "`+b64("carol:")+`", "identitytoken": "refresh-123"},
		"broken.example.com": {"auth": "%%%"}
	},
	"psFormat": "table {{.ID}}"
}`)
	cfg, err := NewDockerConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]Credential{
		"docker.io":              {Username: "hubuser", Password: "hubpass"},
		"index.docker.io":        {Username: "hubuser", Password: "hubpass"},
		"registry.example.com":   {Username: "alice", Password: "pa:ss"},
		"old.example.com":        {Username: "bob", Password: "builder"},
		"token.example.com:5000": {Username: "carol", IdentityToken: "refresh-123"},
		"token.example.com":      {},
		"unknown.example.com":    {},
	} {
		got, err := cfg.Get(host)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %+v, %v; want %+v", host, got, err, want)
		}
	}
	if _, err := cfg.Get("broken.example.com"); err == nil {
		t.Error("Get of an entry with bad base64: no error")
	}

	missing, _ := NewDockerConfig(filepath.Join(t.TempDir(), "none.json"))
	if got, err := missing.Get("docker.io"); err != nil || !got.IsZero() {
		t.Errorf("Get from a missing file = %+v, %v; want nothing, no error", got, err)
	}
}

// TestDockerConfigDefaultPath: $DOCKER_CONFIG, else ~/.docker.
func TestDockerConfigDefaultPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg, err := NewDockerConfig("")
	if err != nil || cfg.Path() != filepath.Join(dir, "config.json") {
		t.Errorf("with DOCKER_CONFIG: %q, %v", cfg.Path(), err)
	}
	home := t.TempDir()
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", home)
	cfg, err = NewDockerConfig("")
	if err != nil || cfg.Path() != filepath.Join(home, ".docker", "config.json") {
		t.Errorf("without DOCKER_CONFIG: %q, %v", cfg.Path(), err)
	}
}

// TestDockerConfigSaveErase: login and logout without helpers keep every
// other field, write 0600, and leave no temporary file behind.
func TestDockerConfigSaveErase(t *testing.T) {
	path := writeConfig(t, `{"auths":{"other.example.com":{"auth":"`+b64("x:y")+`","email":"x@example.com"},
		"https://registry.example.com/v1/":{"auth":"`+b64("old:old")+`"}},
		"proxies":{"default":{"httpProxy":"http://proxy:3128"}},"detachKeys":"ctrl-e,e"}`)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := NewDockerConfig(path)
	if err := cfg.Save("docker.io", Credential{Username: "hub", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save("registry.example.com", Credential{Username: "new", Password: "new"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save("id.example.com", Credential{IdentityToken: "refresh"}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]Credential{
		"docker.io":            {Username: "hub", Password: "pw"},
		"registry.example.com": {Username: "new", Password: "new"},
		"id.example.com":       {IdentityToken: "refresh"},
		"other.example.com":    {Username: "x", Password: "y"},
	} {
		if got, err := cfg.Get(host); err != nil || got != want {
			t.Errorf("after Save, Get(%q) = %+v, %v; want %+v", host, got, err, want)
		}
	}
	var doc struct {
		Auths      map[string]map[string]string `json:"auths"`
		Proxies    json.RawMessage              `json:"proxies"`
		DetachKeys string                       `json:"detachKeys"`
	}
	readJSON(t, path, &doc)
	if doc.Auths[dockerHubKey]["auth"] != b64("hub:pw") {
		t.Errorf("Docker Hub saved under %v, want %q", doc.Auths, dockerHubKey)
	}
	if doc.Auths["other.example.com"]["email"] != "x@example.com" || doc.DetachKeys != "ctrl-e,e" || !strings.Contains(string(doc.Proxies), "proxy:3128") {
		t.Errorf("unknown fields lost: %+v", doc)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d files, want only config.json", len(entries))
	}

	// Erase removes every key naming the host (also the old URL form).
	if err := cfg.Erase("registry.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Erase("docker.io"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Erase("never.example.com"); err != nil {
		t.Errorf("Erase of an unknown host: %v", err)
	}
	for _, host := range []string{"registry.example.com", "docker.io"} {
		if got, _ := cfg.Get(host); !got.IsZero() {
			t.Errorf("after Erase, Get(%q) = %+v", host, got)
		}
	}
	if got, _ := cfg.Get("other.example.com"); got.Username != "x" {
		t.Error("Erase removed another host")
	}

	// A first login creates the file and its directory.
	fresh, _ := NewDockerConfig(filepath.Join(t.TempDir(), "new", "config.json"))
	if err := fresh.Save("r.example.com", Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := fresh.Get("r.example.com"); got.Username != "u" {
		t.Errorf("Get after the first Save = %+v", got)
	}
}

// TestDockerConfigHelpers: credsStore and credHelpers run
// docker-credential-<name>; "not found" is no credential.
func TestDockerConfigHelpers(t *testing.T) {
	dir := fakeHelper(t)
	path := writeConfig(t, `{"credsStore":"test","credHelpers":{"special.example.com":"test"},
		"auths":{"plain.example.com":{"auth":"`+b64("from:file")+`"}},"currentContext":"x"}`)
	cfg, _ := NewDockerConfig(path)

	if got, err := cfg.Get("r.example.com"); err != nil || !got.IsZero() {
		t.Errorf("Get before any login = %+v, %v; want nothing", got, err)
	}
	// The helper does not know plain.example.com: the file's entry serves.
	if got, err := cfg.Get("plain.example.com"); err != nil || got.Username != "from" {
		t.Errorf("Get(plain) = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		host string
		cred Credential
	}{
		{"r.example.com", Credential{Username: "alice", Password: "s3cret"}},
		{"docker.io", Credential{Username: "hub", Password: "hubpw"}},
		{"special.example.com", Credential{IdentityToken: "refresh-xyz"}},
	} {
		host, cred := tc.host, tc.cred
		if err := cfg.Save(host, cred); err != nil {
			t.Fatalf("Save(%q): %v", host, err)
		}
		if got, err := cfg.Get(host); err != nil || got != cred {
			t.Errorf("Get(%q) through the helper = %+v, %v; want %+v", host, got, err, cred)
		}
	}
	var doc struct {
		Auths          map[string]map[string]string `json:"auths"`
		CurrentContext string                       `json:"currentContext"`
	}
	readJSON(t, path, &doc)
	if e, ok := doc.Auths["r.example.com"]; !ok || len(e) != 0 {
		t.Errorf("credsStore login: auths entry %v, want an empty one", e)
	}
	if _, ok := doc.Auths["special.example.com"]; ok {
		t.Error("credHelpers login wrote an auths entry")
	}
	if doc.CurrentContext != "x" {
		t.Error("unknown field lost")
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "s3cret") {
		t.Error("the password was written to config.json despite the credsStore")
	}

	if err := cfg.Erase("r.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Erase("docker.io"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cfg.Get("r.example.com"); !got.IsZero() {
		t.Errorf("after Erase, Get = %+v", got)
	}
	want := []string{
		"get|r.example.com", "get|plain.example.com",
		"store|r.example.com", "get|r.example.com",
		"store|https://index.docker.io/v1/", "get|https://index.docker.io/v1/",
		"store|special.example.com", "get|special.example.com",
		"erase|r.example.com", "erase|https://index.docker.io/v1/", "get|r.example.com",
	}
	if got := helperLog(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("helper calls:\n got %q\nwant %q", got, want)
	}

	broken := writeConfig(t, `{"credsStore":"missing-helper"}`)
	bcfg, _ := NewDockerConfig(broken)
	if _, err := bcfg.Get("r.example.com"); err == nil || !strings.Contains(err.Error(), "docker-credential-missing-helper") {
		t.Errorf("Get with a missing helper: %v, want an error naming it", err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
}
