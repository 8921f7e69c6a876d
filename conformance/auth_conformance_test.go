package conformance_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestAuthConformance runs the whole OCI conformance suite, every API and
// data set on, against a registry with access control, logged in with
// OCI_USERNAME and OCI_PASSWORD: in htpasswd mode (basic auth, with and
// without a policy) and in token mode (the suite fetches tokens from the
// built-in token server), on each driver. Every test must pass, none be
// skipped, as without auth; and the suite must really have been asked to
// authenticate (the registry refuses the same request without credentials).
func TestAuthConformance(t *testing.T) {
	t.Parallel()
	bin := suiteBinary(t)
	for _, c := range []struct {
		mode   string
		policy string
	}{
		{authModeHtpasswd, ""},
		{authModeHtpasswd, authPolicy},
		{authModeToken, authPolicy},
	} {
		name := c.mode
		if c.policy != "" {
			name += "+policy"
		}
		t.Run(name, func(t *testing.T) {
			registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
				srv := startAuthRegistry(t, drv, c.mode, authOptions{policy: c.policy})
				if code := statusOf(t, "GET", srv.URL+"/v2/conformance/repo1/tags/list", ""); code != http.StatusUnauthorized {
					t.Fatalf("GET tags without credentials: %d, want 401", code)
				}
				runSuite(t, bin, srv.Host, fmt.Sprintf("with %s auth on %s", name, drv.Name()),
					"OCI_USERNAME=oci", "OCI_PASSWORD="+authUsers["oci"])
			})
		})
	}
}

// statusOf sends one request with an optional Authorization value and
// returns the status.
func statusOf(t *testing.T, method, url, authorization string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	must(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
