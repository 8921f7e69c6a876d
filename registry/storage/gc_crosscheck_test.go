package storage

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	diststorage "github.com/distribution/distribution/v3/registry/storage"
	distfs "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestGCCrossCheckDistribution builds one root (shared layers across
// repositories, an index, referrers of a live and of a deleted image,
// untagged manifests, a moved and a deleted tag), copies it, runs
// Distribution v3.1.2's MarkAndSweep with RemoveUntagged on one copy and
// Berth's collector with DeleteUntagged on the other, and compares what
// remains. The only difference allowed is Berth keeping the referrers of
// live manifests (an SBOM of app:v1 here: its manifest, config and layer),
// which Distribution deletes because no tag points at them. Then each
// registry serves every remaining image from the other's root.
func TestGCCrossCheckDistribution(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	berthRoot, distRoot := filepath.Join(dir, "berth"), filepath.Join(dir, "dist")
	drv, err := filesystem.New(berthRoot)
	if err != nil {
		t.Fatal(err)
	}
	s := gcStore(drv)

	app, appc, appl := image(t, s, "team/app", "v1", "app config", "base", "app layer")
	sbomc := putString(t, s, "team/app", "sbom config")
	sboml := putString(t, s, "team/app", "sbom document")
	sbom := putManifest(t, s, "team/app", "", imageJSON(sbomc, app, sboml))
	old, _, _ := image(t, s, "team/app", "v0", "old config", "base", "old layer")
	putManifest(t, s, "team/app", "", imageJSON(sbomc, old, putString(t, s, "team/app", "old sbom")))
	if err := s.DeleteManifest(ctx, "team/app", "v0"); err != nil {
		t.Fatal(err)
	}
	arm, armc, arml := image(t, s, "team/multi", "", "arm config", "base", "arm layer")
	amd, amdc, amdl := image(t, s, "team/multi", "", "amd config", "base", "amd layer")
	ix := putManifest(t, s, "team/multi", "latest", indexJSON(arm, amd))
	image(t, s, "team/moved", "stable", "m1 config", "m1 layer")
	m2, m2c, m2l := image(t, s, "team/moved", "stable", "m2 config", "base", "m2 layer")
	image(t, s, "scratch", "tmp", "scratch config", "scratch layer")
	if err := s.DeleteManifest(ctx, "scratch", "tmp"); err != nil {
		t.Fatal(err)
	}
	putString(t, s, "team/app", "orphan upload")
	if out, err := exec.Command("cp", "-a", berthRoot, distRoot).CombinedOutput(); err != nil {
		t.Fatalf("copy the root: %v %s", err, out)
	}
	waitOld()

	if _, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true}); err != nil {
		t.Fatal(err)
	}
	logrus.SetOutput(io.Discard) // Distribution logs each deletion through logrus
	dd := distfs.New(distfs.DriverParameters{RootDirectory: distRoot, MaxThreads: 25})
	ns, err := diststorage.NewRegistry(ctx, dd, diststorage.EnableDelete)
	if err != nil {
		t.Fatal(err)
	}
	if err := diststorage.MarkAndSweep(ctx, dd, ns, diststorage.GCOpts{RemoveUntagged: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}

	berthLeft, distLeft := blobsIn(t, berthRoot), blobsIn(t, distRoot)
	onlyBerth := slices.DeleteFunc(slices.Clone(berthLeft), func(d digest.Digest) bool { return slices.Contains(distLeft, d) })
	onlyDist := slices.DeleteFunc(slices.Clone(distLeft), func(d digest.Digest) bool { return slices.Contains(berthLeft, d) })
	wantOnlyBerth := sorted(sbom, sbomc, sboml)
	if !slices.Equal(onlyBerth, wantOnlyBerth) || len(onlyDist) != 0 {
		t.Fatalf("remaining blobs differ\nonly Berth kept %v (want the SBOM of app:v1: %v)\nonly Distribution kept %v",
			onlyBerth, wantOnlyBerth, onlyDist)
	}
	t.Logf("Berth kept %d blobs, Distribution %d; Berth also keeps the referrer of live team/app:v1 %s, its config %s and its layer %s, which Distribution deletes (no tag points at it)",
		len(berthLeft), len(distLeft), sbom, sbomc, sboml)

	// Distribution serves Berth's root, Berth serves Distribution's: every
	// remaining tagged image, manifest and blobs.
	images := map[string][]digest.Digest{
		"team/app:v1":       slices.Concat([]digest.Digest{app, appc}, appl),
		"team/multi:latest": slices.Concat([]digest.Digest{ix, arm, armc, amd, amdc}, arml, amdl),
		"team/moved:stable": slices.Concat([]digest.Digest{m2, m2c}, m2l),
	}
	dist := disttest.Start(t, disttest.Options{Root: berthRoot})
	fromDist := New(mustFS(t, distRoot))
	for ref, ds := range images {
		repo, tag, _ := cutLast(ref, ":")
		if code := httpStatus(t, dist.URL+"/v2/"+repo+"/manifests/"+tag); code != http.StatusOK {
			t.Errorf("Distribution on Berth's root: %s: %d", ref, code)
		}
		if _, err := fromDist.GetManifest(ctx, repo, tag); err != nil {
			t.Errorf("Berth on Distribution's root: %s: %v", ref, err)
		}
		for _, d := range ds {
			kind := "blobs"
			if _, err := fromDist.GetManifest(ctx, repo, d.String()); err == nil {
				kind = "manifests"
			} else if rc, _, err := fromDist.OpenBlob(ctx, repo, d); err != nil {
				t.Errorf("Berth on Distribution's root: %s blob %s: %v", ref, d, err)
			} else {
				rc.Close()
			}
			if code := httpStatus(t, dist.URL+"/v2/"+repo+"/"+kind+"/"+d.String()); code != http.StatusOK {
				t.Errorf("Distribution on Berth's root: %s %s %s: %d", ref, kind, d, code)
			}
		}
	}
}

func mustFS(t testing.TB, root string) *filesystem.Driver {
	d, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", MediaTypeOCIManifest+","+MediaTypeOCIIndex)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// blobsIn lists the blobs of a filesystem root.
func blobsIn(t *testing.T, root string) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	_ = filepath.Walk(filepath.Join(root, "docker/registry/v2/blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() == "data" {
			out = append(out, digest.Digest("sha256:"+filepath.Base(filepath.Dir(p))))
		}
		return nil
	})
	return sorted(out...)
}
