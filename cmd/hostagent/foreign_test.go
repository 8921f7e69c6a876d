package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

const mediaTypeNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

// pushForeign pushes to ref an image whose second layer is
// non-distributable, at urls, and not in the registry; it returns the
// layer's descriptor and bytes.
func pushForeign(t *testing.T, ref string, urls ...string) (v1.Descriptor, []byte) {
	t.Helper()
	ctx := t.Context()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{
		{{Name: "Files/base.txt", Data: []byte("base")}},
		{{Name: "Files/Windows/foreign.dll", Data: hatest.Random("foreign", 300<<10)}},
	}})
	var m v1.Manifest
	if err := json.Unmarshal(img.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[1].MediaType, m.Layers[1].URLs = mediaTypeNondistributable, urls
	raw, _ := json.Marshal(m)
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New()
	for _, d := range []v1.Descriptor{m.Config, m.Layers[0]} {
		if err := c.BlobPut(ctx, r, d, bytes.NewReader(img.Blobs[d.Digest])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ManifestPut(ctx, r, v1.MediaTypeImageManifest, raw); err != nil {
		t.Fatalf("push a manifest with a non-distributable layer: %v", err)
	}
	return m.Layers[1], img.Blobs[m.Layers[1].Digest]
}

// layerServer serves what body holds at any path, counting requests.
type layerServer struct {
	*httptest.Server
	served atomic.Int32
	body   atomic.Value // []byte
}

func newLayerServer(t *testing.T, data []byte) *layerServer {
	s := &layerServer{}
	s.body.Store(data)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.served.Add(1)
		_, _ = w.Write(s.body.Load().([]byte))
	}))
	t.Cleanup(s.Close)
	return s
}

// deadURL is a URL nothing listens at.
func deadURL() string {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	return dead.URL + "/layer.tgz"
}

// installWarned runs install, which must succeed, and returns its stderr
// lines.
func (c *cli) installWarned(t *testing.T, args ...string) []string {
	t.Helper()
	return c.warned(t, append([]string{"install", "-q"}, args...)...)
}

// warned runs hostagent, which must exit 0, and returns its stderr lines.
func (c *cli) warned(t *testing.T, args ...string) []string {
	t.Helper()
	r := c.cmd.Exec(t, c.args(args)...)
	if r.Err != nil {
		t.Fatalf("hostagent %s: %v\n%s", strings.Join(args, " "), r.Err, r.Output())
	}
	if len(r.Stderr) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n")
}

// checkWarning checks that lines is one warning naming the layer, url and
// want.
func checkWarning(t *testing.T, lines []string, layer v1.Descriptor, url, want string) {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("stderr: %q, want one warning", lines)
	}
	l := lines[0]
	for _, s := range []string{"warning", layer.Digest.String(), url, want} {
		if !strings.Contains(l, s) {
			t.Errorf("warning %q does not say %q", l, s)
		}
	}
	if strings.Contains(l, "not found") {
		t.Errorf("warning %q says \"not found\"", l)
	}
}

