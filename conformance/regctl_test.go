package conformance_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestRegctl copies an OCI layout in and out with regctl and reads the
// image back through its manifest, blob, tag and repository commands.
func TestRegctl(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "regctl")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		regctl := client(t, bin)
		srv := startRegistry(t, drv)
		regctl.Run(t, "registry", "set", "--tls", "disabled", srv.Host)

		img := newTestImage(t, "regctl-"+drv.Name())
		layout := filepath.Join(regctl.Dir, "layout")
		img.writeLayout(t, layout, "v1")
		a, b := srv.Host+"/regctl/a", srv.Host+"/regctl/b"

		regctl.Run(t, "image", "copy", "ocidir://"+layout+":v1", a+":v1")
		if got := strings.TrimSpace(string(regctl.Run(t, "image", "digest", a+":v1"))); got != img.digest.String() {
			t.Fatalf("regctl image digest: %s, want %s", got, img.digest)
		}
		if got := regctl.Run(t, "manifest", "get", "--format", "raw-body", a+":v1"); !bytes.Equal(got, img.manifest) {
			t.Fatalf("regctl manifest get:\n got %s\nwant %s", got, img.manifest)
		}
		for d, want := range img.blobs {
			if got := regctl.Run(t, "blob", "get", a, d.String()); !bytes.Equal(got, want) {
				t.Fatalf("regctl blob get %s: %d bytes differing from the %d pushed", d, len(got), len(want))
			}
		}

		regctl.Run(t, "image", "copy", a+":v1", a+":v2")
		regctl.Run(t, "image", "copy", a+":v1", b+":v1")
		requireSet(t, "regctl tag ls", lines(regctl.Run(t, "tag", "ls", a)), []string{"v1", "v2"})
		requireSet(t, "regctl repo ls", lines(regctl.Run(t, "repo", "ls", srv.Host)), []string{"regctl/a", "regctl/b"})

		out := filepath.Join(regctl.Dir, "out")
		regctl.Run(t, "image", "copy", b+":v1", "ocidir://"+out+":v1")
		img.requireLayoutEqual(t, out, "v1")

		regctl.Run(t, "tag", "rm", a+":v2")
		requireSet(t, "regctl tag ls after tag rm", lines(regctl.Run(t, "tag", "ls", a)), []string{"v1"})
		regctl.Run(t, "manifest", "rm", b+"@"+img.digest.String())
		if r := regctl.Exec(t, "manifest", "head", b+"@"+img.digest.String()); r.Err == nil {
			t.Fatalf("manifest still there after regctl manifest rm: %s", r.Stdout)
		}
	})
}
