package hostagent_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/registry/client"
)

// TestSyncRegistryToRegistry copies between Berth and distribution/v3
// (the latter with token auth, and without the referrers API), both ways:
// tag filters, an index, a signature with its subject, a mount across
// repositories; then proves with request counts that a second run copies
// nothing: at the source and the destination, only metadata requests.
func TestSyncRegistryToRegistry(t *testing.T) {
	users := map[string]string{"alice": "s3cret"}
	for _, dir := range []struct {
		name      string
		upTokened bool
	}{{"berth to distribution with token auth", false}, {"distribution with token auth to berth", true}} {
		t.Run(dir.name, func(t *testing.T) {
			ctx := t.Context()
			berth := hatest.StartCountedBerth(t)
			dist := hatest.StartCountedDistribution(t, users)
			up, down := berth, dist
			if dir.upTokened {
				up, down = dist, berth
			}
			creds := map[string]client.Credential{dist.Host: {Username: "alice", Password: "s3cret"}}
			c := client.New(client.WithCredentials(client.StaticCredentials(creds)))

			imgs := map[string]*hatest.Image{}
			for i, tag := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0-rc1"} {
				imgs[tag] = testImage(t, "app", tag, 4<<10*(i+1))
				hatest.Push(t, ctx, c, up.Host+"/team/app:"+tag, imgs[tag])
			}
			hatest.Push(t, ctx, c, up.Host+"/team/app:latest", imgs["2.0.0"])
			appRepo := mustParse(t, up.Host+"/team/app")
			sig := pushSignature(t, c, appRepo, imgs["2.0.0"].Descriptor(), dir.upTokened)
			multi := map[string]*hatest.Image{}
			for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
				multi[p] = platformImage(t, "multi", p)
			}
			multiDigest := hatest.PushIndex(t, ctx, c, up.Host+"/team/multi:1", multi)

			cfg := parseSyncYAML(t, `
rules:
  - name: app
    source: %[1]s/team/app
    destination: %[2]s/mirror/app
    tags: {semver: ">=1.1 <3"}
  - name: newest
    source: %[1]s/team/app
    destination: %[2]s/newest/app
    tags: {newest: 2, deny: ["^2\\.0"]}
    referrers: false
  - name: latest
    source: %[1]s/team/app
    destination: %[2]s/other/app
    tags: {allow: ["^latest$"]}
  - name: multi
    source: %[1]s/team/multi:1
    destination: %[2]s/mirror/multi
  - name: prefix
    source: %[1]s/team/*
    destination: %[2]s/all/*
    tags: {allow: ["^1\\.0\\.0$", "^1$"]}
`, up.Host, down.Host)
			a := syncAgent(t, creds)

			sums := runSync(t, a, cfg, hostagent.SyncOptions{})
			t.Logf("first run:\n%s", describeSummaries(slices.Collect(maps.Values(sums))))
			if s := sums["app"]; s.Images != (hostagent.SyncCounts{Copied: 3}) || s.Referrers != 1 || s.Blobs.Copied != 9 {
				t.Errorf("app: images %+v, blobs %+v, referrers %d; want 3 images copied (1.1.0 1.2.0 2.0.0), "+
					"each distinct blob once (a shared base, 3 layers, 3 configs, the signature's 2), and the signature", s.Images, s.Blobs, s.Referrers)
			}
			// Every blob crossed once: mounts and HEADs spared the rest.
			if n := up.Count("GET blob"); n != 9+6+2 {
				t.Errorf("first run fetched %d blobs from the source, want 17 (app's 9, multi's 6, 1.0.0's own layer and config)", n)
			}
			if s := sums["newest"]; s.Images.Copied != 2 || s.Referrers != 0 || s.Blobs.Mounted == 0 {
				t.Errorf("newest: %+v; want 2 images (1.1.0 1.2.0), no referrers, blobs mounted from mirror/app", s)
			}
			if s := sums["latest"]; s.Images.Copied != 1 || s.Blobs.Copied != 0 || s.Blobs.Mounted != 5 || s.Referrers != 1 {
				t.Errorf("latest: %+v; want 1 image and its signature, whose 3 + 2 blobs are all mounted from mirror/app", s)
			}
			if s := sums["multi"]; s.Images.Copied != 1 || s.Blobs.Copied != 6 {
				t.Errorf("multi: %+v; want the index with 3 children of 2 blobs each", s)
			}
			if s := sums["prefix"]; s.Images.Copied != 2 || s.Blobs.Copied != 2 || s.Blobs.Mounted != 7 {
				t.Errorf("prefix: %+v; want team/app:1.0.0 and team/multi:1 from the catalog: "+
					"1.0.0's own layer and config copied, the base and multi's 6 blobs mounted", s)
			}
			for repo, want := range map[string][]string{
				"mirror/app": {"1.1.0", "1.2.0", "2.0.0"}, "newest/app": {"1.1.0", "1.2.0"}, "other/app": {"latest"},
				"all/app": {"1.0.0"}, "all/multi": {"1"},
			} {
				tags, err := c.Tags(ctx, mustParse(t, down.Host+"/"+repo))
				tags = slices.DeleteFunc(tags, func(s string) bool { return len(s) > 60 }) // referrers tags
				if slices.Sort(tags); err != nil || !slices.Equal(tags, want) {
					t.Errorf("%s tags %q, %v; want %q", repo, tags, err, want)
				}
			}
			for tag, img := range imgs {
				if got := headDigest(t, c, down.Host+"/mirror/app:"+tag); tag != "1.0.0" && tag != "2.1.0-rc1" && got != img.Digest {
					t.Errorf("mirror/app:%s is %s, want the source's %s", tag, got, img.Digest)
				}
			}
			if got := headDigest(t, c, down.Host+"/mirror/multi:1"); got != multiDigest {
				t.Errorf("mirror/multi:1 is %s, want the source's index %s", got, multiDigest)
			}
			for p, img := range multi {
				if got := headDigest(t, c, down.Host+"/mirror/multi@"+img.Digest.String()); got != img.Digest {
					t.Errorf("child %s missing at the destination", p)
				}
			}
			for _, repo := range []string{"mirror/app", "other/app"} {
				refs, err := c.Referrers(ctx, mustParse(t, down.Host+"/"+repo), imgs["2.0.0"].Digest, "")
				if err != nil || len(refs.Manifests) != 1 || refs.Manifests[0].Digest != sig.Digest {
					t.Errorf("%s: referrers of 2.0.0 at the destination: %+v, %v; want the signature %s", repo, refs, err, sig.Digest)
				}
			}

			// Second run: nothing changed, nothing moves.
			up.Reset()
			down.Reset()
			sums = runSync(t, a, cfg, hostagent.SyncOptions{})
			for name, s := range sums {
				if s.Images.Copied != 0 || s.Images.Failed != 0 || s.Blobs != (hostagent.SyncCounts{}) || s.Bytes != 0 || s.Referrers != 0 {
					t.Errorf("second run of %s: %+v", name, s)
				}
			}
			t.Logf("second run: source %s: %s", up.Host, hatest.FormatCounts(up.Counts()))
			t.Logf("second run: destination %s: %s", down.Host, hatest.FormatCounts(down.Counts()))
			onlyMetadata(t, "source", up.Counts())
			onlyMetadata(t, "destination", down.Counts())
			if up.Count("GET blob") != 0 || down.Count("HEAD blob") != 0 {
				t.Error("blobs were looked at on the second run")
			}
		})
	}
}

