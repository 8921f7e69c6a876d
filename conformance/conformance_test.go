package conformance_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
)

// suiteSwitches are every API and data switch of the conformance suite (its
// README and config.go), all on: Berth implements every optional feature.
// checkConfig also asserts that the suite's own results.yaml reports every
// switch on, so a switch added by a newer suite, off by default, fails the
// test instead of silently shrinking what is tested.
var suiteSwitches = []string{
	"OCI_API_PING", "OCI_API_PULL", "OCI_API_PUSH",
	"OCI_API_BLOBS_ATOMIC", "OCI_API_BLOBS_DELETE", "OCI_API_BLOBS_DIGEST_HEADER",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS", "OCI_API_BLOBS_UPLOAD_CANCEL",
	"OCI_API_MANIFESTS_ATOMIC", "OCI_API_MANIFESTS_DELETE",
	"OCI_API_MANIFESTS_DIGEST_HEADER", "OCI_API_MANIFESTS_TAG_PARAM",
	"OCI_API_TAGS_ATOMIC", "OCI_API_TAGS_DELETE", "OCI_API_TAGS_LIST",
	"OCI_API_REFERRER",
	"OCI_DATA_IMAGE", "OCI_DATA_INDEX", "OCI_DATA_INDEX_LIST", "OCI_DATA_SPARSE",
	"OCI_DATA_ARTIFACT", "OCI_DATA_SUBJECT", "OCI_DATA_SUBJECT_MISSING",
	"OCI_DATA_ARTIFACT_LIST", "OCI_DATA_SUBJECT_LIST", "OCI_DATA_DATA_FIELD",
	"OCI_DATA_NONDISTRIBUTABLE", "OCI_DATA_CUSTOM_FIELDS", "OCI_DATA_NO_LAYERS",
	"OCI_DATA_EMPTY_BLOB", "OCI_DATA_SHA512",
}

// TestConformance runs the OCI distribution-spec conformance suite (v1.1,
// every API and data set, including the sparse data set, whose index needs
// WithIndexPlatforms("none") and whose image lacks a layer, which needs
// WithLayerValidation(false)) against the registry on each driver, and
// requires every test to pass: a failure, an error, or a skip (the registry
// answered that a feature is unsupported) fails it.
func TestConformance(t *testing.T) {
	t.Parallel()
	bin := suiteBinary(t)
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		srv := registrytest.Start(t, drv, suiteOptions()...)
		runSuite(t, bin, srv.Host, drv.Name())
	})
}

// suiteOptions are the registry options the suite needs: deletes, and the
// sparse data set's index without its children and image without a layer.
func suiteOptions() []registry.Option {
	return []registry.Option{
		registry.WithDelete(true),
		registry.WithIndexPlatforms("none", nil),
		registry.WithLayerValidation(false),
	}
}

// runSuite runs the conformance suite bin against the registry at host
// (what it runs is named by label in messages), with env added to the
// suite's environment, and requires every test to pass.
func runSuite(t *testing.T, bin, host, label string, env ...string) {
	t.Helper()
	dir := resultsDir(t)
	run := testutil.Cmd{
		Path:      bin,
		Dir:       dir,
		Env:       append(suiteEnv(host, dir), env...),
		NoInherit: true,
		Timeout:   10 * time.Minute,
	}.Exec(t)
	// The suite exits 1 when it found a failure and 0 otherwise, also
	// when it could not even start: the report files are what counts.
	var exit *exec.ExitError
	if run.Err != nil && (!errors.As(run.Err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("conformance suite did not complete: %v\n%s", run.Err, run.Output())
	}
	rep, err := readReport(dir)
	if err != nil {
		t.Fatalf("conformance suite left no usable report: %v\n%s", err, run.Output())
	}
	checkConfig(t, rep, host)

	c := rep.count()
	t.Logf("conformance %s: %d passed, %d failed, %d skipped", label, c.passed, c.failed, c.skipped)
	if c.failed > 0 {
		t.Errorf("conformance %s: %d tests failed:\n%s", label, c.failed, rep.describe(isFailed))
	}
	if c.skipped > 0 {
		t.Errorf("conformance %s: %d tests skipped (the registry answered unsupported, or an earlier step failed); every feature is wanted:\n%s",
			label, c.skipped, rep.describe(isSkipped))
	}
	if c.passed == 0 {
		t.Errorf("conformance %s: no test passed", label)
	}
	if bad := rep.notPassing(); bad != "" {
		t.Errorf("conformance %s: not every API and data set passed:\n%s", label, bad)
	}
	if t.Failed() {
		t.Logf("suite summary:\n%s\nstderr:\n%s", summary(run.Stdout), testutil.Tail(run.Stderr, 8<<10))
	}
}

// suiteBinary is BERTH_CONFORMANCE_BIN, or "conformance" on PATH.
func suiteBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("BERTH_CONFORMANCE_BIN")
	if bin == "" {
		return testutil.RequireTool(t, "conformance")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		testutil.SkipOrFail(t, "BERTH_CONFORMANCE_BIN=%s is not an executable file", bin)
	}
	return bin
}

