package hostagent_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// peer is a registry the agent is tested against.
type peer struct {
	name string
	host string
	url  string
}

// peers starts Berth and distribution/v3, both in-process.
func peers(t *testing.T) []peer {
	t.Helper()
	b := registrytest.Start(t, inmemory.New(), registry.WithDelete(true))
	d := hatest.StartDistribution(t, nil)
	return []peer{{"berth", b.Host, b.URL}, {"distribution", d.Host, d.URL}}
}

func forEachPeer(t *testing.T, fn func(t *testing.T, p peer)) {
	for _, p := range peers(t) {
		t.Run(p.name, func(t *testing.T) { fn(t, p) })
	}
}

// newAgent opens a fresh store with credentials confined to the test.
func newAgent(t *testing.T, opts ...hostagent.Option) *hostagent.Agent {
	t.Helper()
	dc, err := client.NewDockerConfig(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := hostagent.New(filepath.Join(t.TempDir(), "store"), append([]hostagent.Option{hostagent.WithDockerConfig(dc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// baseAndApp is an OS image and an image built on it (its layers plus one,
// naming it as base).
func baseAndApp(t *testing.T, seed string) (base, app *hatest.Image) {
	t.Helper()
	baseLayers := [][]hatest.File{
		{{Name: "etc/os-release", Data: []byte("ID=hatest-" + seed + "\n")}},
		{{Name: "usr/lib/blob.bin", Data: hatest.Random("base-"+seed, 300<<10)}},
	}
	base = hatest.NewImage(t, hatest.Spec{
		Layers:      baseLayers,
		Annotations: map[string]string{v1.AnnotationVendor: "Hatest OS Project", v1.AnnotationVersion: "12.1"},
	})
	app = hatest.NewImage(t, hatest.Spec{
		Layers: append(slices.Clone(baseLayers), []hatest.File{{Name: "app/run", Data: []byte("#!/bin/sh\necho " + seed + "\n")}}),
		Annotations: map[string]string{
			v1.AnnotationBaseImageDigest: base.Digest.String(),
			v1.AnnotationBaseImageName:   "hatest/os:12",
		},
		Labels: map[string]string{v1.AnnotationVendor: "Example Corp", v1.AnnotationVersion: "2.0.1"},
	})
	return base, app
}

func TestRoundTrip(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		ctx := t.Context()
		c := client.New()
		base, app := baseAndApp(t, p.name)
		hatest.Push(t, ctx, c, p.host+"/hatest/os:12", base)
		hatest.Push(t, ctx, c, p.host+"/team/app:2.0.1", app)

		a := newAgent(t)
		img, err := a.Pull(ctx, p.host+"/hatest/os:12", hostagent.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != base.Digest || !img.OSImage || img.Publisher != "Hatest OS Project" || img.Version != "12.1" {
			t.Fatalf("pulled base: %+v", img)
		}
		if _, err := a.Pull(ctx, p.host+"/team/app:2.0.1", hostagent.PullOptions{}); err != nil {
			t.Fatal(err)
		}

		list, err := a.List(ctx, hostagent.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("list: %d images, want 2: %+v", len(list), list)
		}
		appRow := list[1]
		if appRow.Name != p.host+"/team/app" || appRow.Tag != "2.0.1" || appRow.OSImage ||
			appRow.Publisher != "Example Corp" || appRow.Version != "2.0.1" || appRow.BaseDigest != base.Digest {
			t.Errorf("app row: %+v", appRow)
		}
		wantSize := int64(len(app.Manifest)) + app.Config.Size
		for _, l := range app.Layers {
			wantSize += l.Size
		}
		if appRow.Size != wantSize || appRow.Created == nil {
			t.Errorf("app size %d (want %d), created %v", appRow.Size, wantSize, appRow.Created)
		}
		osOnly := true
		if got, _ := a.List(ctx, hostagent.Filter{OSImage: &osOnly}); len(got) != 1 || got[0].Digest != base.Digest {
			t.Errorf("os-image filter: %+v", got)
		}
		if got, _ := a.List(ctx, hostagent.Filter{Publisher: "example corp"}); len(got) != 1 || got[0].Digest != app.Digest {
			t.Errorf("publisher filter: %+v", got)
		}
		if got, _ := a.List(ctx, hostagent.Filter{Name: "team/*"}); len(got) != 1 || got[0].Digest != app.Digest {
			t.Errorf("name filter: %+v", got)
		}

		d, err := a.Inspect(ctx, p.host+"/team/app:2.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Base == nil || d.Base.Digest != base.Digest || d.Base.Inferred || !slices.Equal(d.Base.Local, []string{p.host + "/hatest/os:12"}) {
			t.Errorf("inspect base: %+v", d.Base)
		}
		if len(d.Layers) != 3 || len(d.History) != 1 || d.Labels[v1.AnnotationVendor] != "Example Corp" {
			t.Errorf("inspect: %d layers, history %v, labels %v", len(d.Layers), d.History, d.Labels)
		}
		if bd, _ := a.Inspect(ctx, base.Digest.Encoded()[:12]); !slices.Equal(bd.Derived, []string{p.host + "/team/app:2.0.1"}) {
			t.Errorf("base derived: %v", bd.Derived)
		}

		// Tag, push under the new name (mount from the repository it came
		// from), untag.
		if err := a.Tag(ctx, p.host+"/team/app:2.0.1", p.host+"/mirror/app:stable"); err != nil {
			t.Fatal(err)
		}
		res, err := a.Push(ctx, p.host+"/mirror/app:stable", "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest != app.Digest || res.Mounted != 4 || res.Uploaded != 0 {
			t.Errorf("push to a new repository of the same registry: %+v, want 4 mounts", res)
		}
		m, err := c.ManifestGet(ctx, mustRef(t, p.host+"/mirror/app:stable"))
		if err != nil || m.Descriptor.Digest != app.Digest {
			t.Fatalf("registry serves mirror/app:stable as %v (%v), want %s", m, err, app.Digest)
		}
		res, err = a.Push(ctx, p.host+"/mirror/app:stable", p.host+"/mirror/app:again")
		if err != nil || res.Existing != 4 {
			t.Errorf("second push: %+v, %v; want every blob found by HEAD", res, err)
		}
		if err := a.Untag(ctx, p.host+"/mirror/app:stable"); err != nil {
			t.Fatal(err)
		}
		if err := a.Untag(ctx, p.host+"/mirror/app:stable"); !errors.Is(err, hostagent.ErrNotFound) {
			t.Errorf("untag twice: %v", err)
		}

		// The base is used by the app: refused until the app is gone.
		if _, err := a.Remove(ctx, p.host+"/hatest/os:12", false); !errors.Is(err, hostagent.ErrInUse) {
			t.Fatalf("remove a base in use: %v, want ErrInUse", err)
		}
		rm, err := a.Remove(ctx, p.host+"/team/app:2.0.1", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rm.Deleted) != 3 { // manifest, config, app layer
			t.Errorf("remove app deleted %d blobs, want 3: %v", len(rm.Deleted), rm.Deleted)
		}
		if _, err := a.Remove(ctx, p.host+"/hatest/os:12", false); err != nil {
			t.Fatal(err)
		}
		if list, _ := a.List(ctx, hostagent.Filter{}); len(list) != 0 {
			t.Errorf("after removing all: %+v", list)
		}
		if n := countBlobs(t, a.Root()); n != 0 {
			t.Errorf("%d blobs left after removing every image", n)
		}
	})
}

func TestPullUnknownAndDown(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		a := newAgent(t)
		_, err := a.Pull(t.Context(), p.host+"/no/such:image", hostagent.PullOptions{})
		if !errors.Is(err, hostagent.ErrNotFound) || !errors.Is(err, client.ErrNotFound) {
			t.Errorf("pull unknown: %v", err)
		}
	})
	a := newAgent(t, hostagent.WithClientOptions(client.WithRetry(client.RetryPolicy{Attempts: 1})))
	_, err := a.Pull(t.Context(), "127.0.0.1:1/no/registry:here", hostagent.PullOptions{})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("pull from nowhere: %v", err)
	}
}

func TestPullPlatform(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		ctx := t.Context()
		c := client.New()
		imgs := map[string]*hatest.Image{}
		for _, plat := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
			pl, _ := hostagent.ParsePlatform(plat)
			imgs[plat] = hatest.NewImage(t, hatest.Spec{
				Layers:   [][]hatest.File{{{Name: "plat", Data: []byte(plat)}}},
				Platform: pl,
			})
		}
		hatest.PushIndex(t, ctx, c, p.host+"/multi/arch:1", imgs)
		a := newAgent(t)
		host := hostagent.HostPlatform()
		if want, ok := imgs[host.OS+"/"+host.Architecture]; ok {
			img, err := a.Pull(ctx, p.host+"/multi/arch:1", hostagent.PullOptions{})
			if err != nil || img.Digest != want.Digest {
				t.Errorf("default platform: %v %v, want %s", img.Digest, err, want.Digest)
			}
		}
		img, err := a.Pull(ctx, p.host+"/multi/arch:1", hostagent.PullOptions{Platform: "linux/arm/v7"})
		if err != nil || img.Digest != imgs["linux/arm/v7"].Digest || img.Platform != "linux/arm/v7" {
			t.Errorf("linux/arm/v7: %+v %v", img, err)
		}
		// The name holds both platforms now (an index), when the host's
		// was installed first.
		if _, ok := imgs[host.OS+"/"+host.Architecture]; ok {
			list, err := a.List(ctx, hostagent.Filter{Name: p.host + "/multi/arch"})
			if err != nil || len(list) != 1 || !strings.Contains(list[0].Platform, "linux/arm/v7") || !strings.Contains(list[0].Platform, host.OS+"/"+host.Architecture) {
				t.Errorf("list after two platforms: %+v %v", list, err)
			}
		}
		if _, err := a.Pull(ctx, p.host+"/multi/arch:1", hostagent.PullOptions{Platform: "windows/amd64"}); !errors.Is(err, hostagent.ErrNoPlatform) {
			t.Errorf("windows/amd64: %v, want ErrNoPlatform", err)
		}
	})
}

