package conformance_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestOras pushes and pulls files as an artifact with oras, copies an image
// in from an OCI layout, attaches an artifact to it and finds it again
// through the referrers API.
func TestOras(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "oras")
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		oras := client(t, bin)
		srv := startRegistry(t, drv)
		work := oras.Dir
		repo := srv.Host + "/oras/files"

		// Files round trip; oras runs in src/ so the names stay relative.
		files := map[string][]byte{
			"hello.txt":  []byte("hello from the berth e2e tests\n"),
			"random.bin": randomBytes("oras-"+drv.Name(), 3<<20+17),
			"empty.txt":  {},
		}
		writeFiles(t, filepath.Join(work, "src"), files)
		push := oras
		push.Dir = filepath.Join(work, "src")
		pushed := filepath.Join(work, "pushed.json")
		push.Run(t, "push", "--plain-http", "--no-tty",
			"--artifact-type", "application/vnd.berth.e2e.files",
			"--export-manifest", pushed,
			repo+":v1", "hello.txt:text/plain", "random.bin", "empty.txt")
		out := filepath.Join(work, "out")
		oras.Run(t, "pull", "--plain-http", "--no-tty", "-o", out, repo+":v1")
		requireFiles(t, out, files)

		manifest := readFileBytes(t, pushed)
		if got := oras.Run(t, "manifest", "fetch", "--plain-http", repo+":v1"); !bytes.Equal(got, manifest) {
			t.Fatalf("manifest fetch:\n got %s\nwant %s", got, manifest)
		}
		if got := lines(oras.Run(t, "resolve", "--plain-http", repo+":v1")); len(got) != 1 || got[0] != digest.FromBytes(manifest).String() {
			t.Fatalf("resolve: got %q, want %s", got, digest.FromBytes(manifest))
		}
		oras.Run(t, "tag", "--plain-http", repo+":v1", "v2", "latest")
		requireSet(t, "oras repo tags", lines(oras.Run(t, "repo", "tags", "--plain-http", repo)), []string{"latest", "v1", "v2"})

		// An image from an OCI layout, then an artifact attached to it.
		img := newTestImage(t, "oras-image-"+drv.Name())
		layout := filepath.Join(work, "layout")
		img.writeLayout(t, layout, "v1")
		imgRef := srv.Host + "/oras/image:v1"
		oras.Run(t, "cp", "--no-tty", "--from-oci-layout", "--to-plain-http", layout+":v1", imgRef)
		back := filepath.Join(work, "back")
		oras.Run(t, "cp", "--no-tty", "--from-plain-http", "--to-oci-layout", imgRef, back+":v1")
		img.requireLayoutEqual(t, back, "v1")

		sbom := map[string][]byte{"sbom.json": []byte(`{"berth":"e2e","packages":[]}`)}
		writeFiles(t, filepath.Join(work, "src"), sbom)
		attached := filepath.Join(work, "attached.json")
		push.Run(t, "attach", "--plain-http", "--no-tty",
			"--distribution-spec", "v1.1-referrers-api",
			"--artifact-type", "application/vnd.berth.e2e.sbom",
			"--export-manifest", attached,
			imgRef, "sbom.json:application/json")
		attDigest := digest.FromBytes(readFileBytes(t, attached))

		var disc struct {
			Digest    digest.Digest `json:"digest"`
			Referrers []struct {
				Digest       digest.Digest `json:"digest"`
				ArtifactType string        `json:"artifactType"`
			} `json:"referrers"`
		}
		raw := oras.Run(t, "discover", "--plain-http",
			"--distribution-spec", "v1.1-referrers-api", "--format", "json", imgRef)
		if err := json.Unmarshal(raw, &disc); err != nil {
			t.Fatalf("discover output: %v\n%s", err, raw)
		}
		if disc.Digest != img.digest || len(disc.Referrers) != 1 || disc.Referrers[0].Digest != attDigest ||
			disc.Referrers[0].ArtifactType != "application/vnd.berth.e2e.sbom" {
			t.Fatalf("discover: want only %s (application/vnd.berth.e2e.sbom), got %s", attDigest, raw)
		}
		attOut := filepath.Join(work, "attachment")
		oras.Run(t, "pull", "--plain-http", "--no-tty", "-o", attOut, srv.Host+"/oras/image@"+attDigest.String())
		requireFiles(t, attOut, sbom)
	})
}
