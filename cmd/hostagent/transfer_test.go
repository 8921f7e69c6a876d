package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestPushKeepsRegistryDigest: an image whose registry serves a Docker
// manifest is stored as OCI, but push sends the registry's own bytes, so
// the copy has the same digest (and signatures of it still match), even
// after a prune.
func TestPushKeepsRegistryDigest(t *testing.T) {
	srv := registrytest.Start(t, inmemory.New())
	ctx := t.Context()
	c := client.New()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "bin/app", Data: hatest.Random("docker", 64<<10)}}}})
	dm, want := pushDockerManifest(t, ctx, c, srv.Host+"/src/app:1", img)

	ha := newCLI(t)
	ha.run(t, "install", srv.Host+"/src/app:1")
	imgs := ha.list(t)
	if len(imgs) != 1 || imgs[0].Digest == want || imgs[0].SourceDigest != want {
		t.Fatalf("installed %+v: want the OCI form, the registry's digest %s beside", imgs, want)
	}
	ha.run(t, "prune")
	ha.run(t, "verify")
	out := ha.run(t, "push", "-q", srv.Host+"/src/app:1", srv.Host+"/copy/app:1")
	if strings.TrimSpace(out) != want.String() {
		t.Errorf("push printed %q, want %s", out, want)
	}
	m, err := c.ManifestGet(ctx, mustRef(t, srv.Host+"/copy/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Descriptor.Digest != want || m.Descriptor.MediaType != oci.MediaTypeDockerManifest || string(m.Payload) != string(dm) {
		t.Errorf("pushed %s (%s), want the registry's %s", m.Descriptor.Digest, m.Descriptor.MediaType, want)
	}
	// A tag made here keeps it too.
	ha.run(t, "tag", srv.Host+"/src/app:1", srv.Host+"/copy/app:2")
	if out := ha.run(t, "push", "-q", srv.Host+"/copy/app:2"); strings.TrimSpace(out) != want.String() {
		t.Errorf("push of a tag: %q, want %s", out, want)
	}
	// So does an image a sync rule brought into the store.
	synced := newCLI(t)
	cfg := filepath.Join(t.TempDir(), "sync.yml")
	writeFile(t, cfg, "rules:\n  - {source: %q, destination: local}\n", srv.Host+"/src/app:1")
	synced.run(t, "sync", "--config", cfg)
	if out := synced.run(t, "push", "-q", srv.Host+"/src/app:1", srv.Host+"/copy/app:3"); strings.TrimSpace(out) != want.String() {
		t.Errorf("push of a synced image: %q, want %s", out, want)
	}
}

