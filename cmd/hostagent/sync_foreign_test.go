package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestCLISyncForeignLayers: sync into the store takes a non-distributable
// layer the registry lacks from its URL, as install does. Wrong content
// there fails that image only (exit 7, naming the layer) and stores
// nothing of it under its name; the right content syncs it whole; an
// unreachable or refused (--foreign-urls) URL stores it without the layer
// with one warning, exit 0, and verify exits 0.
func TestCLISyncForeignLayers(t *testing.T) {
	host := registrytest.Start(t, inmemory.New()).Host
	srv := newLayerServer(t, []byte("not the layer"))
	url := srv.URL + "/layer.tgz"
	layer, data := pushForeign(t, host+"/win/app:1", url)
	_, plain := testImages(t, "syncforeign")
	hatest.Push(t, t.Context(), client.New(), host+"/win/app:plain", plain)
	cfg := filepath.Join(t.TempDir(), "sync.yml")
	writeFile(t, cfg, "rules:\n  - {name: win, source: %s/win/app, destination: local}\n", host)

	ha := newCLI(t)
	msg := ha.fail(t, exitCorrupt, "sync", "--config", cfg)
	if !strings.Contains(msg, layer.Digest.String()) || strings.Contains(msg, "not found") {
		t.Errorf("wrong content: %q", msg)
	}
	imgs := ha.list(t)
	if len(imgs) != 1 || imgs[0].Reference != host+"/win/app:plain" {
		t.Fatalf("after wrong content the store lists %+v, want only the plain image", imgs)
	}
	if snap := ha.snapshot(t); strings.Contains(snap, layer.Digest.Encoded()) {
		t.Errorf("the wrong content stayed in the store:\n%s", snap)
	}

	srv.body.Store(data)
	if warned := ha.warned(t, "sync", "--config", cfg, "-q"); len(warned) != 0 {
		t.Errorf("a fetched layer warned: %q", warned)
	}
	if img := listed(t, ha, host+"/win/app:1"); len(img.Absent) != 0 {
		t.Fatalf("synced without the layer: %+v", img)
	}
	ha.run(t, "verify")

	// Unreachable: stored without the layer, one warning, exit 0.
	dead := deadURL()
	pushForeign(t, host+"/win/dead:1", dead)
	deadCfg := filepath.Join(t.TempDir(), "dead.yml")
	writeFile(t, deadCfg, "rules:\n  - {name: dead, source: %s/win/dead, destination: local}\n", host)
	other := newCLI(t)
	checkWarning(t, other.warned(t, "sync", "--config", deadCfg, "-q"), layer, dead, "unreachable")
	imgs = other.list(t)
	if len(imgs) != 1 || len(imgs[0].Absent) != 1 || imgs[0].Absent[0].Digest != layer.Digest {
		t.Fatalf("list after an unreachable URL: %+v", imgs)
	}
	if out := other.run(t, "verify"); !strings.Contains(out, "0 problem(s), 1 foreign layer(s) not present") {
		t.Errorf("verify after an unreachable URL:\n%s", out)
	}

	// Refused by --foreign-urls: not fetched, the same warning's reason.
	served := srv.served.Load()
	third := newCLI(t)
	checkWarning(t, third.warned(t, "sync", "--config", cfg, "-q", "--foreign-urls", `^https://download\.example\.com/`), layer, url, "not allowed")
	if srv.served.Load() != served {
		t.Error("a refused URL was fetched")
	}
	if img := listed(t, third, host+"/win/app:1"); len(img.Absent) != 1 {
		t.Fatalf("list after a refused URL: %+v", img)
	}
}

// listed is the image ref of c's list.
func listed(t *testing.T, c *cli, ref string) hostagent.Image {
	t.Helper()
	imgs := c.list(t)
	for _, img := range imgs {
		if img.Reference == ref {
			return img
		}
	}
	t.Fatalf("%s is not in the list %+v", ref, imgs)
	return hostagent.Image{}
}
