package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// registryBin builds this command once per test binary.
func registryBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "registry-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "registry")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if out, err := exec.Command(goBin, "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build registry: %v", buildErr)
	}
	return builtBin
}

// gcRoot fills a filesystem root through the storage API, as pushes would.
type gcRoot struct {
	t *testing.T
	s *storage.Store
}

func (g *gcRoot) blob(repo, content string) digest.Digest {
	ctx := context.Background()
	d := digest.FromString(content)
	u, err := g.s.StartUpload(ctx, repo)
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := u.Commit(ctx, d, strings.NewReader(content), 0); err != nil {
		g.t.Fatal(err)
	}
	return d
}

func (g *gcRoot) manifest(repo, ref string, doc map[string]any) digest.Digest {
	b, _ := json.Marshal(doc)
	d := digest.FromBytes(b)
	if ref == "" {
		ref = d.String()
	}
	if _, err := g.s.PutManifest(context.Background(), repo, ref, "", b, nil); err != nil {
		g.t.Fatalf("put %s:%s: %v", repo, ref, err)
	}
	return d
}

func ociDesc(mt string, d digest.Digest) map[string]any {
	return map[string]any{"mediaType": mt, "digest": d, "size": 1}
}

// image puts an image of a new config and layers into repo; subject, when
// not "", makes it a referrer.
func (g *gcRoot) image(repo, tag, config string, subject digest.Digest, layers ...string) (m, c digest.Digest, ls []digest.Digest) {
	c = g.blob(repo, config)
	var lds []any
	for _, l := range layers {
		d := g.blob(repo, l)
		ls = append(ls, d)
		lds = append(lds, ociDesc("application/vnd.oci.image.layer.v1.tar", d))
	}
	doc := map[string]any{"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config": ociDesc("application/vnd.oci.image.config.v1+json", c), "layers": lds}
	if subject != "" {
		doc["subject"] = ociDesc(storage.MediaTypeOCIManifest, subject)
		doc["artifactType"] = "application/vnd.example.sbom"
	}
	return g.manifest(repo, tag, doc), c, ls
}

