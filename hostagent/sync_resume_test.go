package hostagent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
)

// TestSyncInterruptedResumes cancels a sync while a large layer is half
// way, then runs it again: the run completes, no blob that arrived before
// the interruption is fetched again, and into the store even the large
// layer continues where it stopped.
func TestSyncInterruptedResumes(t *testing.T) {
	for _, toStore := range []bool{false, true} {
		name := "registry to registry"
		if toStore {
			name = "registry to store"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			up := hatest.StartCountedBerth(t)
			proxy := hatest.NewProxy(t, up.URL)
			down := hatest.StartCountedBerth(t)
			img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{
				{{Name: "small", Data: []byte("small layer")}},
				{{Name: "big", Data: hatest.Random("resume", 2<<20)}},
				{{Name: "small2", Data: []byte("another small layer")}},
			}})
			c := client.New()
			hatest.Push(t, ctx, c, up.Host+"/team/big:1", img)
			big := img.Layers[1]
			dest := down.Host + "/mirror/big"
			if toStore {
				dest = "local"
			}
			cfg := parseSyncYAML(t, "rules:\n  - {source: %q, destination: %q}\n", proxy.Host+"/team/big:1", dest)
			a := syncAgent(t, nil)

			reached := proxy.StallAfter(big.Digest, big.Size/2)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				sums, err := a.Sync(runCtx, cfg, hostagent.SyncOptions{})
				if err == nil && (len(sums) != 1 || !sums[0].Stopped) {
					t.Errorf("interrupted run: %+v", sums)
				}
				done <- err
			}()
			select {
			case <-reached:
			case <-time.After(60 * time.Second):
				t.Fatal("the large layer never reached half way")
			}
			// Interrupt once what the stall lets through has landed: the
			// small blobs at the destination, or half the large one in
			// the store's ingest area.
			arrived := func() bool {
				if toStore {
					fi, err := os.Stat(filepath.Join(a.Root(), "ingest", big.Digest.Encoded()))
					return err == nil && fi.Size() >= big.Size/2
				}
				for _, b := range []v1.Descriptor{img.Config, img.Layers[0], img.Layers[2]} {
					if _, err := c.BlobHead(ctx, mustParse(t, dest), b.Digest); err != nil {
						return false
					}
				}
				return true
			}
			for deadline := time.Now().Add(30 * time.Second); !arrived(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the first run never got as far as the stall")
				}
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("interrupted Sync: %v, want context.Canceled", err)
			}
			proxy.NoStall()

			// What arrived before the interruption.
			present := map[digest.Digest]bool{}
			for _, b := range append([]v1.Descriptor{img.Config}, img.Layers...) {
				if toStore {
					present[b.Digest] = storeHas(t, a, b.Digest)
				} else if _, err := c.BlobHead(ctx, mustParse(t, dest), b.Digest); err == nil {
					present[b.Digest] = true
				}
			}
			if present[big.Digest] || len(present) == 0 {
				t.Fatalf("after the interruption: %v; want the small blobs and not the large one", present)
			}
			proxy.Reset()
			sums := runSync(t, a, cfg, hostagent.SyncOptions{})
			if s := sums[cfg.RuleNames()[0]]; s.Images.Copied != 1 || s.Blobs.Skipped != countTrue(present) || s.Blobs.Copied != 4-countTrue(present) {
				t.Errorf("resumed run: %+v, with %d blob(s) there before", s, countTrue(present))
			}
			for d, there := range present {
				if n := proxy.Served(d); there && n != 0 {
					t.Errorf("blob %s was there, and %d bytes of it were fetched again", d, n)
				}
			}
			served := proxy.Served(big.Digest)
			t.Logf("resumed run fetched %d of the large layer's %d bytes", served, big.Size)
			if toStore && served > big.Size/2+(64<<10) {
				t.Errorf("the store's resume fetched %d bytes of %d; want the second half only", served, big.Size)
			}
			if !toStore && served != big.Size {
				t.Errorf("the large layer's copy fetched %d bytes, want %d", served, big.Size)
			}
			ref := dest + ":1"
			if toStore {
				if imgs, err := a.List(ctx, hostagent.Filter{}); err != nil || len(imgs) != 1 || imgs[0].Digest != img.Digest {
					t.Errorf("store after the resumed run: %+v, %v", imgs, err)
				}
			} else if d := headDigest(t, c, ref); d != img.Digest {
				t.Errorf("%s is %s, want %s", ref, d, img.Digest)
			}
		})
	}
}

func storeHas(t *testing.T, a *hostagent.Agent, d digest.Digest) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(a.Root(), "blobs", d.Algorithm().String(), d.Encoded()))
	return err == nil
}

