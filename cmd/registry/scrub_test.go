package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// bins holds this command built as it ships, for the tests that check
// what a user of the binary sees: its exit status above all.
var bins testutil.Binaries

// TestMain removes the binaries built by builtRegistry.
func TestMain(m *testing.M) {
	code := m.Run()
	bins.Cleanup()
	os.Exit(code)
}

// builtRegistry builds this command once per test binary.
func builtRegistry(t *testing.T) string {
	return bins.Build(t, "github.com/berth-registry/berth/cmd/registry")
}

func scrubCmd(t *testing.T) testutil.Cmd {
	// No REGISTRY_* variable of the test's environment may reach it.
	return testutil.Cmd{Path: builtRegistry(t), NoInherit: true}
}

// exitCode is the exit status of a finished command, -1 when it did not
// run or exit.
func exitCode(r testutil.Result) int {
	var ee *exec.ExitError
	switch {
	case r.Err == nil:
		return 0
	case errors.As(r.Err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// pushImage pushes config, layers and their manifest (with subject, when
// set) to repository repo of the registry at host, tagged tag unless "".
func pushImage(t *testing.T, host, repo, tag string, config []byte, layers [][]byte, subject *v1.Descriptor) (digest.Digest, int64) {
	t.Helper()
	c := client.New()
	ref, err := client.ParseReference(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	desc := func(mt string, b []byte) v1.Descriptor {
		return v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: desc(v1.MediaTypeImageConfig, config), Subject: subject}
	m.SchemaVersion = 2
	if err := c.BlobPut(t.Context(), ref, m.Config, bytes.NewReader(config)); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d := desc(v1.MediaTypeImageLayer, l)
		if err := c.BlobPut(t.Context(), ref, d, bytes.NewReader(l)); err != nil {
			t.Fatal(err)
		}
		m.Layers = append(m.Layers, d)
	}
	if subject != nil {
		m.ArtifactType = "application/vnd.example.sbom"
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(payload)
	ref.Tag, ref.Digest = tag, ""
	if tag == "" {
		ref.Digest = d
	}
	if _, err := c.ManifestPut(t.Context(), ref, v1.MediaTypeImageManifest, payload); err != nil {
		t.Fatal(err)
	}
	return d, int64(len(payload))
}

// berthServer serves the filesystem root with Berth, in-process.
func berthServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	app, err := registry.New(t.Context(), drv, registry.WithDelete(true))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return srv
}

func blobFile(root string, d digest.Digest) string {
	return filepath.Join(root, "docker/registry/v2/blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded(), "data")
}

// TestScrubCommand proves the built binary's exit status and output: 0 on
// a sound root; 1, with a line per problem, once a blob has a flipped
// byte, a layer is gone and a tag points at nothing, twice (nothing
// changed); 1 again with --repair, each line marked removed; 0 after; 2
// on bad usage and 3 when the storage cannot be opened.
func TestScrubCommand(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	srv := berthServer(t, root)
	host := strings.TrimPrefix(srv.URL, "http://")
	l1, l2 := []byte("layer one, to be corrupted"), []byte("layer two, to be lost")
	pushImage(t, host, "team/app", "v1", []byte(`{"n":1}`), [][]byte{l1}, nil)
	pushImage(t, host, "team/app", "v2", []byte(`{"n":2}`), [][]byte{l2}, nil)
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+"\n")
	cmd := scrubCmd(t)

	run := func(wantCode int, args ...string) string {
		t.Helper()
		r := cmd.Exec(t, append([]string{"scrub"}, args...)...)
		if exitCode(r) != wantCode {
			t.Fatalf("registry scrub %v: exit %d, want %d\n%s", args, exitCode(r), wantCode, r.Output())
		}
		return string(r.Stdout)
	}
	out := run(0, cfg)
	if !strings.Contains(out, "\n0 problems (0 removed)") || !strings.Contains(out, "6 blobs") {
		t.Errorf("clean root:\n%s", out)
	}
	// A blob no manifest uses is reported, and is no problem.
	c := client.New()
	ref, _ := client.ParseReference(host + "/team/app")
	unused := []byte("pushed, never used")
	if err := c.BlobPut(t.Context(), ref, v1.Descriptor{Digest: digest.FromBytes(unused), Size: int64(len(unused))}, bytes.NewReader(unused)); err != nil {
		t.Fatal(err)
	}
	out = run(0, cfg)
	if !strings.Contains(out, "\norphan-blob "+digest.FromBytes(unused).String()+": 18 bytes") || !strings.Contains(out, "1 orphan blobs (18 B)") {
		t.Errorf("orphan:\n%s", out)
	}

	f := blobFile(root, digest.FromBytes(l1))
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b[3] ^= 0x20
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(blobFile(root, digest.FromBytes(l2)))); err != nil {
		t.Fatal(err)
	}
	ghost := filepath.Join(root, "docker/registry/v2/repositories/team/app/_manifests/tags/ghost/current/link")
	if err := os.MkdirAll(filepath.Dir(ghost), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ghost, []byte(digest.FromString("nothing")), 0o644); err != nil {
		t.Fatal(err)
	}
	wantLines := []string{"corrupt-blob " + digest.FromBytes(l1).String(), "dangling-layer-link team/app " + digest.FromBytes(l2).String(),
		"dangling-tag team/app:ghost", "missing-reference team/app"}
	for range 2 {
		out = run(1, cfg)
		t.Logf("damaged root:\n%s", out)
		for _, w := range wantLines {
			if !strings.Contains(out, "\n"+w) {
				t.Errorf("output lacks a line starting %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "(removed)") {
			t.Errorf("without --repair something was removed:\n%s", out)
		}
	}
	metricsFile := filepath.Join(dir, "scrub.prom")
	out = run(1, "--repair", "--metrics-file", metricsFile, cfg)
	t.Logf("repair:\n%s", out)
	raw, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	samples := parseSamples(t, raw)
	// The metrics count what the report printed, line by line.
	want := []wantSeries{
		{`berth_scrub_runs_total{result="problems"}`, 1},
		{`berth_scrub_duration_seconds_count`, 1},
		{`berth_scrub_removed_bytes_total`, float64(len(l1))},
	}
	removedKinds := map[string]string{"corrupt-blob": "blob", "dangling-layer-link": "layer_link", "dangling-tag": "tag", "dangling-manifest-link": "manifest_link", "stale-referrer": "referrer", "missing-reference": "manifest_link"}
	problems, removed := map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		kind, _, _ := strings.Cut(line, " ")
		if _, ok := removedKinds[kind]; ok || kind == "invalid-manifest" {
			problems[kind]++
			if strings.HasSuffix(line, " (removed)") {
				removed[removedKinds[kind]]++
			}
		}
	}
	if problems["corrupt-blob"] != 1 || problems["dangling-layer-link"] < 1 || problems["dangling-tag"] < 1 || removed["blob"] != 1 {
		t.Fatalf("test premise: the report has %v problems, %v removed", problems, removed)
	}
	for kind, n := range problems {
		want = append(want, wantSeries{`berth_scrub_problems_total{kind="` + strings.ReplaceAll(kind, "-", "_") + `"}`, n})
	}
	for kind, n := range removed {
		want = append(want, wantSeries{`berth_scrub_removed_objects_total{kind="` + kind + `"}`, n})
	}
	checkSeries(t, samples, want)
	for _, series := range []string{`berth_scrub_problems_total{kind="missing_reference"}`, `berth_scrub_checked_blobs_total`, `berth_scrub_last_success_timestamp_seconds`} {
		if samples[series] < 1 {
			t.Errorf("%s = %v, want at least 1", series, samples[series])
		}
	}
	for series := range samples {
		if !strings.HasPrefix(series, "berth_scrub_") {
			t.Errorf("%s in scrub's metrics file", series)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, " sha256:") && !strings.HasPrefix(line, "orphan-blob ") && !strings.HasSuffix(line, "(removed)") {
			t.Errorf("--repair left %q", line)
		}
	}
	out = run(0, "--metrics-file="+metricsFile, cfg)
	if !strings.Contains(out, "\n0 problems") {
		t.Errorf("after --repair:\n%s", out)
	}
	clean, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, parseSamples(t, clean), []wantSeries{{`berth_scrub_runs_total{result="success"}`, 1}, {`berth_scrub_runs_total{result="problems"}`, 0}})
	// A push heals what was removed.
	pushImage(t, host, "team/app", "v1", []byte(`{"n":1}`), [][]byte{l1}, nil)
	pushImage(t, host, "team/app", "v2", []byte(`{"n":2}`), [][]byte{l2}, nil)
	out = run(0, cfg)
	if !strings.Contains(out, "\n0 problems") || !strings.Contains(out, "2 tags") || !strings.Contains(out, "1 orphan blobs") {
		t.Errorf("after the push:\n%s", out)
	}

	notDir := writeFile(t, dir, "file", "")
	badRoot := writeFile(t, dir, "bad.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+filepath.Join(notDir, "data")+"\n")
	for _, c := range []struct {
		code int
		args []string
	}{
		{2, nil},
		{2, []string{"--bogus", cfg}},
		{2, []string{cfg, cfg}},
		{2, []string{cfg, "--metrics-file"}},
		{2, []string{"--metrics-file", filepath.Join(dir, "nodir", "x.prom"), cfg}},
		{2, []string{filepath.Join(dir, "missing.yml")}},
		{3, []string{badRoot}},
	} {
		r := cmd.Exec(t, append([]string{"scrub"}, c.args...)...)
		if exitCode(r) != c.code || !strings.HasPrefix(string(r.Stderr), "registry scrub: ") || strings.Count(string(r.Stderr), "\n") != 1 {
			t.Errorf("registry scrub %v: exit %d, want %d, with one line on stderr\n%s", c.args, exitCode(r), c.code, r.Output())
		}
	}
	promtoolCheck(t, raw) // last: it skips without promtool
}

// TestScrubIndexesDistributionReferrers: Distribution, in-process, writes
// an image and an SBOM whose subject it is; Berth serving that root lists
// no referrers, since its index is its own. After "registry scrub"
// (without --repair, exit 0: nothing is wrong) Berth lists the SBOM, and
// the scrub built the repository index the root never had.
func TestScrubIndexesDistributionReferrers(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	dist := disttest.Start(t, disttest.Options{Root: root})
	img, size := pushImage(t, dist.Host, "app", "v1", []byte(`{"os":"linux"}`), [][]byte{[]byte("rootfs")}, nil)
	subject := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: img, Size: size}
	sbom, _ := pushImage(t, dist.Host, "app", "", []byte(`{}`), [][]byte{[]byte(`{"spdxVersion":"SPDX-2.3"}`)}, subject)

	berth := berthServer(t, root)
	referrers := func() []v1.Descriptor {
		t.Helper()
		resp, err := http.Get(berth.URL + "/v2/app/referrers/" + img.String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ix v1.Index
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ix) != nil {
			t.Fatalf("GET referrers: %s", resp.Status)
		}
		return ix.Manifests
	}
	if got := referrers(); len(got) != 0 {
		t.Fatalf("referrers before the scrub: %+v; the test needs a root without Berth's index", got)
	}
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+"\n")
	r := scrubCmd(t).Exec(t, "scrub", cfg)
	if exitCode(r) != 0 || !strings.Contains(string(r.Stdout), "1 referrers indexed; 1 repositories indexed") {
		t.Fatalf("scrub: exit %d\n%s", exitCode(r), r.Output())
	}
	got := referrers()
	if len(got) != 1 || got[0].Digest != sbom || got[0].ArtifactType != "application/vnd.example.sbom" {
		t.Errorf("referrers after the scrub: %+v, want the SBOM %s", got, sbom)
	}
}