// TestVerifyRepairExitsZero: verify finds a corrupt layer (exit 7);
// verify --repair deletes it, fetches it again from where it came from,
// and exits 0; the store then verifies clean.
func TestVerifyRepairExitsZero(t *testing.T) {
	srv := registrytest.Start(t, inmemory.New())
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "data", Data: hatest.Random("verify", 50<<10)}}}})
	hatest.Push(t, t.Context(), client.New(), srv.Host+"/v/app:1", img)
	ha := newCLI(t)
	ha.run(t, "install", srv.Host+"/v/app:1")
	path := filepath.Join(ha.store, "blobs", "sha256", img.Layers[0].Digest.Encoded())
	if err := os.WriteFile(path, []byte("not the layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	ha.fail(t, exitCorrupt, "verify")
	out := ha.run(t, "verify", "--repair")
	if !strings.Contains(out, "fetched it again") || !strings.Contains(out, "all repaired") {
		t.Errorf("verify --repair:\n%s", out)
	}
	ha.run(t, "verify")
}

// TestSaveFromRegistry: save takes an image that is not installed from
// its registry (as Save-ContainerImage did), without installing it; with
// --no-pull it says to install it first.
func TestSaveFromRegistry(t *testing.T) {
	srv := registrytest.Start(t, inmemory.New())
	ctx := t.Context()
	remote := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "r", Data: []byte("remote")}}}})
	local := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "l", Data: []byte("local")}}}})
	hatest.Push(t, ctx, client.New(), srv.Host+"/r/app:1", remote)
	hatest.Push(t, ctx, client.New(), srv.Host+"/l/app:1", local)
	ha := newCLI(t)
	ha.run(t, "install", srv.Host+"/l/app:1")
	dir := t.TempDir()

	if line := ha.fail(t, exitNotFound, "save", "--no-pull", srv.Host+"/r/app:1", "-o", filepath.Join(dir, "no.tar")); !strings.Contains(line, "install it first") {
		t.Errorf("save --no-pull: %s", line)
	}
	ha.run(t, "save", srv.Host+"/r/app:1", "-o", filepath.Join(dir, "one.tar"))
	ha.run(t, "save", srv.Host+"/l/app:1", srv.Host+"/r/app:1", "-o", filepath.Join(dir, "both.tar.gz"))
	if imgs := ha.list(t); len(imgs) != 1 || imgs[0].Digest != local.Digest {
		t.Errorf("save installed what it fetched: %+v", imgs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("save left files behind: %v", entries)
	}
	other := newCLI(t)
	other.run(t, "load", "-i", filepath.Join(dir, "one.tar"))
	other.run(t, "load", "-i", filepath.Join(dir, "both.tar.gz"))
	got := map[string]digest.Digest{}
	for _, i := range other.list(t) {
		got[i.Reference] = i.Digest
	}
	if got[srv.Host+"/r/app:1"] != remote.Digest || got[srv.Host+"/l/app:1"] != local.Digest {
		t.Errorf("archives held %v", got)
	}
	ha.fail(t, exitNotFound, "save", srv.Host+"/r/none:1", "-o", filepath.Join(dir, "none.tar"))
}

// TestProgressLines: without a terminal, a long download prints its bytes
// and rate every interval ($HOSTAGENT_PROGRESS_INTERVAL, 5 s by default);
// on a terminal the bars show rate and ETA.
func TestProgressLines(t *testing.T) {
	srv := hatest.StartCountedBerth(t)
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "big", Data: hatest.Random("progress", 1<<20)}}}})
	hatest.Push(t, t.Context(), client.New(), srv.Host+"/p/app:1", img)
	srv.SlowBlobs(40 * time.Millisecond) // 1 MiB in 32 KiB pieces: over a second

	ha := newCLI(t)
	ha.cmd.Env = append(ha.cmd.Env, "HOSTAGENT_PROGRESS_INTERVAL=200ms")
	r := ha.cmd.Exec(t, ha.args([]string{"install", srv.Host + "/p/app:1"})...)
	if r.Err != nil {
		t.Fatalf("install: %v\n%s", r.Err, r.Output())
	}
	short := regexp.QuoteMeta(shortDigest(img.Layers[0].Digest))
	during := regexp.MustCompile(`(?m)^download ` + short + `: [0-9.]+[kM]?B of 1\.05MB \(\d+%\), [0-9.]+[kM]?B/s$`)
	if n := len(during.FindAll(r.Stderr, -1)); n < 2 {
		t.Errorf("%d progress lines during the download, want at least 2:\n%s", n, r.Stderr)
	}
	if !regexp.MustCompile(`(?m)^` + short + ` downloaded: 1\.05MB in [0-9.]+m?s, [0-9.]+[kM]?B/s$`).Match(r.Stderr) {
		t.Errorf("no summary line:\n%s", r.Stderr)
	}

	script, err := exec.LookPath("script")
	if err != nil {
		testutil.SkipOrFail(t, "script (util-linux) not found: the terminal bars are not tested")
	}
	tty := newCLI(t)
	// script's terminal has no size: give it one, as a real one has.
	cmdline := fmt.Sprintf("stty cols 120 rows 40; exec %s --store %s install %s/p/app:1", hostagentBin, tty.store, srv.Host)
	tty.cmd.Path = script
	out := tty.cmd.Run(t, "-qec", cmdline, "/dev/null")
	if !strings.Contains(string(out), "/s") || !strings.Contains(string(out), "ETA") {
		t.Errorf("terminal bars show no rate or ETA:\n%q", out)
	}
}