func TestPushChunked(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		ctx := t.Context()
		img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "big", Data: hatest.Random("chunked", 3<<20+5)}}}})
		hatest.Push(t, ctx, client.New(), p.host+"/src/big:1", img)
		a := newAgent(t, hostagent.WithClientOptions(client.WithChunkSize(1<<20)))
		if _, err := a.Pull(ctx, p.host+"/src/big:1", hostagent.PullOptions{}); err != nil {
			t.Fatal(err)
		}
		// A different registry name for the same server: nothing to mount
		// from, so the layer is uploaded, in four chunks.
		dest := "localhost" + p.host[len("127.0.0.1"):] + "/dst/big:1"
		res, err := a.Push(ctx, p.host+"/src/big:1", dest)
		if err != nil {
			t.Fatal(err)
		}
		if res.Uploaded != 2 || res.Bytes != img.Config.Size+img.Layers[0].Size {
			t.Errorf("push: %+v", res)
		}
		b := newAgent(t)
		got, err := b.Pull(ctx, dest, hostagent.PullOptions{})
		if err != nil || got.Digest != img.Digest {
			t.Fatalf("pull back: %v %v", got.Digest, err)
		}
		if _, err := b.Verify(ctx, false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDockerManifestStoredAsOCI(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		ctx := t.Context()
		c := client.New()
		img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "f", Data: []byte("docker")}}}})
		hatest.Push(t, ctx, c, p.host+"/dock/er:tmp", img)
		var m map[string]any
		_ = json.Unmarshal(img.Manifest, &m)
		m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
		m["config"].(map[string]any)["mediaType"] = "application/vnd.docker.container.image.v1+json"
		m["layers"].([]any)[0].(map[string]any)["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		docker, _ := json.Marshal(m)
		ref := mustRef(t, p.host+"/dock/er:v1")
		dd, err := c.ManifestPut(ctx, ref, "application/vnd.docker.distribution.manifest.v2+json", docker)
		if err != nil {
			t.Fatal(err)
		}
		a := newAgent(t)
		got, err := a.Pull(ctx, ref.String(), hostagent.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.MediaType != v1.MediaTypeImageManifest || got.Digest == dd {
			t.Errorf("stored %s %s, want an OCI manifest (registry's: %s)", got.MediaType, got.Digest, dd)
		}
		d, err := a.Inspect(ctx, p.host+"/dock/er@"+dd.String())
		if err != nil || d.SourceDigest != dd {
			t.Errorf("inspect by the registry's digest: %v, source %s", err, d.SourceDigest)
		}
	})
}