// suiteEnv is the suite's whole environment: ours without any OCI_ variable
// (so a developer's shell cannot change what is tested), plus the settings.
func suiteEnv(host, dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"OCI_REGISTRY="+host,
		"OCI_TLS=disabled",
		"OCI_VERSION=1.1",
		"OCI_RESULTS_DIR="+dir,
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_LOG=warn",
	)
	for _, s := range suiteSwitches {
		env = append(env, s+"=true")
	}
	if f := os.Getenv("BERTH_CONFORMANCE_FILTER"); f != "" {
		env = append(env, "OCI_FILTER_TEST="+f)
	}
	return env
}

// resultsDir is where the suite writes its reports: a temporary directory,
// or one kept under BERTH_CONFORMANCE_RESULTS.
func resultsDir(t *testing.T) string {
	t.Helper()
	keep := os.Getenv("BERTH_CONFORMANCE_RESULTS")
	if keep == "" {
		return t.TempDir()
	}
	dir := filepath.Join(keep, regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("conformance reports kept in %s", dir)
	return dir
}

// checkConfig asserts that the suite ran with the configuration we meant:
// against our server, over plain HTTP, every switch on.
func checkConfig(t *testing.T, rep *report, host string) {
	t.Helper()
	cfg := rep.results.Config
	if cfg.Registry != host || cfg.TLS != "disabled" || cfg.Version != "1.1" {
		t.Errorf("suite ran with registry=%q tls=%q version=%q, want %q, disabled, 1.1",
			cfg.Registry, cfg.TLS, cfg.Version, host)
	}
	off := offSwitches("apis", cfg.APIs)
	off = append(off, offSwitches("data", cfg.Data)...)
	if len(off) > 0 {
		t.Errorf("suite switches still off (add their OCI_ variables to suiteSwitches): %s", strings.Join(off, ", "))
	}
	if os.Getenv("BERTH_CONFORMANCE_FILTER") != "" {
		t.Logf("BERTH_CONFORMANCE_FILTER=%q: only part of the suite ran", os.Getenv("BERTH_CONFORMANCE_FILTER"))
	}
}

// offSwitches lists the boolean leaves of a results.yaml config section that
// are false, as dotted paths.
func offSwitches(prefix string, v any) []string {
	switch v := v.(type) {
	case bool:
		if !v {
			return []string{prefix}
		}
	case map[string]any:
		var off []string
		for k, child := range v {
			off = append(off, offSwitches(prefix+"."+k, child)...)
		}
		return off
	}
	return nil
}

// summary is the suite's closing report (counts and the per-API and per-data
// tables), without the long tree of every test before it.
func summary(stdout []byte) string {
	s := string(stdout)
	if i := strings.Index(s, "OCI Conformance Result:"); i >= 0 {
		s = s[i:]
	}
	return testutil.Tail([]byte(s), 16<<10)
}

func isFailed(c junitCase) bool  { return c.Status == "failure" || c.Status == "error" }
func isSkipped(c junitCase) bool { return c.Status == "skipped" }
