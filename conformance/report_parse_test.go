package conformance_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The conformance harness must not pass a broken run: these check that the
// report reader counts failures, errors and skips from files shaped like the
// suite's, and that a switch left off is noticed.

const fixtureResults = `config:
  registry: 127.0.0.1:5000
  tls: disabled
  apis:
    ping: true
    blobs:
      uploadCancel: false
      delete: true
    referrer: true
  data:
    image: true
    sparse: false
  version: "1.1"
apis:
  Ping: Pass
  Blob upload cancel: Skip
  Manifest put by digest: FAIL
data:
  Image: Pass
  Sparse Manifests: FAIL
`

const fixtureJunit = `<testsuites time="1" tests="5" failures="1">
  <testsuite name="OCI Conformance Test" tests="5" failures="1" errors="1" time="1">
    <testcase name="OCI Conformance Test/ping" classname="" time="0.1" status="passed"><system-err>GET /v2/</system-err></testcase>
    <testcase name="OCI Conformance Test/sparse/push/manifest-by-digest" classname="" time="0.1" status="failure">
      <system-out>manifest put failed: unexpected status code 400</system-out>
      <system-err>~~~ RESPONSE ~~~ Status: 400 MANIFEST_BLOB_UNKNOWN</system-err>
    </testcase>
    <testcase name="OCI Conformance Test/blobs/cancel" classname="" time="0.1" status="skipped"><system-err>skipping test: registry does not support the requested API</system-err></testcase>
    <testcase name="OCI Conformance Test/blobs/get" classname="" time="0.1" status="error"><system-out>connection refused</system-out></testcase>
  </testsuite>
</testsuites>
`

func TestReportReading(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "results.yaml"), []byte(fixtureResults))
	writeFile(t, filepath.Join(dir, "junit.xml"), []byte(fixtureJunit))
	rep, err := readReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.count(), (counts{passed: 1, failed: 2, skipped: 1}); got != want {
		t.Errorf("count() = %+v, want %+v", got, want)
	}
	failed := rep.describe(isFailed)
	for _, want := range []string{
		"--- FAILURE: OCI Conformance Test/sparse/push/manifest-by-digest",
		"manifest put failed: unexpected status code 400",
		"MANIFEST_BLOB_UNKNOWN",
		"--- ERROR: OCI Conformance Test/blobs/get",
		"connection refused",
	} {
		if !strings.Contains(failed, want) {
			t.Errorf("describe(isFailed) lacks %q:\n%s", want, failed)
		}
	}
	if strings.Contains(failed, "ping") || strings.Contains(failed, "cancel") {
		t.Errorf("describe(isFailed) lists a test that did not fail:\n%s", failed)
	}
	if skipped := rep.describe(isSkipped); !strings.Contains(skipped, "does not support the requested API") {
		t.Errorf("describe(isSkipped) lacks the skip reason:\n%s", skipped)
	}
	wantBad := "  API Blob upload cancel: Skip\n  API Manifest put by digest: FAIL\n  data Sparse Manifests: FAIL"
	if got := rep.notPassing(); got != wantBad {
		t.Errorf("notPassing() =\n%s\nwant\n%s", got, wantBad)
	}
	off := offSwitches("apis", rep.results.Config.APIs)
	off = append(off, offSwitches("data", rep.results.Config.Data)...)
	slices.Sort(off)
	if want := []string{"apis.blobs.uploadCancel", "data.sparse"}; !slices.Equal(off, want) {
		t.Errorf("offSwitches = %q, want %q", off, want)
	}
}

func TestReportReadingRejectsEmptyRun(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "results.yaml"), []byte(fixtureResults))
	writeFile(t, filepath.Join(dir, "junit.xml"), []byte(`<testsuites><testsuite name="x"></testsuite></testsuites>`))
	if _, err := readReport(dir); err == nil {
		t.Error("readReport accepted a junit.xml with no test")
	}
	if _, err := readReport(t.TempDir()); err == nil {
		t.Error("readReport accepted a directory without reports")
	}
}
