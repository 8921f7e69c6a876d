package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelperFailures: a helper's failure is an error that names the helper
// and carries its message (from stdout, else stderr), while its "not found"
// answer is no credential on get and nothing to do on erase.
func TestHelperFailures(t *testing.T) {
	dir := t.TempDir()
	for name, script := range map[string]string{
		"locked": "#!/bin/sh\ncat >/dev/null\necho 'keychain locked' >&2\nexit 1\n",
		"empty":  "#!/bin/sh\ncat >/dev/null\necho 'credentials not found in native keychain'\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	locked, _ := NewDockerConfig(writeConfig(t, `{"credsStore":"locked"}`))
	_, err := locked.Get("r.example.com")
	if err == nil || !strings.Contains(err.Error(), "docker-credential-locked get") || !strings.Contains(err.Error(), "keychain locked") {
		t.Errorf("Get through a failing helper: %v; want an error naming it with its message", err)
	}
	if err := locked.Save("r.example.com", Credential{Username: "u", Password: "p"}); err == nil || !strings.Contains(err.Error(), "docker-credential-locked store") {
		t.Errorf("Save through a failing helper: %v; want an error naming it", err)
	}
	if err := locked.Erase("r.example.com"); err == nil || !strings.Contains(err.Error(), "docker-credential-locked erase") {
		t.Errorf("Erase through a failing helper: %v; want an error naming it", err)
	}

	empty, _ := NewDockerConfig(writeConfig(t, `{"credsStore":"empty"}`))
	if cred, err := empty.Get("r.example.com"); err != nil || !cred.IsZero() {
		t.Errorf("Get of a credential the helper lacks = %+v, %v; want none and no error", cred, err)
	}
	if err := empty.Erase("r.example.com"); err != nil {
		t.Errorf("Erase of a credential the helper lacks: %v", err)
	}

	bad, _ := NewDockerConfig(writeConfig(t, `{"credsStore":"../x"}`))
	if _, err := bad.Get("r.example.com"); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("Get with a helper name holding a slash: %v; want refused", err)
	}
}