func TestFind(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p peer) {
		ctx := t.Context()
		c := client.New()
		base, app := baseAndApp(t, "find")
		hatest.Push(t, ctx, c, p.host+"/os/debian:12", base)
		for _, v := range []string{"1.9.0", "1.10.0", "2.0.0-rc1"} {
			img := hatest.NewImage(t, hatest.Spec{
				Layers: [][]hatest.File{{{Name: "v", Data: []byte(v)}}},
				Annotations: map[string]string{
					v1.AnnotationVersion: v, v1.AnnotationVendor: "Example Corp",
					v1.AnnotationBaseImageDigest: base.Digest.String(),
				},
			})
			hatest.Push(t, ctx, c, p.host+"/apps/web:"+v, img)
		}
		hatest.Push(t, ctx, c, p.host+"/apps/web:latest", app)
		a := newAgent(t)

		all, err := a.Find(ctx, hostagent.FindOptions{Registry: p.host, AllVersions: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Fatalf("find all: %d results: %+v", len(all), all)
		}
		newest, err := a.Find(ctx, hostagent.FindOptions{Registry: p.host, Name: "apps/*"})
		// latest is the app image, labelled 2.0.1: newer than every tag.
		if err != nil || len(newest) != 1 || newest[0].Tag != "latest" || newest[0].Version != "2.0.1" {
			t.Errorf("newest apps/*: %+v %v", newest, err)
		}
		ranged, err := a.Find(ctx, hostagent.FindOptions{Registry: p.host, Name: "apps/web", MinVersion: "1.9.5", MaxVersion: "2.0.0", AllVersions: true})
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, f := range ranged {
			tags = append(tags, f.Tag)
		}
		// Newest first, a prerelease below every release (as sync ranks them).
		if !slices.Equal(tags, []string{"1.10.0", "2.0.0-rc1"}) {
			t.Errorf("versions in [1.9.5, 2.0.0]: %v", tags)
		}
		// A glob without "/" may match the last component.
		osImgs, _ := a.Find(ctx, hostagent.FindOptions{Registry: p.host, Name: "deb*"})
		if len(osImgs) != 1 || !osImgs[0].OSImage || osImgs[0].Publisher != "Hatest OS Project" || osImgs[0].Version != "12.1" {
			t.Errorf("os/*: %+v", osImgs)
		}
	})
}

