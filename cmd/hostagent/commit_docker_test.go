package main

import (
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
)

// dockerImage is what docker knows of an image: its ID (the config's
// digest) and its layers' diff IDs.
func dockerImage(t *testing.T, docker testutil.Cmd, ref string) (digest.Digest, []digest.Digest) {
	t.Helper()
	out := docker.Run(t, "image", "inspect", "--format", "{{json .}}", ref)
	var info struct {
		ID     string `json:"Id"`
		RootFS struct{ Layers []digest.Digest }
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return digest.Digest(info.ID), info.RootFS.Layers
}

// changeRootfs makes the changes a commit must carry: a file added and
// one changed, a directory deleted and one replaced, a mode, a symlink, a
// hardlink.
func changeRootfs(t *testing.T, root, hello string) {
	t.Helper()
	p := func(s string) string { return filepath.Join(root, s) }
	for _, err := range []error{
		os.MkdirAll(p("srv"), 0o755),
		os.WriteFile(p("srv/hello.txt"), []byte(hello), 0o644),
		os.WriteFile(p("etc/motd"), []byte("changed by hostagent\n"), 0o644),
		os.RemoveAll(p("usr/share/doc")),
		os.RemoveAll(p("var/log")),
		os.Mkdir(p("var/log"), 0o750),
		os.WriteFile(p("var/log/fresh.log"), []byte("new\n"), 0o640),
		os.Chmod(p("etc/hostname"), 0o600),
		os.Symlink("/srv/hello.txt", p("usr/local/bin/hello")),
		os.Link(p("srv/hello.txt"), p("srv/hello-again.txt")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitDockerDebian: a Debian base docker imported and saved loads
// with docker's digests; a container of it, changed and committed, is
// saved in one archive that skopeo (both halves) and docker load read,
// and that umoci unpacks to the container's tree; docker runs it, and
// docker's own save of it loads back with the same digests.
func TestCommitDockerDebian(t *testing.T) {
	dockerBin := testutil.RequireDocker(t)
	skopeo := testutil.Cmd{Path: testutil.RequireTool(t, "skopeo")}
	umoci := testutil.Cmd{Path: testutil.RequireTool(t, "umoci")}
	rootfs := debianRootfs(t)
	docker := testutil.Cmd{Path: dockerBin}
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	// Names unique to this run: the daemon is shared.
	base := fmt.Sprintf("berth-test-%d/debian:12", os.Getpid())
	appName := fmt.Sprintf("localhost:5000/berth-test-%d/hello", os.Getpid())
	app := appName + ":1.0"
	t.Cleanup(func() { docker.Exec(t, "rmi", "-f", app, base) })

	docker.Run(t, "import", rootfs, base)
	docker.Run(t, "save", "-o", at("docker-save.tar"), base)
	id, layers := dockerImage(t, docker, base)
	ha := newCLI(t)
	res := ha.loadJSON(t, "load", "-i", at("docker-save.tar"))
	if got := res.Images[0]; got.Config != id || !slices.Equal(got.Layers, layers) || got.Names[0] != "docker.io/"+base {
		t.Fatalf("docker save loaded as %+v; docker has %s %v", got, id, layers)
	}

	ha.run(t, "container", "create", "web", "--image", base)
	if out := ha.run(t, "commit", "web", "--name", appName, "--version", "1.0", "--publisher", "Example Corp"); !strings.Contains(out, "unchanged") {
		t.Errorf("commit of an unchanged container: %s", out)
	}
	root := filepath.Join(ha.store, "containers", "web", "rootfs")
	hello := fmt.Sprintf("hello from hostagent %d\n", os.Getpid())
	changeRootfs(t, root, hello)
	var cr hostagent.CommitResult
	out := ha.run(t, "commit", "web", "--name", appName, "--version", "1.0", "--publisher", "Example Corp",
		"-m", "add hello", "--timestamp", "2026-11-29T00:00:00Z", "--format", "json")
	if err := json.Unmarshal([]byte(out), &cr); err != nil || cr.Unchanged {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	var d hostagent.Details
	if err := json.Unmarshal([]byte(ha.run(t, "inspect", app, "--format", "json")), &d); err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if d.Base == nil || d.Base.Name != "docker.io/"+base || d.Publisher != "Example Corp" || d.OSImage {
		t.Errorf("inspect of the commit: base %+v, publisher %q", d.Base, d.Publisher)
	}
	if table := ha.run(t, "list"); !containsLine(table, "docker.io/"+base) {
		t.Errorf("list does not show the base:\n%s", table)
	}
	ha.run(t, "save", app, base, "-o", at("out.tar"))

	// skopeo, OCI half: the digest kept; umoci unpacks the same tree.
	skopeo.Run(t, "--insecure-policy", "copy", "--preserve-digests", "oci-archive:"+at("out.tar")+":1.0", "oci:"+at("layout")+":hello")
	var info struct{ Digest digest.Digest }
	if err := json.Unmarshal(skopeo.Run(t, "inspect", "oci:"+at("layout")+":hello"), &info); err != nil {
		t.Fatal(err)
	}
	if info.Digest != cr.Digest {
		t.Errorf("skopeo copied %s, want %s", info.Digest, cr.Digest)
	}
	umoci.Run(t, "unpack", "--image", at("layout")+":hello", at("bundle"))
	if diff := hatest.DiffTrees(hatest.Tree(t, root), hatest.Tree(t, at("bundle/rootfs"))); diff != "" {
		t.Errorf("umoci unpacks another tree than the container's:\n%s", diff)
	}
	// skopeo, docker half: the config kept (copying it to oci: would
	// rewrite the config as OCI, so the digest is read from the source).
	skopeo.Run(t, "--insecure-policy", "copy", "docker-archive:"+at("out.tar")+":"+app, "oci:"+at("layout")+":docker-half")
	var raw v1.Manifest
	if err := json.Unmarshal(skopeo.Run(t, "inspect", "--raw", "docker-archive:"+at("out.tar")+":"+app), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Config.Digest != m.Config.Digest {
		t.Errorf("skopeo read config %s from the docker half, want %s", raw.Config.Digest, m.Config.Digest)
	}

	// docker load: the image ID is the config's digest, and it runs.
	docker.Exec(t, "rmi", "-f", base)
	docker.Run(t, "load", "-i", at("out.tar"))
	appID, appLayers := dockerImage(t, docker, app)
	if appID != m.Config.Digest {
		t.Errorf("docker loaded %s, want %s", appID, m.Config.Digest)
	}
	if got := string(docker.Run(t, "run", "--rm", "--network", "none", app, "cat", "/srv/hello.txt")); got != hello {
		t.Errorf("docker run printed %q", got)
	}
	if out := docker.Run(t, "run", "--rm", "--network", "none", app, "sh", "-c", "ls /var/log; ls /usr/share/doc 2>&1 || true"); !strings.HasPrefix(string(out), "fresh.log\n") || !strings.Contains(string(out), "No such file") {
		t.Errorf("whiteouts in docker's view:\n%s", out)
	}
	// And docker's own save of it loads back with docker's digests.
	docker.Run(t, "save", "-o", at("docker-save-app.tar"), app)
	back := newCLI(t).loadJSON(t, "load", "-i", at("docker-save-app.tar"))
	if got := back.Images[0]; got.Config != appID || !slices.Equal(got.Layers, appLayers) {
		t.Errorf("docker save of the commit loaded as %+v; docker has %s %v", got, appID, appLayers)
	}
	if appLayers[1] != cr.DiffID {
		t.Errorf("docker's diff ID of the committed layer %s, hostagent's %s", appLayers[1], cr.DiffID)
	}
}
