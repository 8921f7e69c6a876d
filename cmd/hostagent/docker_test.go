package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// debianRootfs is the tarball hack/debian-rootfs.sh caches (through
// hack/tools.sh): a debootstrap --variant=minbase bookworm.
func debianRootfs(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BERTH_DEBIAN_ROOTFS")
	if p == "" {
		cache := os.Getenv("BERTH_CI_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "berth-ci")
		}
		p = filepath.Join(cache, "rootfs", "debian-bookworm-minbase.tar")
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		testutil.SkipOrFail(t, "no Debian rootfs tarball at %s (hack/debian-rootfs.sh makes it)", p)
	}
	return p
}

// TestCLIDocker: a Debian base made by debootstrap, imported and pushed by
// docker, is installed and listed as an OS image, read by skopeo from the
// store; an application docker builds on it is listed with its publisher and
// keeps the base from being removed; hostagent pushes both to another
// registry, and docker pulls and runs them.
func TestCLIDocker(t *testing.T) {
	dockerBin := testutil.RequireDocker(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	rootfs := debianRootfs(t)
	src := registrytest.Start(t, inmemory.New())
	dst := registrytest.Start(t, inmemory.New())
	home := t.TempDir()
	docker := testutil.Cmd{
		Path: dockerBin,
		Env:  []string{"HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker")},
		Dir:  home,
	}
	// Names unique to this run: the daemon is shared.
	port := src.Host[strings.LastIndexByte(src.Host, ':')+1:]
	debian := src.Host + "/os/debian:bookworm"
	debianCopy := dst.Host + "/mirror/debian:bookworm"
	appSrc := src.Host + "/team/hello:1.4.2"
	appRef := dst.Host + "/team/hello:1.4.2"
	t.Cleanup(func() { docker.Exec(t, "rmi", "-f", appSrc, appRef, debianCopy, debian) })

	docker.Run(t, "import",
		"--change", "LABEL org.opencontainers.image.vendor=Debian",
		"--change", "LABEL org.opencontainers.image.version=12",
		"--change", `CMD ["/bin/cat", "/etc/debian_version"]`,
		rootfs, debian)
	pushOut := string(docker.Run(t, "push", debian))

	ha := newCLI(t)
	ha.run(t, "install", debian)
	imgs := ha.list(t)
	if len(imgs) != 1 {
		t.Fatalf("list: %+v", imgs)
	}
	img := imgs[0]
	if !img.OSImage || img.Publisher != "Debian" || img.Version != "12" || img.Name != src.Host+"/os/debian" || img.Tag != "bookworm" {
		t.Errorf("the debootstrap image is listed as %+v", img)
	}
	table := ha.run(t, "list")
	if !containsLine(table, "Debian") || !strings.Contains(table, "yes") {
		t.Errorf("list table:\n%s", table)
	}
	var info struct {
		Digest       string
		Architecture string
		Labels       map[string]string
	}
	out := testutil.Cmd{Path: skopeo}.Run(t, "inspect", "oci:"+ha.store+":bookworm")
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.Digest != img.Digest.String() || info.Labels["org.opencontainers.image.vendor"] != "Debian" {
		t.Errorf("skopeo inspect of the store: %+v, want digest %s", info, img.Digest)
	}
	ha.run(t, "verify")

	// An application built on it by docker, naming it as its base: listed
	// with its publisher and version, not as an OS image, and the base
	// cannot be removed while it is installed.
	m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(pushOut)
	if m == nil {
		t.Fatalf("no digest in docker push output:\n%s", pushOut)
	}
	build := filepath.Join(home, "build")
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	hello := "hello from hostagent " + port + "\n"
	if err := os.WriteFile(filepath.Join(build, "hello.txt"), []byte(hello), 0o644); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM " + debian + "\nCOPY hello.txt /srv/hello.txt\n" + `CMD ["/bin/cat", "/srv/hello.txt"]` + "\n"
	if err := os.WriteFile(filepath.Join(build, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	builder := docker
	builder.Env = append(slices.Clone(docker.Env), "DOCKER_BUILDKIT=0")
	builder.Run(t, "build", "-q", "-t", appSrc,
		"--label", "org.opencontainers.image.vendor=Example Corp",
		"--label", "org.opencontainers.image.version=1.4.2",
		"--label", "org.opencontainers.image.base.digest="+m[1],
		"--label", "org.opencontainers.image.base.name="+debian,
		build)
	docker.Run(t, "push", appSrc)
	ha.run(t, "install", appSrc)
	for _, i := range ha.list(t) {
		if i.Tag == "1.4.2" && (i.OSImage || i.Publisher != "Example Corp" || i.Version != "1.4.2") {
			t.Errorf("the docker-built application is listed as %+v", i)
		}
	}
	if line := ha.fail(t, exitInUse, "remove", debian); !strings.Contains(line, appSrc) {
		t.Errorf("remove of the base: %s", line)
	}

	// hostagent pushes both (stored as OCI) to another registry; docker
	// pulls and runs them.
	ha.run(t, "push", debian, debianCopy)
	ha.run(t, "push", appSrc, appRef)
	docker.Run(t, "rmi", appSrc)
	docker.Run(t, "pull", debianCopy)
	if got := strings.TrimSpace(string(docker.Run(t, "run", "--rm", "--network", "none", debianCopy))); !strings.HasPrefix(got, "12.") {
		t.Errorf("debian_version in the image docker pulled: %q", got)
	}
	docker.Run(t, "pull", appRef)
	if got := string(docker.Run(t, "run", "--rm", "--network", "none", appRef)); got != hello {
		t.Errorf("the application docker pulled printed %q, want %q", got, hello)
	}
	t.Logf("debian image: %d bytes in the store", img.Size)
}
