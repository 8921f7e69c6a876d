package conformance_test

import (
	"errors"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
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
				dir := resultsDir(t)
				run := testutil.Cmd{
					Path:      bin,
					Dir:       dir,
					Env:       append(suiteEnv(srv.Host, dir), "OCI_USERNAME=oci", "OCI_PASSWORD="+authUsers["oci"]),
					NoInherit: true,
					Timeout:   10 * time.Minute,
				}.Exec(t)
				var exit *exec.ExitError
				if run.Err != nil && (!errors.As(run.Err, &exit) || exit.ExitCode() != 1) {
					t.Fatalf("conformance suite did not complete: %v\n%s", run.Err, run.Output())
				}
				rep, err := readReport(dir)
				if err != nil {
					t.Fatalf("conformance suite left no usable report: %v\n%s", err, run.Output())
				}
				checkConfig(t, rep, srv.Host)
				n := rep.count()
				t.Logf("conformance with %s auth on %s: %d passed, %d failed, %d skipped", name, drv.Name(), n.passed, n.failed, n.skipped)
				if n.failed > 0 {
					t.Errorf("%d tests failed:\n%s", n.failed, rep.describe(isFailed))
				}
				if n.skipped > 0 {
					t.Errorf("%d tests skipped:\n%s", n.skipped, rep.describe(isSkipped))
				}
				if n.passed == 0 {
					t.Error("no test passed")
				}
				if bad := rep.notPassing(); bad != "" {
					t.Errorf("not every API and data set passed:\n%s", bad)
				}
				if t.Failed() {
					t.Logf("suite summary:\n%s\nstderr:\n%s", summary(run.Stdout), testutil.Tail(run.Stderr, 8<<10))
				}
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
