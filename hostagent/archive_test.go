package hostagent

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/archive"
)

func twoImages(t testing.TB) (*testImage, *testImage) {
	base := &testImage{names: []string{"example.com/os/base:12", "example.com/os/base:latest"},
		layers: [][]byte{mkTar(t, file("etc/os-release", "ID=test\n"))}}
	app := &testImage{names: []string{"localhost:5000/team/app:1.0"},
		layers: [][]byte{mkTar(t, file("etc/os-release", "ID=test\n")), mkTar(t, file("srv/app", "app"))}}
	return base, app
}

// archiveFiles reads a tar (compressed or not): name → content.
func archiveFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, _, err := archive.Decompress(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = body
	}
}

func tarOf(t *testing.T, files map[string][]byte) []byte {
	var ents []ent
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			ents = append(ents, dir(n))
		} else {
			ents = append(ents, file(n, string(files[n])))
		}
	}
	return mkTar(t, ents...)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := t.Context()
	src := newTestAgent(t)
	base, app := twoImages(t)
	loadImages(t, src, base, app)
	for _, comp := range []Compression{CompressionNone, CompressionGzip, CompressionZstd} {
		t.Run(string(comp), func(t *testing.T) {
			var buf bytes.Buffer
			res, err := src.Save(ctx, &buf, []string{base.desc.Digest.String(), "localhost:5000/team/app:1.0"}, SaveOptions{Compression: comp})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Images) != 3 || res.Blobs != 6 || res.Bytes != int64(buf.Len()) {
				t.Errorf("save: %+v (%d bytes)", res, buf.Len())
			}
			files := archiveFiles(t, buf.Bytes())
			var docker []archive.DockerArchiveEntry
			if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 2 {
				t.Fatalf("manifest.json: %s, %v", files["manifest.json"], err)
			}
			if !slices.Equal(docker[0].RepoTags, []string{"example.com/os/base:12", "example.com/os/base:latest"}) ||
				docker[1].Config != "blobs/sha256/"+app.config.Encoded() || len(docker[1].Layers) != 2 {
				t.Errorf("manifest.json: %+v", docker)
			}
			for _, n := range append(docker[1].Layers, "oci-layout", "index.json", "repositories") {
				if _, ok := files[n]; !ok {
					t.Errorf("%s missing from the archive", n)
				}
			}

			dst := newTestAgent(t)
			lr, err := dst.LoadReader(ctx, bytes.NewReader(buf.Bytes()), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if lr.Format != FormatOCILayout || lr.Compression != comp || len(lr.Images) != 3 {
				t.Errorf("load: %+v", lr)
			}
			imgs, _ := dst.List(ctx, Filter{})
			got := map[string]digest.Digest{}
			for _, i := range imgs {
				got[i.Reference] = i.Digest
			}
			want := map[string]digest.Digest{
				"example.com/os/base:12": base.desc.Digest, "example.com/os/base:latest": base.desc.Digest,
				"localhost:5000/team/app:1.0": app.desc.Digest,
			}
			if len(got) != 3 || got["example.com/os/base:12"] != want["example.com/os/base:12"] || got["localhost:5000/team/app:1.0"] != app.desc.Digest {
				t.Errorf("loaded %v, want %v", got, want)
			}
			if rep, err := dst.Verify(ctx, false); err != nil || len(rep.Problems) != 0 {
				t.Errorf("verify: %+v, %v", rep, err)
			}
			if entries, _ := os.ReadDir(filepath.Join(dst.Root(), "ingest")); len(entries) != 0 {
				t.Errorf("staging left in ingest/: %v", entries)
			}
		})
	}
}

