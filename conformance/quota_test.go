package conformance_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// quotaPolicies: dq/ for docker, oq/ for oras, which fits a 1 MiB file and
// oras's 2-byte empty config but not the manifest on top.
const quotaPolicies = `version: 0.1
storage:
  filesystem:
    rootdirectory: ROOT
policies:
  quotas:
    - namespace: dq/
      maxbytes: 3MiB
      maxrepositories: 2
      maxtagsperrepository: 2
    - namespace: oq
      maxbytes: 1048676
      refresh: 1s
`

// TestQuotaClients pushes with docker and oras into namespaces with
// quotas: each refused push shows the quota, usage and limit in the
// client's error output; after garbage collection nothing of the refused
// pushes remains; the usage endpoint and "registry usage --json" agree
// with a walk of the storage.
func TestQuotaClients(t *testing.T) {
	t.Parallel()
	dockerBin := testutil.RequireDocker(t)
	orasBin := testutil.RequireTool(t, "oras")
	var bins testutil.Binaries
	t.Cleanup(bins.Cleanup)
	regBin := bins.Build(t, "github.com/berth-registry/berth/cmd/registry")

	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	drv, err := filesystem.New(root)
	must(t, err)
	cfgPath := filepath.Join(dir, "config.yml")
	writeFile(t, cfgPath, []byte(strings.Replace(quotaPolicies, "ROOT", root, 1)))
	cfg, err := config.Load(strings.NewReader(strings.Replace(quotaPolicies, "ROOT", root, 1)), nil)
	must(t, err)
	set, err := cfg.PolicySet()
	must(t, err)
	srv := registrytest.Start(t, drv, registry.WithDelete(true), registry.WithGCGrace(time.Second),
		registry.WithPolicies(watchfile.Static(set)))

	// Docker: a 2 MiB image fits in 3 MiB, a second one does not.
	docker := testutil.Cmd{Path: dockerBin, Env: clientEnv(t), Dir: t.TempDir()}
	port := srv.Host[strings.LastIndexByte(srv.Host, ':')+1:]
	local := []string{"berth-quota-one:" + port, "berth-quota-two:" + port}
	refs := []string{srv.Host + "/dq/app:v1", srv.Host + "/dq/app:v2", srv.Host + "/dq/app:v3", srv.Host + "/dq/web:v1", srv.Host + "/dq/third:v1"}
	t.Cleanup(func() { docker.Exec(t, append([]string{"rmi", "-f"}, append(local, refs...)...)...) })
	for i, name := range local {
		tarPath := filepath.Join(docker.Dir, fmt.Sprintf("image%d.tar", i))
		writeFile(t, tarPath, tarOf(t, "data/random.bin", randomBytes("quota-"+name, 2<<20)))
		docker.Run(t, "import", tarPath, name)
	}
	docker.Run(t, "tag", local[0], refs[0])
	docker.Run(t, "push", refs[0])
	docker.Run(t, "tag", local[1], refs[1])
	refusedPush(t, docker, "over maxbytes", []string{"push", refs[1]},
		"quota exceeded: namespace dq/: 2 MiB used + 2 MiB new = 4 MiB, over 3 MiB (policies.quotas[0].maxbytes)")
	// The same image under a second tag: no new bytes; a third tag is one too many.
	docker.Run(t, "tag", local[0], refs[1])
	docker.Run(t, "push", refs[1])
	docker.Run(t, "tag", local[0], refs[2])
	refusedPush(t, docker, "over maxtagsperrepository", []string{"push", refs[2]},
		"quota exceeded: repository dq/app: 2 tags of 2 (policies.quotas[0].maxtagsperrepository); new tag v3 refused")
	docker.Run(t, "tag", local[0], refs[3])
	docker.Run(t, "push", refs[3])
	docker.Run(t, "tag", local[0], refs[4])
	refusedPush(t, docker, "over maxrepositories", []string{"push", refs[4]},
		"quota exceeded: namespace dq/: 2 repositories of 2 (policies.quotas[0].maxrepositories); a new repository dq/third would be one more")

	// oras: the file and config fit, the manifest does not.
	oras := client(t, orasBin)
	file := randomBytes("quota-oras", 1<<20)
	writeFile(t, filepath.Join(oras.Dir, "file.bin"), file)
	refusedPush(t, oras, "manifest over maxbytes", []string{"push", "--plain-http", "--no-tty", srv.Host + "/oq/files:v1", "file.bin"},
		"quota exceeded: namespace oq/: 1048578 B used + ", "B new = ", "B, over 1048676 B (policies.quotas[1].maxbytes)")
	refused := []digest.Digest{digest.FromBytes(file)}

	// Garbage collection takes what the refused pushes left.
	time.Sleep(2500 * time.Millisecond) // past the 1s grace
	if _, err := storage.New(drv, storage.WithGCGrace(time.Second)).CollectGarbage(t.Context(), storage.GCOptions{Grace: time.Second}); err != nil {
		t.Fatal(err)
	}
	live := []string{}
	for _, d := range imageDigests(t, srv.URL+"/v2/dq/app/manifests/v1") {
		live = append(live, d.String())
	}
	requireSet(t, "blobs after gc", storedBlobs(t, drv), live)
	for _, d := range refused {
		if slices.Contains(storedBlobs(t, drv), d.String()) {
			t.Fatalf("blob %s of the refused push survived gc", d)
		}
	}

	// The figures, three ways.
	for _, ns := range []string{"dq/", "oq/"} {
		w := registrytest.WalkUsage(t, drv, ns)
		endpoint := usageJSON(t, httpGet(t, srv.URL+registry.UsagePath))
		out, err := exec.CommandContext(t.Context(), regBin, "usage", cfgPath, "--json").Output()
		must(t, err)
		cli := usageJSON(t, out)
		for what, got := range map[string]registry.NamespaceUsage{"endpoint": endpoint[ns], "registry usage": cli[ns]} {
			if got.Bytes != w.Bytes || got.Blobs != len(w.Blobs) || got.Repositories != len(w.Tags) {
				t.Errorf("%s %s: %+v; the walk finds %d bytes, %d blobs, %d repositories", what, ns, got, w.Bytes, len(w.Blobs), len(w.Tags))
			}
		}
	}
	if u := registrytest.WalkUsage(t, drv, "oq/"); u.Bytes != 0 {
		t.Fatalf("oq/ holds %d bytes after gc", u.Bytes)
	}
	// With the space freed, a push that fits goes through.
	writeFile(t, filepath.Join(oras.Dir, "small.txt"), []byte("small\n"))
	oras.Run(t, "push", "--plain-http", "--no-tty", srv.Host+"/oq/files:v1", "small.txt")
}

