package registry_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/health"
)

type checkFunc func() error

func (f checkFunc) Err() error { return f() }

// TestHealthEndpoints: /healthz and /readyz answer without credentials on
// a registry behind access control; /readyz follows its checks, and a
// failing check does not stop the API.
func TestHealthEndpoints(t *testing.T) {
	var storageErr error
	checks := health.Checks{"storage": checkFunc(func() error { return storageErr })}
	app := authApp(t, "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull]\n", registry.WithHealth(checks))

	tests := []struct {
		name, method, path string
		fail               bool
		code               int
		body               string
	}{
		{"alive", "GET", "/healthz", false, 200, `{"status":"ok"}`},
		{"alive HEAD", "HEAD", "/healthz", false, 200, ""},
		{"ready", "GET", "/readyz", false, 200, `{"status":"ready"}`},
		{"alive with storage down", "GET", "/healthz", true, 200, `{"status":"ok"}`},
		{"not ready", "GET", "/readyz", true, 503, `{"checks":{"storage":"failing"},"status":"unavailable"}`},
		{"not ready HEAD", "HEAD", "/readyz", true, 503, ""},
		{"POST", "POST", "/readyz", false, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storageErr = nil
			if tt.fail {
				storageErr = errors.New("connection refused")
			}
			rec := do(t, app, tt.method, tt.path, nil)
			if rec.Code != tt.code || (tt.body != "" || tt.method == "HEAD") && rec.Body.String() != tt.body {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
	storageErr = errors.New("connection refused")
	if rec := do(t, app, "GET", "/v2/", nil, basicAuth("alice")...); rec.Code != http.StatusOK {
		t.Errorf("GET /v2/ with the storage check failing: %d, want 200 (the API keeps serving)", rec.Code)
	}
	if rec := do(t, app, "GET", "/v2/", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /v2/ without credentials: %d, want 401", rec.Code)
	}
}
