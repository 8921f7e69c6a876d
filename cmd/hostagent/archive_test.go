package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// richImage has what unpacking must keep: directories, modes, owners,
// symlinks, a hardlink, and a second layer that deletes and replaces.
func richImage(t *testing.T, seed string) *hatest.Image {
	t.Helper()
	return hatest.NewImage(t, hatest.Spec{History: []v1.History{{CreatedBy: "base"}, {CreatedBy: "changes"}}, Layers: [][]hatest.File{
		{
			{Name: "etc/", Type: tar.TypeDir},
			{Name: "etc/os-release", Data: []byte("ID=" + seed + "\n")},
			{Name: "etc/shadow", Data: []byte("root:*:1::::::\n"), Mode: 0o640, GID: 42},
			{Name: "bin/", Type: tar.TypeDir},
			{Name: "bin/tool", Data: hatest.Random(seed, 64<<10), Mode: 0o4755},
			{Name: "bin/tool-again", Type: tar.TypeLink, Link: "bin/tool"},
			{Name: "bin/alias", Type: tar.TypeSymlink, Link: "tool"},
			{Name: "home/", Type: tar.TypeDir},
			{Name: "home/user/", Type: tar.TypeDir, Mode: 0o700, UID: 1000, GID: 1000},
			{Name: "home/user/notes", Data: []byte("notes"), UID: 1000, GID: 1000},
			{Name: "var/cache/", Type: tar.TypeDir},
			{Name: "var/cache/old", Data: []byte("stale")},
			{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		},
		{
			{Name: "etc/.wh.shadow"},
			{Name: "var/cache/", Type: tar.TypeDir},
			{Name: "var/cache/.wh..wh..opq"},
			{Name: "var/cache/new", Data: []byte("fresh")},
			{Name: "etc/motd", Data: []byte("welcome\n")},
		},
	}})
}

// loadJSON runs a load (or install --from-file) and decodes its result.
func (c *cli) loadJSON(t *testing.T, args ...string) hostagent.LoadResult {
	t.Helper()
	var res hostagent.LoadResult
	out := c.run(t, append(args, "--format", "json")...)
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Images) == 0 {
		t.Fatalf("%s: %v\n%s", args[0], err, out)
	}
	return res
}

func layerDigests(img *hatest.Image) []digest.Digest {
	var out []digest.Digest
	for _, l := range img.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// diffIDs reads the config of img.
func diffIDs(t *testing.T, img *hatest.Image) []digest.Digest {
	t.Helper()
	var cfg v1.Image
	if err := json.Unmarshal(img.Blobs[img.Config.Digest], &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.RootFS.DiffIDs
}

// TestArchiveDigestsWithTools: archives written by crane (tarball and OCI
// layout) and skopeo (oci-archive and docker-archive) load with the
// registry's digests, as far as each format keeps them; regctl imports
// what hostagent saves, compressed or not, with the same digest.
func TestArchiveDigestsWithTools(t *testing.T) {
	crane := testutil.Cmd{Path: testutil.RequireTool(t, "crane")}
	skopeo := testutil.Cmd{Path: testutil.RequireTool(t, "skopeo")}
	regctl := testutil.Cmd{Path: testutil.RequireTool(t, "regctl"), Env: []string{"HOME=" + t.TempDir()}}
	srv := registrytest.Start(t, inmemory.New())
	img := richImage(t, "tools")
	ref := srv.Host + "/tools/app:1.0"
	hatest.Push(t, t.Context(), client.New(), ref, img)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }

	crane.Run(t, "pull", "--insecure", "--format=tarball", ref, at("crane.tar"))
	crane.Run(t, "pull", "--insecure", "--format=oci", ref, at("crane-oci"))
	skopeo.Run(t, "--insecure-policy", "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+ref, "oci-archive:"+at("skopeo-oci.tar")+":1.0")
	skopeo.Run(t, "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+ref, "docker-archive:"+at("skopeo-docker.tar")+":"+ref)

	for _, tc := range []struct {
		file      string
		format    string
		sameImage bool            // the format keeps the manifest, so its digest
		layers    []digest.Digest // what the layers' digests must be
	}{
		{"crane.tar", hostagent.FormatDockerArchive, false, layerDigests(img)},
		{"crane-oci", hostagent.FormatOCILayout, true, layerDigests(img)},
		{"skopeo-oci.tar", hostagent.FormatOCILayout, true, layerDigests(img)},
		{"skopeo-docker.tar", hostagent.FormatDockerArchive, false, diffIDs(t, img)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ha := newCLI(t)
			res := ha.loadJSON(t, "load", "-i", at(tc.file))
			got := res.Images[0]
			t.Logf("%s: %s; kept: %s", tc.file, res.Format, got.Preserved)
			if res.Format != tc.format || got.Config != img.Config.Digest || !slices.Equal(got.Layers, tc.layers) {
				t.Errorf("loaded %+v\nwant config %s, layers %v", res, img.Config.Digest, tc.layers)
			}
			// A docker-archive has no manifest: the one made for it has
			// the registry's digest only when the registry's was an OCI
			// manifest marshalled the same way (as here, made by hatest).
			if tc.sameImage && got.Digest != img.Digest {
				t.Errorf("manifest digest %s, want the registry's %s", got.Digest, img.Digest)
			}
			if tc.format == hostagent.FormatDockerArchive && !slices.Contains(got.Names, ref) {
				t.Errorf("names %v, want %s", got.Names, ref)
			}
			ha.run(t, "container", "create", "c", "--image", got.Digest.String())
			ha.run(t, "verify")
		})
	}

	// regctl imports what hostagent saves: one image in any compression,
	// several by tag (--name), with the digest kept.
	ha := newCLI(t)
	ha.run(t, "install", ref)
	other := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "other", Data: []byte("x")}}}})
	hatest.Push(t, t.Context(), client.New(), srv.Host+"/tools/other:2.0", other)
	ha.run(t, "install", srv.Host+"/tools/other:2.0")
	for _, f := range []string{"one.tar", "one.tar.gz", "one.tar.zst"} {
		ha.run(t, "save", ref, "-o", at(f))
		layout := "ocidir://" + at("regctl-"+f) + ":app"
		regctl.Run(t, "image", "import", layout, at(f))
		if d := strings.TrimSpace(string(regctl.Run(t, "image", "digest", layout))); d != img.Digest.String() {
			t.Errorf("regctl import of %s: %s, want %s", f, d, img.Digest)
		}
	}
	ha.run(t, "save", ref, srv.Host+"/tools/other:2.0", "-o", at("two.tar"))
	layout := "ocidir://" + at("regctl-two") + ":other"
	regctl.Run(t, "image", "import", layout, at("two.tar"), "--name", "2.0")
	if d := strings.TrimSpace(string(regctl.Run(t, "image", "digest", layout))); d != other.Digest.String() {
		t.Errorf("regctl import --name 2.0: %s, want %s", d, other.Digest)
	}
	// skopeo reads the OCI half of compressed archives, digest kept, and
	// the docker half of a plain and a zstd one.
	for _, f := range []string{"one.tar.gz", "one.tar.zst"} {
		skopeo.Run(t, "--insecure-policy", "copy", "--preserve-digests", "oci-archive:"+at(f)+":1.0", "oci:"+at("sk-layout")+":"+f)
		out := skopeo.Run(t, "inspect", "oci:"+at("sk-layout")+":"+f)
		if !strings.Contains(string(out), img.Digest.String()) {
			t.Errorf("skopeo inspect of the copy of %s:\n%s", f, out)
		}
	}
	skopeo.Run(t, "--insecure-policy", "copy", "docker-archive:"+at("two.tar")+":"+srv.Host+"/tools/other:2.0", "oci:"+at("sk-layout")+":other")
	skopeo.Run(t, "--insecure-policy", "copy", "docker-archive:"+at("one.tar.zst"), "oci:"+at("sk-layout")+":zst")
}

