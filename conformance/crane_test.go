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

// TestCrane pushes an OCI layout with crane, reads it back every way crane
// can (digest, manifest, config, blobs, pull), copies and tags it, lists
// tags and the catalog, and deletes a tag and a manifest.
func TestCrane(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "crane")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		crane := client(t, bin)
		srv := startRegistry(t, drv)
		img := newTestImage(t, "crane-"+drv.Name())
		layout := filepath.Join(crane.Dir, "layout")
		img.writeLayout(t, layout, "v1")
		a, b := srv.Host+"/crane/a", srv.Host+"/crane/b"
		run := func(args ...string) []byte {
			t.Helper()
			return crane.Run(t, append(args, "--insecure")...)
		}
		digestOf := func(ref string) string {
			t.Helper()
			return strings.TrimSpace(string(run("digest", ref)))
		}

		out := run("push", layout, a+":v1")
		if want := a + "@" + img.digest.String(); strings.TrimSpace(string(out)) != want {
			t.Fatalf("crane push printed %q, want %q", out, want)
		}
		if got := digestOf(a + ":v1"); got != img.digest.String() {
			t.Fatalf("crane digest: %s, want %s", got, img.digest)
		}
		if got := run("manifest", a+":v1"); !bytes.Equal(got, img.manifest) {
			t.Fatalf("crane manifest:\n got %s\nwant %s", got, img.manifest)
		}
		for d, want := range img.blobs {
			if got := run("blob", a+"@"+d.String()); !bytes.Equal(got, want) {
				t.Fatalf("crane blob %s: %d bytes differing from the %d pushed", d, len(got), len(want))
			}
		}
		pulled := filepath.Join(crane.Dir, "pulled")
		run("pull", "--format", "oci", a+":v1", pulled)
		img.requireLayoutEqual(t, pulled, "")

		run("copy", a+":v1", b+":v1")
		if got := digestOf(b + ":v1"); got != img.digest.String() {
			t.Fatalf("digest after crane copy: %s, want %s", got, img.digest)
		}
		run("tag", a+":v1", "v2")
		run("tag", a+":v1", "v3")
		requireSet(t, "crane ls", lines(run("ls", a)), []string{"v1", "v2", "v3"})
		requireSet(t, "crane catalog", lines(run("catalog", srv.Host)), []string{"crane/a", "crane/b"})

		// Deleting a tag leaves the manifest and its other tags.
		run("delete", a+":v3")
		requireSet(t, "crane ls after deleting v3", lines(run("ls", a)), []string{"v1", "v2"})
		if got := digestOf(a + ":v2"); got != img.digest.String() {
			t.Fatalf("digest of v2 after deleting v3: %s", got)
		}
		// Deleting the manifest in b takes its tag; a keeps the shared blobs.
		run("delete", b+"@"+img.digest.String())
		if r := crane.Exec(t, "manifest", "--insecure", b+"@"+img.digest.String()); r.Err == nil {
			t.Fatalf("manifest still served after crane delete:\n%s", r.Stdout)
		}
		if r := crane.Exec(t, "digest", "--insecure", b+":v1"); r.Err == nil {
			t.Fatalf("tag v1 of b still resolves after its manifest was deleted: %s", r.Stdout)
		}
		if r := crane.Exec(t, "ls", "--insecure", b); r.Err == nil && strings.Contains(string(r.Stdout), "v1") {
			t.Fatalf("crane ls b after delete still lists v1: %s", r.Stdout)
		}
		again := filepath.Join(crane.Dir, "again")
		run("pull", "--format", "oci", a+":v1", again)
		img.requireLayoutEqual(t, again, "")
	})
}