// TestCLIForeignLayers: install fetches a non-distributable layer from its
// URL and verifies it; wrong content there fails (exit 7) and leaves the
// store as it was; an unreachable URL installs the image without the layer
// and warns; push leaves the layer out unless --allow-nondistributable.
func TestCLIForeignLayers(t *testing.T) {
	host := registrytest.Start(t, inmemory.New(), registry.WithDelete(true)).Host
	ref := host + "/win/foreign:1"
	srv := newLayerServer(t, nil)
	layer, data := pushForeign(t, ref, srv.URL+"/layer.tgz")

	// Wrong content at the URL: exit 7, naming the layer; the index is as
	// it was, and the bad content gone (the other blobs, whole or partly
	// fetched meanwhile, are kept for the next install, as for any
	// interrupted one).
	srv.body.Store([]byte("not the layer"))
	ha := newCLI(t)
	ha.run(t, "verify") // creates the store
	before := ha.snapshot(t)
	if msg := ha.fail(t, exitCorrupt, "install", "-q", ref); !strings.Contains(msg, layer.Digest.String()) {
		t.Errorf("wrong content: %q", msg)
	}
	after := ha.snapshot(t)
	var kept []string
	for _, l := range strings.Split(after, "\n") {
		if !strings.HasPrefix(l, "blobs/") && !strings.HasPrefix(l, "ingest/") {
			kept = append(kept, l)
		}
	}
	if strings.Join(kept, "\n") != before || strings.Contains(after, layer.Digest.Encoded()) {
		t.Errorf("an install of wrong content changed the store:\n%s\nafter:\n%s", before, after)
	}
	// Fetched and verified.
	srv.body.Store(data)
	if warned := ha.installWarned(t, ref, "--foreign-urls", "^"+srv.URL+"/"); len(warned) != 0 {
		t.Errorf("a fetched layer warned: %q", warned)
	}
	if imgs := ha.list(t); len(imgs) != 1 || imgs[0].Reference != ref || len(imgs[0].Absent) != 0 {
		t.Fatalf("list: %+v", imgs)
	}
	ha.run(t, "verify")

	// Unreachable: installed without it, one warning naming layer and URL.
	unreachable := host + "/win/unreachable:1"
	dead := deadURL()
	if layer2, _ := pushForeign(t, unreachable, dead); layer2.Digest != layer.Digest {
		t.Fatal("the two images should share the layer")
	}
	other := newCLI(t)
	checkWarning(t, other.installWarned(t, unreachable), layer, dead, "unreachable")
	if imgs := other.list(t); len(imgs) != 1 || len(imgs[0].Absent) != 1 || imgs[0].Absent[0].Digest != layer.Digest {
		t.Fatalf("list after an unreachable URL: %+v", imgs)
	}

	// Push leaves the layer out by default, uploads it when told.
	c := client.New()
	head := func(dest string) bool {
		r, _ := client.ParseReference(dest)
		_, err := c.BlobHead(t.Context(), r, layer.Digest)
		return err == nil
	}
	ha.run(t, "push", ref, host+"/copy/without:1")
	if head(host + "/copy/without:1") {
		t.Error("push uploaded a non-distributable layer without --allow-nondistributable")
	}
	ha.run(t, "push", ref, host+"/copy/with:1", "--allow-nondistributable")
	if !head(host + "/copy/with:1") {
		t.Error("push --allow-nondistributable did not upload the layer")
	}
	// A store that installs from the copy with the layer gets it from the
	// registry when the URL is gone.
	srv.Close()
	third := newCLI(t)
	if warned := third.installWarned(t, host+"/copy/with:1"); len(warned) != 0 {
		t.Errorf("the registry's copy warned: %q", warned)
	}
}

