package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// containersTool runs podman or buildah as root on a storage of the
// test's own (vfs: no overlay mounts needed), never the machine's.
func containersTool(t *testing.T, name, storage string) func(args ...string) string {
	t.Helper()
	cmd := testutil.Cmd{Path: testutil.RequireTool(t, name), Env: []string{"TMPDIR=" + storage, "HOME=" + storage}}
	flags := []string{"--root", filepath.Join(storage, "root"), "--runroot", filepath.Join(storage, "run"), "--storage-driver", "vfs"}
	return func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(string(cmd.Run(t, append(append([]string{}, flags...), args...)...)))
	}
}

// TestPodmanBuildah: podman loads what hostagent saves, digest kept;
// buildah changes it and commits; podman saves that as oci-archive,
// docker-archive and oci-dir, and hostagent loads each with podman's
// digests and unpacks the tree buildah recorded.
func TestPodmanBuildah(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.SkipOrFail(t, "podman and buildah run here as root on a vfs storage")
	}
	storage := t.TempDir()
	podman := containersTool(t, "podman", storage)
	buildah := containersTool(t, "buildah", storage)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }

	ha := newCLI(t)
	base := richImage(t, "podman")
	other := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "other", Data: []byte("x")}}}})
	hatest.WriteLayout(t, at("layout"), map[string]*hatest.Image{"localhost/berth/base:1": base, "localhost/berth/other:2": other})
	ha.run(t, "install", "--from-file", at("layout"))
	// One image: podman reads the OCI half and keeps the digest.
	for _, f := range []string{"base.tar.zst", "base.tar.gz"} {
		ha.run(t, "save", "localhost/berth/base:1", "-o", at(f))
		podman("load", "-i", at(f))
		if d := podman("image", "inspect", "--format", "{{.Digest}}", "localhost/berth/base:1"); d != base.Digest.String() {
			t.Errorf("podman loaded %s from %s, want %s", d, f, base.Digest)
		}
	}
	// Several: podman reads the docker half, and keeps the image IDs.
	ha.run(t, "save", "localhost/berth/base:1", "localhost/berth/other:2", "-o", at("two.tar"))
	out := podman("load", "-i", at("two.tar"))
	if id := podman("image", "inspect", "--format", "{{.Id}}", "localhost/berth/other:2"); id != other.Config.Digest.Encoded() {
		t.Errorf("podman load of two images: other is %s, want %s\n%s", id, other.Config.Digest.Encoded(), out)
	}

	ctr := buildah("from", "--pull-never", "localhost/berth/base:1")
	mnt := buildah("mount", ctr)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(mnt, "etc/motd"), []byte("changed by buildah\n"), 0o644))
	must(os.Remove(filepath.Join(mnt, "etc/os-release")))
	must(os.RemoveAll(filepath.Join(mnt, "home/user")))
	must(os.MkdirAll(filepath.Join(mnt, "srv/app"), 0o755))
	must(os.WriteFile(filepath.Join(mnt, "srv/app/run"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Symlink("app/run", filepath.Join(mnt, "srv/run")))
	must(os.Chmod(filepath.Join(mnt, "bin/tool"), 0o755))
	buildah("umount", ctr)
	buildah("commit", "--format", "oci", ctr, "localhost/berth/podman-app:1")
	buildah("rm", ctr)
	podmanID := podman("image", "inspect", "--format", "{{.Id}}", "localhost/berth/podman-app:1")

	// The tree buildah recorded, as a fresh buildah container has it.
	check := buildah("from", "--pull-never", "localhost/berth/podman-app:1")
	want := hatest.Tree(t, buildah("mount", check))
	t.Cleanup(func() { buildah("rm", check) })
	delete(want, ".") // the mount point, not in any layer

	podman("save", "--format", "oci-archive", "-o", at("p-oci.tar"), "localhost/berth/podman-app:1")
	podman("save", "--format", "docker-archive", "-o", at("p-docker.tar"), "localhost/berth/podman-app:1")
	podman("save", "--format", "oci-dir", "-o", at("p-oci-dir"), "localhost/berth/podman-app:1")
	for _, f := range []string{"p-oci.tar", "p-docker.tar", "p-oci-dir"} {
		t.Run(f, func(t *testing.T) {
			h := newCLI(t)
			res := h.loadJSON(t, "load", "-i", at(f))
			got := res.Images[0]
			if len(got.Names) != 1 || got.Names[0] != "localhost/berth/podman-app:1" {
				t.Errorf("names %v", got.Names)
			}
			t.Logf("%s: %s, kept %s", f, res.Format, got.Preserved)
			if got.Config.Encoded() != strings.TrimPrefix(podmanID, "sha256:") {
				t.Errorf("config %s, podman's image ID %s", got.Config, podmanID)
			}
			// podman compresses the layers it saves to an OCI layout,
			// so the manifest there is a new one: compare with that.
			if strings.HasPrefix(f, "p-oci") {
				if want := archiveManifest(t, at(f)); got.Digest != want {
					t.Errorf("manifest %s, the archive's %s", got.Digest, want)
				}
			}
			h.run(t, "container", "create", "c", "--image", "localhost/berth/podman-app:1")
			got2 := hatest.Tree(t, filepath.Join(h.store, "containers", "c", "rootfs"))
			delete(got2, ".")
			if diff := hatest.DiffTrees(want, got2); diff != "" {
				t.Errorf("the container's tree is not buildah's:\n%s", diff)
			}
		})
	}
}

// archiveManifest is the digest index.json names in an OCI archive (a tar
// or a directory) of one image.
func archiveManifest(t *testing.T, path string) digest.Digest {
	t.Helper()
	idx := archiveIndex(t, path)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json of %s names %d manifests, want 1", path, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest
}

// archiveIndex is index.json of an OCI archive, a tar or a directory.
func archiveIndex(t *testing.T, path string) v1.Index {
	t.Helper()
	var raw []byte
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		raw, err = os.ReadFile(filepath.Join(path, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err != nil {
				t.Fatalf("no index.json in %s: %v", path, err)
			}
			if h.Name == "index.json" {
				raw, _ = io.ReadAll(tr)
				break
			}
		}
	}
	var idx v1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatalf("index.json of %s: %v\n%s", path, err, raw)
	}
	return idx
}