func TestLoginWrongPassword(t *testing.T) {
	srv := hatest.StartDistribution(t, map[string]string{"alice": "s3cret"})
	ctx := t.Context()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "a", Data: []byte("auth")}}}})
	hatest.Push(t, ctx, client.New(client.WithCredentials(client.StaticCredentials{srv.Host: {Username: "alice", Password: "s3cret"}})), srv.Host+"/private/img:1", img)

	cfgPath := filepath.Join(t.TempDir(), "config.json")
	dc, _ := client.NewDockerConfig(cfgPath)
	a, err := hostagent.New(t.TempDir(), hostagent.WithDockerConfig(dc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pull(ctx, srv.Host+"/private/img:1", hostagent.PullOptions{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("anonymous pull: %v, want ErrUnauthorized", err)
	}
	if err := a.Login(ctx, srv.Host, client.Credential{Username: "alice", Password: "wrong"}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(cfgPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused login wrote %s: %v", cfgPath, err)
	}
	if err := a.Login(ctx, srv.Host, client.Credential{Username: "alice", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Pull(ctx, srv.Host+"/private/img:1", hostagent.PullOptions{}); err != nil || got.Digest != img.Digest {
		t.Fatalf("pull after login: %v", err)
	}
	if err := a.Logout(ctx, srv.Host); err != nil {
		t.Fatal(err)
	}
	if cred, _ := dc.Get(srv.Host); !cred.IsZero() {
		t.Errorf("credential left after logout: %+v", cred)
	}
}

func mustRef(t *testing.T, s string) client.Reference {
	t.Helper()
	r, err := client.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func countBlobs(t *testing.T, root string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