// archiveFiles reads the entries of the tar file path.
func archiveFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCLIAbsentForeignLayer: a URL refused by --foreign-urls installs the
// image without the layer, with a warning; verify reports it and exits 0;
// inspect and list show it; save leaves it out and load takes such an
// archive; push --allow-nondistributable and container create fail
// naming it; verify --repair fetches it, and then all works.
func TestCLIAbsentForeignLayer(t *testing.T) {
	host := registrytest.Start(t, inmemory.New(), registry.WithDelete(true)).Host
	ref := host + "/win/absent:1"
	srv := newLayerServer(t, nil)
	url := srv.URL + "/layer.tgz"
	layer, data := pushForeign(t, ref, url)
	srv.body.Store(data)

	ha := newCLI(t)
	checkWarning(t, ha.installWarned(t, ref, "--foreign-urls", `^https://download\.example\.com/`), layer, url, "not allowed")
	if srv.served.Load() != 0 {
		t.Error("a refused URL was fetched")
	}
	imgs := ha.list(t)
	if len(imgs) != 1 || len(imgs[0].Absent) != 1 || imgs[0].Absent[0].Digest != layer.Digest {
		t.Fatalf("list: %+v", imgs)
	}
	if out := ha.run(t, "list"); !strings.Contains(out, "1 foreign layer(s) absent") {
		t.Errorf("list does not show the absent layer:\n%s", out)
	}
	if out := ha.run(t, "inspect", ref); !strings.Contains(out, "absent: foreign layer not in the store (URLs "+url+")") {
		t.Errorf("inspect does not mark the absent layer:\n%s", out)
	}
	out := ha.run(t, "verify")
	if !strings.Contains(out, "ABSENT "+layer.Digest.String()+": foreign layer not present") || !strings.Contains(out, "0 problem(s), 1 foreign layer(s) not present") {
		t.Errorf("verify:\n%s", out)
	}

	// What needs the content fails naming the layer, and changes nothing.
	before := ha.snapshot(t)
	for _, args := range [][]string{
		{"container", "create", "c1", "--image", ref},
		{"push", ref, host + "/copy/with:1", "--allow-nondistributable"},
	} {
		msg := ha.fail(t, exitError, args...)
		if !strings.Contains(msg, "foreign layer "+layer.Digest.String()+" is not in the store") || !strings.Contains(msg, url) {
			t.Errorf("%s: %q", args[0], msg)
		}
	}
	if ha.snapshot(t) != before {
		t.Error("a refused container create or push changed the store")
	}
	ha.run(t, "push", ref, host+"/copy/without:1")

	// save leaves the blob out; load takes the archive, keeping the URLs.
	tarPath := filepath.Join(t.TempDir(), "absent.tar")
	ha.run(t, "save", ref, "-o", tarPath)
	files := archiveFiles(t, tarPath)
	if _, ok := files["blobs/sha256/"+layer.Digest.Encoded()]; ok || files["index.json"] == nil {
		t.Errorf("archive entries %v: want index.json and not the absent layer", slices.Collect(maps.Keys(files)))
	}
	var dm []struct {
		LayerSources map[string]v1.Descriptor
	}
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil || len(dm) != 1 || len(dm[0].LayerSources) != 1 {
		t.Fatalf("manifest.json: %v, %+v: want one LayerSources entry", err, dm)
	}
	for _, src := range dm[0].LayerSources {
		if src.Digest != layer.Digest || !slices.Equal(src.URLs, []string{url}) {
			t.Errorf("LayerSources: %+v, want the foreign layer with its URL", src)
		}
	}
	loaded := newCLI(t)
	loaded.run(t, "load", "-i", tarPath)
	var d hostagent.Details
	if err := json.Unmarshal([]byte(loaded.run(t, "inspect", ref, "--format", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Absent) != 1 || len(d.Layers) != 2 || !slices.Equal(d.Layers[1].URLs, []string{url}) {
		t.Errorf("loaded image: absent %+v, layers %+v", d.Absent, d.Layers)
	}
	loaded.run(t, "verify")

	// repair with the URL refused still: nothing changes, exit 0.
	if out := ha.run(t, "verify", "--repair", "--foreign-urls", "^https://nowhere/"); !strings.Contains(out, "not allowed") {
		t.Errorf("verify --repair, URL refused:\n%s", out)
	}
	// repair fetches it; then everything works.
	out = ha.run(t, "verify", "--repair")
	if !strings.Contains(out, "fetched "+layer.Digest.String()+" again") || strings.Contains(out, "ABSENT") {
		t.Errorf("verify --repair:\n%s", out)
	}
	if imgs := ha.list(t); len(imgs[0].Absent) != 0 {
		t.Errorf("after repair: %+v", imgs[0].Absent)
	}
	ha.run(t, "container", "create", "c1", "--image", ref)
	ha.run(t, "push", ref, host+"/copy/with:1", "--allow-nondistributable")
}