// TestLoadDockerArchive: the docker half alone (as docker 20.10 reads
// it), and docker save's legacy layout with plain tar layers and symlinks,
// keep config and layer digests.
func TestLoadDockerArchive(t *testing.T) {
	ctx := t.Context()
	src := newTestAgent(t)
	_, app := twoImages(t)
	loadImages(t, src, app)
	var buf bytes.Buffer
	if _, err := src.Save(ctx, &buf, []string{"localhost:5000/team/app:1.0"}, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	files := archiveFiles(t, buf.Bytes())
	delete(files, "index.json")
	delete(files, "oci-layout")

	dst := newTestAgent(t)
	lr, err := dst.LoadReader(ctx, bytes.NewReader(tarOf(t, files)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := lr.Images[0]
	if lr.Format != FormatDockerArchive || img.Config != app.config || !slices.Equal(img.Layers, []digest.Digest{app.blobs[0].Digest, app.blobs[1].Digest}) ||
		!slices.Equal(img.Names, []string{"localhost:5000/team/app:1.0"}) || !strings.Contains(img.Preserved, "new OCI manifest") {
		t.Errorf("load: %+v", lr)
	}

	// docker save (20.10): <id>/layer.tar plain, a second image's layer a
	// symlink to the first's, the config at <hex>.json.
	cfg := files["blobs/sha256/"+app.config.Encoded()]
	var c v1.Image
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	legacy := map[string][]byte{
		"aaaa/layer.tar": app.layers[0], "aaaa/json": []byte("{}"), "aaaa/VERSION": []byte("1.0"),
		"bbbb/layer.tar":               app.layers[1],
		app.config.Encoded() + ".json": cfg,
		"manifest.json": mustJSON(t, []archive.DockerArchiveEntry{{Config: app.config.Encoded() + ".json",
			RepoTags: []string{"team/app:1.0"}, Layers: []string{"aaaa/layer.tar", "cccc/layer.tar"}}}),
	}
	raw := tarOf(t, legacy)
	// cccc/layer.tar -> ../bbbb/layer.tar, appended before the end blocks.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		_ = tw.WriteHeader(h)
		_, _ = io.Copy(tw, tr)
	}
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "cccc/layer.tar", Linkname: "../bbbb/layer.tar"})
	tw.Close()
	dst2 := newTestAgent(t)
	lr, err = dst2.LoadReader(ctx, &b, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img = lr.Images[0]
	if img.Config != app.config || !slices.Equal(img.Layers, c.RootFS.DiffIDs) || img.Names[0] != "docker.io/team/app:1.0" {
		t.Errorf("legacy docker save: %+v, diff IDs %v", img, c.RootFS.DiffIDs)
	}
	if _, err := dst2.CreateContainer(ctx, "c", "team/app:1.0", CreateOptions{}); err != nil {
		t.Errorf("container from a docker-archive image: %v", err)
	}
}

// TestLoadIndex: a multi-platform index loads whole, or one platform.
func TestLoadIndex(t *testing.T) {
	ctx := t.Context()
	layout := t.TempDir()
	amd := &testImage{layers: [][]byte{mkTar(t, file("arch", "amd64"))}}
	arm := &testImage{layers: [][]byte{mkTar(t, file("arch", "arm64"))}, platform: v1.Platform{OS: "linux", Architecture: "arm64"}}
	buildImage(t, layout, amd)
	buildImage(t, layout, arm)
	idx := mustJSON(t, v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{amd.desc, arm.desc}})
	idxDigest := writeBlob(t, layout, idx)
	top := mustJSON(t, v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []v1.Descriptor{{
		MediaType: v1.MediaTypeImageIndex, Digest: idxDigest, Size: int64(len(idx)),
		Annotations: map[string]string{v1.AnnotationRefName: "multi"},
	}}})
	if err := os.WriteFile(filepath.Join(layout, "index.json"), top, 0o644); err != nil {
		t.Fatal(err)
	}

	a := newTestAgent(t)
	lr, err := a.Load(ctx, layout, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Images[0].Digest != idxDigest || lr.Images[0].MediaType != v1.MediaTypeImageIndex || lr.Images[0].Names[0] != "multi" {
		t.Fatalf("load: %+v", lr)
	}
	if _, err := a.CreateContainer(ctx, "arm", "multi", CreateOptions{Platform: "linux/arm64"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(a.ContainerRootfs("arm"), "arch")); string(b) != "arm64" {
		t.Errorf("arm64 container has %q", b)
	}
	var buf bytes.Buffer
	if _, err := a.Save(ctx, &buf, []string{"multi"}, SaveOptions{}); err != nil {
		t.Fatal(err)
	}

	b := newTestAgent(t)
	lr, err = b.Load(ctx, layout, LoadOptions{Platform: "linux/arm64", Name: "example.com/multi:arm"})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Images[0].Digest != arm.desc.Digest || lr.Images[0].Names[0] != "example.com/multi:arm" {
		t.Errorf("load one platform: %+v", lr)
	}
	// An index missing a platform's manifest gives the host's.
	os.Remove(filepath.Join(layout, "blobs", "sha256", arm.desc.Digest.Encoded()))
	c := newTestAgent(t)
	if lr, err = c.Load(ctx, layout, LoadOptions{}); err != nil || lr.Images[0].Digest != amd.desc.Digest {
		t.Errorf("sparse index: %+v, %v", lr, err)
	}
}

// TestLoadRefusesBadArchives: each bad archive is refused with its class
// and leaves the store as it was.
func TestLoadRefusesBadArchives(t *testing.T) {
	ctx := t.Context()
	src := newTestAgent(t)
	_, app := twoImages(t)
	loadImages(t, src, app)
	var buf bytes.Buffer
	if _, err := src.Save(ctx, &buf, []string{"localhost:5000/team/app:1.0"}, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	good := archiveFiles(t, buf.Bytes())
	layer := "blobs/sha256/" + app.blobs[1].Digest.Encoded()
	edit := func(fn func(m map[string][]byte)) []byte {
		m := map[string][]byte{}
		for k, v := range good {
			m[k] = v
		}
		fn(m)
		return tarOf(t, m)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"layer content altered", edit(func(m map[string][]byte) { m[layer] = gz(t, mkTar(t, file("evil", "x"))) }), ErrCorrupt},
		{"layer missing", edit(func(m map[string][]byte) { delete(m, layer) }), ErrCorrupt},
		{"entry leaving the archive", edit(func(m map[string][]byte) { m["../../escape"] = []byte("x") }), ErrUnsafe},
		{"absolute entry", edit(func(m map[string][]byte) { m["/etc/evil"] = []byte("x") }), ErrUnsafe},
		{"diff ID mismatch", edit(func(m map[string][]byte) {
			delete(m, "index.json")
			m[layer] = gz(t, mkTar(t, file("other", "x")))
		}), ErrCorrupt},
		{"not an archive", []byte("hello"), ErrInvalid},
		{"no image", tarOf(t, map[string][]byte{"README": []byte("x")}), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t)
			before := snapshot(t, a.Root())
			_, err := a.LoadReader(ctx, bytes.NewReader(tc.data), LoadOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("load: %v, want %v", err, tc.want)
			}
			if after := snapshot(t, a.Root()); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
		})
	}
	// A tar bomb is stopped at the limit.
	a := newTestAgent(t)
	bomb := gz(t, mkTar(t, file("big", strings.Repeat("\x00", 2<<20))))
	if _, err := a.LoadReader(ctx, bytes.NewReader(bomb), LoadOptions{Limits: Limits{MaxBytes: 1 << 20}}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("bomb: %v", err)
	}
}

// FuzzLoadArchive: whatever the bytes, Load either loads or fails leaving
// the store as it was; it never panics.
func FuzzLoadArchive(f *testing.F) {
	a := newTestAgent(f)
	base, _ := twoImages(f)
	loadImages(f, a, base)
	var buf bytes.Buffer
	if _, err := a.Save(f.Context(), &buf, []string{"example.com/os/base:12"}, SaveOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(mkTar(f, file("manifest.json", `[{"Config":"c.json","Layers":["../l.tar"]}]`), file("c.json", `{"rootfs":{"diff_ids":["sha256:00"]}}`)))
	f.Add(mkTar(f, file("index.json", `{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`"}]}`)))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newTestAgent(t)
		before := snapshot(t, b.Root())
		if _, err := b.LoadReader(t.Context(), bytes.NewReader(data), LoadOptions{Limits: Limits{MaxBytes: 4 << 20, MaxEntries: 1000}}); err != nil {
			if after := snapshot(t, b.Root()); after != before {
				t.Fatalf("a failed load changed the store: %v", err)
			}
		}
	})
}