// refusedPush runs a push that must fail with each of want in its error
// output.
func refusedPush(t *testing.T, c testutil.Cmd, what string, args []string, want ...string) {
	t.Helper()
	res := c.Exec(t, args...)
	if res.Err == nil {
		t.Fatalf("%s: the push succeeded:\n%s", what, res.Output())
	}
	for _, w := range want {
		if !strings.Contains(string(res.Stderr), w) {
			t.Fatalf("%s: stderr lacks %q:\n%s", what, w, res.Stderr)
		}
	}
	t.Logf("%s: %s", what, bytes.TrimSpace(res.Stderr))
}

// tarOf is a tar holding one file.
func tarOf(t *testing.T, name string, content []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}))
	_, err := tw.Write(content)
	must(t, err)
	must(t, tw.Close())
	return buf.Bytes()
}

// imageDigests is an image manifest's digest, its config's and its layers'.
func imageDigests(t *testing.T, url string) []digest.Digest {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	must(t, err)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	var m struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	must(t, json.Unmarshal(b, &m))
	out := []digest.Digest{digest.FromBytes(b), m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// storedBlobs lists the digests of every blob in drv's storage.
func storedBlobs(t *testing.T, drv storagedriver.Driver) []string {
	t.Helper()
	var out []string
	ctx := context.Background()
	prefixes, err := drv.List(ctx, "/docker/registry/v2/blobs/sha256")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		dirs, err := drv.List(ctx, p)
		must(t, err)
		for _, d := range dirs {
			if _, err := drv.Stat(ctx, d+"/data"); err == nil {
				out = append(out, "sha256:"+filepath.Base(d))
			}
		}
	}
	return out
}

// httpGet GETs url and returns the body of its 200 answer.
func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// usageJSON parses a usage report by namespace.
func usageJSON(t *testing.T, b []byte) map[string]registry.NamespaceUsage {
	t.Helper()
	var r struct{ Namespaces []registry.NamespaceUsage }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("usage report %s: %v", b, err)
	}
	out := map[string]registry.NamespaceUsage{}
	for _, n := range r.Namespaces {
		out[n.Namespace] = n
	}
	return out
}
