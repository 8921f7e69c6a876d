package conformance_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/storagedriver"
)

// immutableRegistry serves a registry with deletes on and tags v* of
// every repository immutable.
func immutableRegistry(t *testing.T, drv storagedriver.Driver) *registrytest.Server {
	t.Helper()
	set, err := config.ParsePolicies([]byte("immutable:\n  - repositories: ['**']\n    tags: ['v*']\n"))
	if err != nil {
		t.Fatal(err)
	}
	return registrytest.Start(t, drv, registry.WithDelete(true), registry.WithPolicies(watchfile.Static[*policy.Set](set)))
}

// requireRefused runs c with args, which must fail with the registry's
// message for tag of repo in the client's standard error.
func requireRefused(t *testing.T, c testutil.Cmd, repo, tag string, args ...string) {
	t.Helper()
	r := c.Exec(t, args...)
	want := fmt.Sprintf("tag %s of %s is immutable (policies.immutable[0]: tags v*)", tag, repo)
	if r.Err == nil || !strings.Contains(string(r.Stderr), want) {
		t.Fatalf("%s %s: err %v; stderr lacks %q:\n%s", filepath.Base(c.Path), strings.Join(args, " "), r.Err, want, r.Stderr)
	}
	t.Logf("%s shows: %s", filepath.Base(c.Path), lastLine(r.Stderr))
}

func lastLine(b []byte) string {
	l := lines(b)
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// TestImmutableCrane: crane push, tag and delete of an immutable tag.
func TestImmutableCrane(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "crane")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		crane := client(t, bin)
		srv := immutableRegistry(t, drv)
		one, two := newTestImage(t, "imm-crane-1"), newTestImage(t, "imm-crane-2")
		a, b := filepath.Join(crane.Dir, "one"), filepath.Join(crane.Dir, "two")
		one.writeLayout(t, a, "v1")
		two.writeLayout(t, b, "v1")
		ref := srv.Host + "/crane/imm"
		crane.Run(t, "push", "--insecure", a, ref+":v1")
		crane.Run(t, "push", "--insecure", a, ref+":v1") // the same digest again
		crane.Run(t, "push", "--insecure", b, ref+":latest")
		requireRefused(t, crane, "crane/imm", "v1", "push", "--insecure", b, ref+":v1")
		requireRefused(t, crane, "crane/imm", "v1", "tag", "--insecure", ref+":latest", "v1")
		requireRefused(t, crane, "crane/imm", "v1", "delete", "--insecure", ref+":v1")
		requireRefused(t, crane, "crane/imm", "v1", "delete", "--insecure", ref+"@"+one.digest.String())
		crane.Run(t, "tag", "--insecure", ref+":v1", "latest") // mutable tags move
		if got := strings.TrimSpace(string(crane.Run(t, "digest", "--insecure", ref+":v1"))); got != one.digest.String() {
			t.Fatalf("v1 is %s after the refusals, want %s", got, one.digest)
		}
	})
}

// TestImmutableOras: oras tag, manifest push and manifest delete.
func TestImmutableOras(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "oras")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		oras := client(t, bin)
		srv := immutableRegistry(t, drv)
		repo := srv.Host + "/oras/imm"
		writeFiles(t, oras.Dir, map[string][]byte{"a.txt": []byte("one\n"), "b.txt": []byte("two\n")})
		oras.Run(t, "push", "--plain-http", "--no-tty", "--export-manifest", "one.json", repo+":one", "a.txt")
		oras.Run(t, "push", "--plain-http", "--no-tty", repo+":two", "b.txt")
		oras.Run(t, "tag", "--plain-http", repo+":one", "v1")
		oras.Run(t, "tag", "--plain-http", repo+":one", "v1")                   // the same digest again
		oras.Run(t, "manifest", "push", "--plain-http", repo+":v1", "one.json") // and its bytes
		requireRefused(t, oras, "oras/imm", "v1", "tag", "--plain-http", repo+":two", "v1")
		requireRefused(t, oras, "oras/imm", "v1", "manifest", "delete", "--plain-http", "--force", repo+":v1")
		if got, want := lines(oras.Run(t, "resolve", "--plain-http", repo+":v1")), lines(oras.Run(t, "resolve", "--plain-http", repo+":one")); got[0] != want[0] {
			t.Fatalf("v1 is %s after the refusals, want %s", got, want)
		}
	})
}

// TestImmutableDocker: docker push of another image to an immutable tag.
func TestImmutableDocker(t *testing.T) {
	t.Parallel()
	dockerBin := testutil.RequireDocker(t)
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		if drv.Name() == "inmemory" {
			t.Skip("the rule is the registry's, not the driver's: filesystem and s3 are enough for docker")
		}
		srv := immutableRegistry(t, drv)
		docker := testutil.Cmd{Path: dockerBin, Env: clientEnv(t), Dir: t.TempDir()}
		port := srv.Host[strings.LastIndexByte(srv.Host, ':')+1:]
		ref := srv.Host + "/docker/imm:v1"
		var locals []string
		for i := range 2 {
			local := fmt.Sprintf("berth-e2e-imm%d:%s-%s", i, drv.Name(), port)
			locals = append(locals, local)
			tarPath := filepath.Join(docker.Dir, fmt.Sprint(i, ".tar"))
			writeFile(t, tarPath, oneFileTar(t, "file.txt", fmt.Sprintf("image %d of the immutable-tag test\n", i)))
			docker.Run(t, "import", tarPath, local)
		}
		t.Cleanup(func() { docker.Exec(t, append([]string{"rmi", "-f", ref}, locals...)...) })
		docker.Run(t, "tag", locals[0], ref)
		docker.Run(t, "push", ref)
		docker.Run(t, "push", ref) // the same digest again
		docker.Run(t, "tag", locals[1], ref)
		requireRefused(t, docker, "docker/imm", "v1", "push", ref)
	})
}

// oneFileTar is a tar holding one regular file.
func oneFileTar(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))}))
	_, err := tw.Write([]byte(content))
	must(t, err)
	must(t, tw.Close())
	return buf.Bytes()
}