func countTrue(m map[digest.Digest]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// TestSyncDryRun: a dry run reads and counts, and writes nothing, to a
// registry or to the store.
func TestSyncDryRun(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	down := hatest.StartCountedBerth(t)
	c := client.New()
	for _, tag := range []string{"1", "2"} {
		hatest.Push(t, ctx, c, up.Host+"/team/app:"+tag, testImage(t, "dry", tag, 1<<10))
	}
	a := syncAgent(t, nil)
	cfg := parseSyncYAML(t, `
rules:
  - {name: reg, source: "%[1]s/team/app", destination: "%[2]s/mirror/app"}
  - {name: store, source: "%[1]s/team/app", destination: local}
`, up.Host, down.Host)
	before := snapshotStore(t, a)
	sums := runSync(t, a, cfg, hostagent.SyncOptions{DryRun: true})
	for _, name := range []string{"reg", "store"} {
		if s := sums[name]; !s.DryRun || s.Images.Copied != 2 || s.Blobs.Copied != 5 || s.Bytes == 0 {
			t.Errorf("dry run %s: %+v; want 2 images, 5 distinct blobs (a shared base) counted", name, s)
		}
	}
	for kind, n := range down.Counts() {
		if kind != "HEAD manifest" && kind != "HEAD blob" {
			t.Errorf("dry run made %d %q request(s) at the destination", n, kind)
		}
	}
	if up.Count("GET blob") != 0 {
		t.Errorf("dry run fetched blobs: %s", hatest.FormatCounts(up.Counts()))
	}
	if after := snapshotStore(t, a); after != before {
		t.Errorf("dry run changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if repos, err := c.Catalog(ctx, down.Host); err != nil || len(repos) != 0 {
		t.Errorf("dry run: destination catalog %q, %v", repos, err)
	}
}

// TestSyncPlatformsSparse: with a list of platforms, only those children
// go, under the source's own index (same digest), to a destination that
// takes sparse indexes; one that does not says so.
func TestSyncPlatformsSparse(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	sparse := hatest.StartCountedBerth(t, registry.WithIndexPlatforms("none", nil))
	strict := hatest.StartCountedBerth(t)
	c := client.New()
	imgs := map[string]*hatest.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		imgs[p] = platformImage(t, "sparse", p)
	}
	idx := hatest.PushIndex(t, ctx, c, up.Host+"/team/multi:1", imgs)
	a := syncAgent(t, nil)
	cfg := parseSyncYAML(t, `
rules:
  - {name: sparse, source: "%[1]s/team/multi:1", destination: "%[2]s/m/multi", platforms: [linux/arm64, linux/arm/v7]}
  - {name: strict, source: "%[1]s/team/multi:1", destination: "%[3]s/m/multi", platforms: [linux/arm64]}
`, up.Host, sparse.Host, strict.Host)
	sums, err := a.Sync(ctx, cfg, hostagent.SyncOptions{})
	if s := sums[0]; s.Images.Copied != 1 || s.Blobs.Copied != 4 {
		t.Errorf("sparse: %+v", s)
	}
	if d := headDigest(t, c, sparse.Host+"/m/multi:1"); d != idx {
		t.Errorf("sparse index is %s, want the source's %s", d, idx)
	}
	for p, img := range imgs {
		d := headDigest(t, c, sparse.Host+"/m/multi@"+img.Digest.String())
		if want := p != "linux/amd64"; (d != "") != want {
			t.Errorf("child %s at the destination: %v, want %v", p, d != "", want)
		}
	}
	if s := sums[1]; s.Images.Failed != 1 || err == nil || !strings.Contains(err.Error(), "sparse index") {
		t.Errorf("strict destination: %+v, %v; want a failure that explains sparse indexes", s, err)
	}

	// A platform added to the rule: the same index is completed.
	more := parseSyncYAML(t, "rules:\n  - {name: sparse, source: %q, destination: %q, platforms: [linux/arm64, linux/arm/v7, linux/amd64]}\n",
		up.Host+"/team/multi:1", sparse.Host+"/m/multi")
	if s := runSync(t, a, more, hostagent.SyncOptions{})["sparse"]; s.Images.Copied != 1 || s.Blobs.Copied != 2 {
		t.Errorf("with linux/amd64 added: %+v; want its 2 blobs and the index again", s)
	}
	if d := headDigest(t, c, sparse.Host+"/m/multi@"+imgs["linux/amd64"].Digest.String()); d == "" {
		t.Error("linux/amd64 still missing")
	}
	if s := runSync(t, a, more, hostagent.SyncOptions{})["sparse"]; s.Images.Skipped != 1 {
		t.Errorf("once complete: %+v", s)
	}
}

// TestSyncRegistryLimits: a registry's concurrency bounds the blobs
// moving from it at once, and its rps the requests a second.
func TestSyncRegistryLimits(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	down := hatest.StartCountedBerth(t)
	up.SlowBlobs(5 * time.Millisecond) // so that transfers overlap when allowed to
	c := client.New()
	for _, tag := range []string{"1", "2", "3", "4"} {
		hatest.Push(t, ctx, c, up.Host+"/team/app:"+tag, testImage(t, "limits", tag, 100<<10))
	}
	run := func(limits string) (time.Duration, int, int) {
		t.Helper()
		up.Reset()
		a := syncAgent(t, nil)
		cfg := parseSyncYAML(t, "registries:\n  %[1]q: {%[3]s}\nrules:\n  - {source: %[1]s/team/app, destination: %[2]s/m%[4]d/app}\n",
			up.Host, down.Host, limits, time.Now().UnixNano())
		start := time.Now()
		runSync(t, a, cfg, hostagent.SyncOptions{})
		total := 0
		for _, n := range up.Counts() {
			total += n
		}
		return time.Since(start), up.MaxBlobGets(), total
	}
	if _, most, _ := run("concurrency: 8"); most < 2 {
		t.Logf("note: with concurrency 8 at most %d blob GETs overlapped (a loaded machine?)", most)
	}
	if _, most, _ := run("concurrency: 1"); most != 1 {
		t.Errorf("concurrency 1: %d blob GETs at once", most)
	}
	took, _, requests := run("rps: 40, burst: 1")
	if min := time.Duration(requests-1) * time.Second / 40; took < min {
		t.Errorf("rps 40: %d requests in %s, want at least %s", requests, took, min)
	}
	t.Logf("rps 40: %d requests in %s", requests, took.Round(time.Millisecond))
}
