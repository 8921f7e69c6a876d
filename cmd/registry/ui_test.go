package main

import (
	"net/http"
	"testing"
)

// TestServeUI: the web UI is on by default, on the registry's listener,
// and ui.enabled false (here from the environment) turns it off.
func TestServeUI(t *testing.T) {
	env := []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0", "REGISTRY_LOG_LEVEL=error"}
	s := startServe(t, []string{"serve"}, env)
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/ui/"); code != http.StatusOK {
		t.Errorf("GET /ui/: %d, want 200", code)
	}
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/berth/v1/search?q=x"); code != http.StatusOK {
		t.Errorf("GET /berth/v1/search: %d, want 200", code)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit %d", code)
	}
	s = startServe(t, []string{"serve"}, append(env, "REGISTRY_UI_ENABLED=false"))
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/ui/"); code != http.StatusNotFound {
		t.Errorf("GET /ui/ with the UI off: %d, want 404", code)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit %d", code)
	}
}
