package conformance_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestSkopeo copies an OCI layout into the registry and back out with
// skopeo, between two repositories, inspects it and deletes it.
func TestSkopeo(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "skopeo")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		skopeo := client(t, bin)
		srv := startRegistry(t, drv)
		img := newTestImage(t, "skopeo-"+drv.Name())
		layout := filepath.Join(skopeo.Dir, "layout")
		img.writeLayout(t, layout, "v1")
		a, b := "docker://"+srv.Host+"/skopeo/a", "docker://"+srv.Host+"/skopeo/b"
		// --insecure-policy: no /etc/containers/policy.json is needed.
		copyImage := func(args ...string) {
			t.Helper()
			skopeo.Run(t, append([]string{"--insecure-policy", "copy", "--quiet", "--preserve-digests"}, args...)...)
		}

		copyImage("--dest-tls-verify=false", "oci:"+layout+":v1", a+":v1")
		copyImage("--src-tls-verify=false", "--dest-tls-verify=false", a+":v1", a+":v2")
		copyImage("--src-tls-verify=false", "--dest-tls-verify=false", a+":v1", b+":v1")

		var info struct {
			Digest   digest.Digest
			RepoTags []string
			Layers   []digest.Digest
		}
		raw := skopeo.Run(t, "inspect", "--tls-verify=false", a+":v1")
		if err := json.Unmarshal(raw, &info); err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, raw)
		}
		if info.Digest != img.digest || !slices.Equal(info.Layers, img.layerDigests(t)) {
			t.Fatalf("skopeo inspect: digest %s layers %v, want %s %v", info.Digest, info.Layers, img.digest, img.layerDigests(t))
		}
		requireSet(t, "skopeo inspect RepoTags", info.RepoTags, []string{"v1", "v2"})
		if got := skopeo.Run(t, "inspect", "--raw", "--tls-verify=false", b+":v1"); !bytes.Equal(got, img.manifest) {
			t.Fatalf("skopeo inspect --raw:\n got %s\nwant %s", got, img.manifest)
		}

		out := filepath.Join(skopeo.Dir, "out")
		copyImage("--src-tls-verify=false", b+":v1", "oci:"+out+":v1")
		img.requireLayoutEqual(t, out, "v1")

		var tags struct{ Tags []string }
		raw = skopeo.Run(t, "list-tags", "--tls-verify=false", a)
		if err := json.Unmarshal(raw, &tags); err != nil {
			t.Fatalf("skopeo list-tags: %v\n%s", err, raw)
		}
		requireSet(t, "skopeo list-tags", tags.Tags, []string{"v1", "v2"})

		skopeo.Run(t, "delete", "--tls-verify=false", b+":v1")
		if r := skopeo.Exec(t, "inspect", "--raw", "--tls-verify=false", b+"@"+img.digest.String()); r.Err == nil {
			t.Fatalf("manifest still served after skopeo delete:\n%s", r.Stdout)
		}
	})
}