func mustParse(t *testing.T, s string) client.Reference {
	t.Helper()
	r, err := client.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSyncLocalStore copies registry → store (an image, and an index as
// one platform and as all), then store → registry (a distribution/v3 with
// token auth, and the upstream itself, where every blob is mounted from
// where sources.json saw it); second runs transfer no blob either way.
func TestSyncLocalStore(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	dist := hatest.StartCountedDistribution(t, map[string]string{"bob": "pw"})
	creds := map[string]client.Credential{dist.Host: {Username: "bob", Password: "pw"}}
	c := client.New(client.WithCredentials(client.StaticCredentials(creds)))
	app := testImage(t, "local", "app", 100<<10)
	hatest.Push(t, ctx, c, up.Host+"/team/app:1.0", app)
	hatest.Push(t, ctx, c, up.Host+"/team/app:2.0", testImage(t, "local", "app2", 1<<10))
	multi := map[string]*hatest.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		multi[p] = platformImage(t, "local", p)
	}
	hatest.PushIndex(t, ctx, c, up.Host+"/team/multi:1", multi)
	hatest.PushIndex(t, ctx, c, up.Host+"/team/all:1", multi)
	a := syncAgent(t, creds)

	in := parseSyncYAML(t, `
rules:
  - {name: app, source: "%[1]s/team/app", destination: local, tags: {allow: ["^1\\."]}}
  - {name: arm, source: "%[1]s/team/multi:1", destination: local, platforms: linux/arm64}
  - {name: all, source: "%[1]s/team/all:1", destination: local, platforms: all}
`, up.Host)
	sums := runSync(t, a, in, hostagent.SyncOptions{})
	if s := sums["app"]; s.Images.Copied != 1 || s.Blobs.Copied != 3 || s.Bytes != app.Layers[0].Size+app.Layers[1].Size+app.Config.Size {
		t.Errorf("app into the store: %+v", s)
	}
	if s := sums["arm"]; s.Images.Copied != 1 || s.Blobs.Copied != 2 {
		t.Errorf("arm64 of the index into the store: %+v", s)
	}
	if s := sums["all"]; s.Images.Copied != 1 || s.Blobs.Copied != 2 || s.Blobs.Skipped != 2 {
		t.Errorf("whole index into the store: %+v (arm64's blobs are there already)", s)
	}
	imgs, err := a.List(ctx, hostagent.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]hostagent.Image{}
	for _, i := range imgs {
		got[i.Reference] = i
	}
	if i := got[up.Host+"/team/app:1.0"]; i.Digest != app.Digest {
		t.Errorf("store: team/app:1.0 = %+v", i)
	}
	if i := got[up.Host+"/team/multi:1"]; i.Digest != multi["linux/arm64"].Digest || i.Platform != "linux/arm64" {
		t.Errorf("store: team/multi:1 = %+v, want the arm64 image itself", i)
	}
	if i := got[up.Host+"/team/all:1"]; i.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("store: team/all:1 = %+v, want an index", i)
	}
	if _, ok := got[up.Host+"/team/app:2.0"]; ok || len(imgs) != 3 {
		t.Errorf("store holds %d images: %v", len(imgs), imgs)
	}
	if rep, err := a.Verify(ctx, false); err != nil || len(rep.Problems) > 0 {
		t.Errorf("verify after sync: %+v, %v", rep, err)
	}
	up.Reset()
	sums = runSync(t, a, in, hostagent.SyncOptions{})
	for name, s := range sums {
		if s.Images.Skipped != 1 || s.Blobs != (hostagent.SyncCounts{}) {
			t.Errorf("second run of %s into the store: %+v", name, s)
		}
	}
	t.Logf("second run into the store: source: %s", hatest.FormatCounts(up.Counts()))
	onlyMetadata(t, "source", up.Counts())
	if n := up.Count("GET manifest"); n != 0 {
		t.Errorf("%d manifest GETs for images the store has (a HEAD is enough)", n)
	}

	// The rule's platform changes: the index is installed again for it.
	amd := parseSyncYAML(t, "rules:\n  - {name: arm, source: %q, destination: local, platforms: linux/amd64}\n", up.Host+"/team/multi:1")
	if s := runSync(t, a, amd, hostagent.SyncOptions{})["arm"]; s.Images.Copied != 1 {
		t.Errorf("team/multi:1 for another platform: %+v", s)
	}
	if imgs, _ := a.List(ctx, hostagent.Filter{Name: up.Host + "/team/multi"}); len(imgs) != 1 || imgs[0].Digest != multi["linux/amd64"].Digest {
		t.Errorf("store: team/multi:1 = %+v, want the amd64 image now", imgs)
	}

	out := parseSyncYAML(t, `
rules:
  - {name: publish, source: "local:%[1]s/team/*", destination: "%[2]s/published/*"}
  - {name: back, source: "local:%[1]s/team/app:1.0", destination: "%[1]s/copies/app"}
`, up.Host, dist.Host)
	up.Reset()
	sums = runSync(t, a, out, hostagent.SyncOptions{})
	if s := sums["publish"]; s.Images.Copied != 3 || s.Blobs.Failed != 0 {
		t.Errorf("store to distribution: %+v", s)
	}
	if s := sums["back"]; s.Images.Copied != 1 || s.Blobs.Mounted != 3 || s.Blobs.Copied != 0 {
		t.Errorf("store back to its registry: %+v; want all 3 blobs mounted from team/app", s)
	}
	for ref, want := range map[string]string{
		dist.Host + "/published/app:1.0": app.Digest.String(),
		dist.Host + "/published/multi:1": multi["linux/amd64"].Digest.String(),
		up.Host + "/copies/app:1.0":      app.Digest.String(),
		dist.Host + "/published/all:1":   string(got[up.Host+"/team/all:1"].Digest),
	} {
		if d := headDigest(t, c, ref); string(d) != want {
			t.Errorf("%s is %s, want %s", ref, d, want)
		}
	}
	if n := up.Count("POST upload") - up.Count("PUT upload"); up.Count("PATCH upload") > 0 || up.Count("PUT upload") > 0 || n != 3 {
		t.Errorf("pushing back to the registry uploaded: %s", hatest.FormatCounts(up.Counts()))
	}
	up.Reset()
	dist.Reset()
	sums = runSync(t, a, out, hostagent.SyncOptions{})
	for name, s := range sums {
		if s.Images.Copied != 0 || s.Images.Failed != 0 || s.Blobs != (hostagent.SyncCounts{}) {
			t.Errorf("second run of %s from the store: %+v", name, s)
		}
	}
	t.Logf("second run from the store: %s: %s; %s: %s", up.Host, hatest.FormatCounts(up.Counts()), dist.Host, hatest.FormatCounts(dist.Counts()))
	onlyMetadata(t, "destination", dist.Counts())
	onlyMetadata(t, "upstream", up.Counts())
}
