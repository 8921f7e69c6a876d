package conformance_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestDocker pushes a multi-layer image built locally (no internet: a base
// imported from a tar of Debian's static busybox, then COPY steps with the
// legacy builder) with the Docker daemon, removes it, pulls it back and
// checks that image ID, layers and content survived, and that it runs.
func TestDocker(t *testing.T) {
	t.Parallel()
	dockerBin := testutil.RequireDocker(t)
	busybox := testutil.RequireTool(t, "busybox")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		srv := startRegistry(t, drv)
		docker := testutil.Cmd{
			Path: dockerBin,
			Env:  append(clientEnv(t), "DOCKER_BUILDKIT=0"),
			Dir:  t.TempDir(),
		}
		// Names unique to this run: the daemon is shared with everyone.
		port := srv.Host[strings.LastIndexByte(srv.Host, ':')+1:]
		base := fmt.Sprintf("berth-e2e-base:%s-%s", drv.Name(), port)
		local := fmt.Sprintf("berth-e2e-built:%s-%s", drv.Name(), port)
		ref := srv.Host + "/docker/e2e:v1"
		t.Cleanup(func() {
			// The image may be gone already; only what is left matters.
			docker.Exec(t, "rmi", "-f", ref, local, base)
		})

		rootfs := filepath.Join(docker.Dir, "rootfs.tar")
		writeFile(t, rootfs, busyboxRootfs(t, busybox))
		docker.Run(t, "import", rootfs, base)

		content := map[string][]byte{
			"a.txt":       []byte("layer a of the berth docker test\n"),
			"random.bin":  randomBytes("docker-"+drv.Name(), 2<<20+3),
			"dir/one.txt": []byte("one\n"),
			"dir/two.txt": []byte("two\n"),
		}
		ctx := filepath.Join(docker.Dir, "context")
		writeFiles(t, ctx, content)
		writeFile(t, filepath.Join(ctx, "Dockerfile"), []byte("FROM "+base+"\n"+
			"COPY a.txt /data/a.txt\n"+
			"COPY random.bin /data/random.bin\n"+
			"COPY dir/ /data/dir/\n"+
			"ENV BERTH_E2E=1\n"+
			`CMD ["/bin/cat", "/data/a.txt"]`+"\n"))
		docker.Run(t, "build", "-q", "-t", local, ctx)
		docker.Run(t, "tag", local, ref)
		before := savedImage(t, docker, ref)
		if len(before.diffIDs) != 4 {
			t.Fatalf("built image has %d layers, want 4 (base + 3 COPY)", len(before.diffIDs))
		}

		pushOut := docker.Run(t, "push", ref)
		m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindSubmatch(pushOut)
		if m == nil {
			t.Fatalf("no digest in docker push output:\n%s", pushOut)
		}
		pushed := digest.Digest(m[1])
		if got := manifestDigest(t, srv.URL+"/v2/docker/e2e/manifests/v1"); got != pushed {
			t.Fatalf("registry serves v1 as %s, docker pushed %s", got, pushed)
		}

		// Remove every local trace, base included, so the pull fetches all
		// layers from the registry.
		docker.Run(t, "rmi", ref, local, base)
		if out := docker.Run(t, "images", "-q", ref); len(bytes.TrimSpace(out)) != 0 {
			t.Fatalf("image still present after rmi: %s", out)
		}
		docker.Run(t, "pull", ref)
		after := savedImage(t, docker, ref)

		if after.id != before.id || !bytes.Equal(after.config, before.config) {
			t.Fatalf("image ID changed over push/pull: %s before, %s after", before.id, after.id)
		}
		if !slices.Equal(after.diffIDs, before.diffIDs) || !slices.Equal(after.layers, before.layers) {
			t.Fatalf("layers changed over push/pull:\nbefore %v\nafter  %v", before.layers, after.layers)
		}
		var repoDigests []string
		if err := json.Unmarshal(docker.Run(t, "inspect", "--format", "{{json .RepoDigests}}", ref), &repoDigests); err != nil {
			t.Fatal(err)
		}
		requireContains(t, "RepoDigests after pull", repoDigests, []string{srv.Host + "/docker/e2e@" + pushed.String()})

		if out := docker.Run(t, "run", "--rm", "--network", "none", ref); !bytes.Equal(out, content["a.txt"]) {
			t.Fatalf("pulled image ran and printed %q, want %q", out, content["a.txt"])
		}
		out := docker.Run(t, "run", "--rm", "--network", "none", ref, "sha256sum", "/data/random.bin")
		if want := digest.FromBytes(content["random.bin"]).Encoded(); !strings.HasPrefix(string(out), want) {
			t.Fatalf("random.bin in the pulled image: %s, want sha256 %s", out, want)
		}
	})
}

// busyboxRootfs is a tar of a minimal root filesystem: the static busybox
// and the applet links the test runs.
func busyboxRootfs(t *testing.T, busybox string) []byte {
	t.Helper()
	bin, err := os.ReadFile(busybox)
	must(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []string{"bin/", "data/", "etc/", "tmp/"} {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime}))
	}
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime}))
	_, err = tw.Write(bin)
	must(t, err)
	for _, applet := range []string{"sh", "cat", "ls", "sha256sum"} {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", ModTime: mtime}))
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// dockerSave is what `docker save` says of one image.
type dockerSave struct {
	id      digest.Digest   // digest of the config: the image ID
	config  []byte          // the config as saved
	diffIDs []digest.Digest // rootfs.diff_ids of the config
	layers  []digest.Digest // digests of the saved layer tars, in order
}

// savedImage runs `docker save` of ref and reads back its config and layers,
// checking that each layer tar hashes to its diff ID.
func savedImage(t *testing.T, docker testutil.Cmd, ref string) dockerSave {
	t.Helper()
	path := filepath.Join(t.TempDir(), "save.tar")
	docker.Run(t, "save", "-o", path, ref)
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	files := map[string]digest.Digest{} // layer tars: path → digest
	var manifestJSON []byte
	configs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		switch {
		case h.Name == "manifest.json":
			manifestJSON, err = io.ReadAll(tr)
		case strings.HasSuffix(h.Name, ".json") && !strings.Contains(h.Name, "/"):
			configs[h.Name], err = io.ReadAll(tr)
		case strings.HasSuffix(h.Name, ".tar") || strings.HasPrefix(h.Name, "blobs/"):
			files[h.Name], err = digest.SHA256.FromReader(tr)
		}
		must(t, err)
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(manifestJSON, &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("docker save of %s: manifest.json %s: %v", ref, manifestJSON, err)
	}
	var s dockerSave
	s.config = configs[manifest[0].Config]
	if s.config == nil {
		// Newer daemons save an OCI layout, with the config under blobs/.
		b, err := readTarFile(path, manifest[0].Config)
		must(t, err)
		s.config = b
	}
	s.id = digest.FromBytes(s.config)
	var cfg struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	must(t, json.Unmarshal(s.config, &cfg))
	s.diffIDs = cfg.RootFS.DiffIDs
	for _, l := range manifest[0].Layers {
		s.layers = append(s.layers, files[l])
	}
	if !slices.Equal(s.layers, s.diffIDs) {
		t.Fatalf("docker save of %s: layer tars %v do not hash to the diff IDs %v", ref, s.layers, s.diffIDs)
	}
	return s
}

func readTarFile(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", name, path, err)
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

// manifestDigest asks the registry directly which digest url resolves to.
func manifestDigest(t *testing.T, url string) digest.Digest {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, url, nil)
	must(t, err)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", url, resp.Status)
	}
	return digest.Digest(resp.Header.Get("Docker-Content-Digest"))
}