func blobsUnder(t *testing.T, root string) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	base := filepath.Join(root, "docker", "registry", "v2", "blobs")
	_ = filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() == "data" {
			out = append(out, digest.Digest("sha256:"+filepath.Base(filepath.Dir(p))))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestGCCommand runs the built binary's gc (and garbage-collect) on a root
// with shared layers, an index, referrers, untagged manifests, a moved and
// a deleted tag, checks exactly which blobs remain, and then serves the
// root with the binary: every remaining image pulls, the emptied
// repository is gone from the catalog.
func TestGCCommand(t *testing.T) {
	bin := registryBin(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	g := &gcRoot{t: t, s: storage.New(drv, storage.WithGCGrace(time.Second))}
	ctx := context.Background()

	app, c1, l1 := g.image("team/app", "v1", "config v1", "", "base", "app v1")
	sbom, sc, _ := g.image("team/app", "", "sbom config", app)
	old, c0, l0 := g.image("team/app", "v0", "config v0", "", "base", "app v0")
	oldSig, osc, _ := g.image("team/app", "", "sig config", old)
	arm, carm, larm := g.image("team/multi", "", "config arm", "", "base", "arm")
	amd, camd, lamd := g.image("team/multi", "", "config amd", "", "base", "amd")
	index := g.manifest("team/multi", "latest", map[string]any{"schemaVersion": 2, "mediaType": storage.MediaTypeOCIIndex,
		"manifests": []any{ociDesc(storage.MediaTypeOCIManifest, arm), ociDesc(storage.MediaTypeOCIManifest, amd)}})
	moved1, cm1, lm1 := g.image("team/moved", "stable", "config m1", "", "m1 layer")
	moved2, cm2, lm2 := g.image("team/moved", "stable", "config m2", "", "base", "m2 layer")
	gone, cg, lg := g.image("scratch", "tmp", "config scratch", "", "scratch layer")
	if err := g.s.DeleteManifest(ctx, "team/app", "v0"); err != nil {
		t.Fatal(err)
	}
	if err := g.s.DeleteManifest(ctx, "scratch", "tmp"); err != nil {
		t.Fatal(err)
	}
	orphan := g.blob("team/app", "uploaded, never referenced")

	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  delete:\n    enabled: true\n  gc:\n    grace: 1s\nhttp:\n  addr: 127.0.0.1:0\n")
	time.Sleep(3 * time.Second) // past the 1s grace, with whole-second slack

	registry := func(args ...string) (string, int) {
		res := testutil.Cmd{Path: bin, Timeout: time.Minute}.Exec(t, args...)
		code := 0
		var exit *exec.ExitError
		if errors.As(res.Err, &exit) {
			code = exit.ExitCode()
		} else if res.Err != nil {
			t.Fatal(res.Err)
		}
		return string(res.Stdout) + string(res.Stderr), code
	}

	all := blobsUnder(t, root)
	out, code := registry("garbage-collect", "-d", "-m", cfg)
	if code != 0 || !slices.Equal(blobsUnder(t, root), all) {
		t.Fatalf("dry run: exit %d, blobs changed\n%s", code, out)
	}
	if !strings.Contains(out, "would delete blob "+orphan.String()) {
		t.Errorf("dry run does not name the orphan:\n%s", out)
	}
	if out, code := registry("gc", cfg, "--grace", "500ms"); code != exitUsage || !strings.Contains(out, "shorter than storage.gc.grace") {
		t.Errorf("a grace below the configured one: exit %d\n%s", code, out)
	}

	// Without --delete-untagged only the orphan goes.
	out, code = registry("gc", cfg)
	if code != 0 || !strings.Contains(out, "deleted: 0 manifests, 1 blobs") {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	if out, code := registry("gc", cfg, "--metrics-file", filepath.Join(dir, "nodir", "gc.prom")); code != exitUsage || !strings.Contains(out, "its directory does not exist") {
		t.Errorf("a metrics file in a missing directory: exit %d\n%s", code, out)
	}
	metricsFile := filepath.Join(dir, "gc.prom")
	out, code = registry("gc", cfg, "--delete-untagged", "--metrics-file", metricsFile)
	if code != 0 {
		t.Fatalf("gc --delete-untagged: exit %d\n%s", code, out)
	}
	t.Logf("registry gc --delete-untagged:\n%s", out)
	live := []digest.Digest{app, c1, sbom, sc, arm, carm, amd, camd, index, moved2, cm2}
	live = slices.Concat(live, l1, larm, lamd, lm2)
	slices.Sort(live)
	live = slices.Compact(live)
	if got := blobsUnder(t, root); !slices.Equal(got, live) {
		t.Errorf("remaining blobs\n got %v\nwant %v", got, live)
	}
	for _, d := range slices.Concat([]digest.Digest{old, c0, oldSig, osc, moved1, cm1, gone, cg, orphan}, l0[1:], lm1, lg) {
		if slices.Contains(live, d) {
			t.Fatalf("test table: %s both live and gone", d)
		}
	}
	sum := regexp.MustCompile(`deleted: 4 manifests, 11 blobs \((\d+) bytes\), (\d+) layer links`).FindStringSubmatch(out)
	if sum == nil {
		t.Fatalf("summary:\n%s", out)
	}

	// The metrics file has the run, and only the gc series.
	raw, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	samples := parseSamples(t, raw)
	bytesFreed, _ := strconv.ParseFloat(sum[1], 64)
	links, _ := strconv.ParseFloat(sum[2], 64)
	checkSeries(t, samples, []wantSeries{
		{`berth_gc_runs_total{result="success"}`, 1},
		{`berth_gc_duration_seconds_count`, 1},
		{`berth_gc_deleted_objects_total{kind="manifest"}`, 4},
		{`berth_gc_deleted_objects_total{kind="blob"}`, 11},
		{`berth_gc_deleted_objects_total{kind="layer_link"}`, links},
		{`berth_gc_deleted_bytes_total`, bytesFreed},
	})
	if v := samples[`berth_gc_last_success_timestamp_seconds`]; time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("berth_gc_last_success_timestamp_seconds = %v, want about now", v)
	}
	for series := range samples {
		if !strings.HasPrefix(series, "berth_gc_") {
			t.Errorf("%s in gc's metrics file", series)
		}
	}

	// The binary serves what is left: the catalog without the emptied
	// repository, every remaining image's manifest and blobs.
	cmd := exec.Command(bin, "serve", cfg)
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`listening on ([^\s,]+)`).FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", stdout)
		}
	}
	resp, err := http.Get("http://" + addr + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	var cat struct{ Repositories []string }
	if err := json.NewDecoder(resp.Body).Decode(&cat); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !slices.Equal(cat.Repositories, []string{"team/app", "team/moved", "team/multi"}) {
		t.Errorf("catalog %v", cat.Repositories)
	}
	for repo, ds := range map[string][]digest.Digest{
		"team/app":   slices.Concat([]digest.Digest{c1, sc}, l1),
		"team/multi": slices.Concat([]digest.Digest{carm, camd}, larm, lamd),
		"team/moved": slices.Concat([]digest.Digest{cm2}, lm2),
	} {
		for _, d := range ds {
			if code := get(t, http.DefaultClient, "http://"+addr+"/v2/"+repo+"/blobs/"+d.String()); code != http.StatusOK {
				t.Errorf("GET %s blob %s: %d", repo, d, code)
			}
		}
	}
	for _, ref := range []string{"team/app/manifests/v1", "team/app/manifests/" + sbom.String(), "team/multi/manifests/latest",
		"team/multi/manifests/" + arm.String(), "team/moved/manifests/stable"} {
		if code := get(t, http.DefaultClient, "http://"+addr+"/v2/"+ref); code != http.StatusOK {
			t.Errorf("GET %s: %d", ref, code)
		}
	}
	if code := get(t, http.DefaultClient, "http://"+addr+"/v2/team/app/manifests/"+old.String()); code != http.StatusNotFound {
		t.Errorf("GET the deleted image: %d", code)
	}
	promtoolCheck(t, raw) // last: it skips without promtool
}

// TestServeCollectsGarbage: with storage.gc.enabled, serve collects on its
// own: an unreferenced upload goes once past the grace, a tagged image stays.
func TestServeCollectsGarbage(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	g := &gcRoot{t: t, s: storage.New(drv, storage.WithGCGrace(time.Second))}
	m, c, ls := g.image("app", "v1", "config", "", "layer")
	orphan := g.blob("app", "orphan")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  gc:\n    enabled: true\n    interval: 300ms\n    grace: 1s\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	want := slices.Sorted(slices.Values(append([]digest.Digest{m, c}, ls...)))
	deadline := time.Now().Add(15 * time.Second)
	for slices.Contains(blobsUnder(t, root), orphan) {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan is still there after 15s; stderr: %s", s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := blobsUnder(t, root); !slices.Equal(got, want) {
		t.Errorf("blobs %v, want %v", got, want)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit %d; stderr: %s", code, s.stderr)
	}
}