// TestDockerLoadGzip: docker load reads a gzip-compressed archive; the
// image ID is the config's digest.
func TestDockerLoadGzip(t *testing.T) {
	docker := testutil.Cmd{Path: testutil.RequireDocker(t)}
	ha := newCLI(t)
	img := richImage(t, fmt.Sprintf("gzip-%d", os.Getpid()))
	ref := fmt.Sprintf("localhost:5000/berth-test-%d/gzip:1", os.Getpid())
	layout := filepath.Join(t.TempDir(), "layout")
	hatest.WriteLayout(t, layout, map[string]*hatest.Image{ref: img})
	ha.run(t, "load", "-i", layout)
	out := filepath.Join(t.TempDir(), "img.tar.gz")
	ha.run(t, "save", ref, "-o", out)
	t.Cleanup(func() { docker.Exec(t, "rmi", "-f", ref) })
	docker.Run(t, "load", "-i", out)
	if id, _ := dockerImage(t, docker, ref); id != img.Config.Digest {
		t.Errorf("docker loaded %s, want %s", id, img.Config.Digest)
	}
}

// TestLoadAndCreateRefuseHostileArchives: through the CLI, a hostile
// archive or image exits 7 with one line, and leaves the store unchanged.
func TestLoadAndCreateRefuseHostileArchives(t *testing.T) {
	ha := newCLI(t)
	dir := t.TempDir()
	outside := t.TempDir()
	evil := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{
		{Name: "ok", Data: []byte("fine")},
		{Name: "esc", Type: tar.TypeSymlink, Link: outside},
		{Name: "esc/planted", Data: []byte("x")},
	}}})
	hatest.WriteLayout(t, filepath.Join(dir, "evil"), map[string]*hatest.Image{"example.com/evil:1": evil})
	ha.run(t, "load", "-i", filepath.Join(dir, "evil"))
	before := ha.snapshot(t)
	line := ha.fail(t, exitCorrupt, "container", "create", "bad", "--image", "example.com/evil:1")
	if !strings.Contains(line, "outside the root") {
		t.Errorf("error: %s", line)
	}
	if after := ha.snapshot(t); after != before {
		t.Errorf("store changed:\n%s\n---\n%s", before, after)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside: %v", entries)
	}

	bad := filepath.Join(dir, "dotdot.tar")
	f, err := os.Create(bad)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../../escape", Size: 1, Mode: 0o644})
	_, _ = tw.Write([]byte("x"))
	tw.Close()
	f.Close()
	if line := ha.fail(t, exitCorrupt, "load", "-i", bad); !strings.Contains(line, "leaves the root") {
		t.Errorf("error: %s", line)
	}
	if after := ha.snapshot(t); after != before {
		t.Errorf("store changed by a refused load:\n%s\n---\n%s", before, after)
	}
	ha.fail(t, exitNotFound, "load", "-i", filepath.Join(dir, "missing.tar"))
	ha.fail(t, exitUsage, "commit", "nothing", "--name", "x")
}
