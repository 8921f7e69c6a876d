package hostagent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

func TestVerifyFindsCorruptionAndRepairs(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	_, app := baseAndApp(t, "verify")
	hatest.Push(t, ctx, client.New(), srv.Host+"/v/app:1", app)
	a := newAgent(t)
	if _, err := a.Pull(ctx, srv.Host+"/v/app:1", hostagent.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Verify(ctx, false)
	if err != nil || rep.Blobs != 5 || len(rep.Problems) != 0 {
		t.Fatalf("clean store: %+v, %v", rep, err)
	}

	// Flip one byte of the big layer (same size: only hashing can tell).
	layer := app.Layers[1].Digest
	path := filepath.Join(a.Root(), "blobs", "sha256", layer.Encoded())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// And lose the config.
	if err := os.Remove(filepath.Join(a.Root(), "blobs", "sha256", app.Config.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	rep, err = a.Verify(ctx, false)
	if !errors.Is(err, hostagent.ErrCorrupt) {
		t.Fatalf("verify of a corrupt store: %v", err)
	}
	kinds := map[string]string{}
	for _, p := range rep.Problems {
		kinds[p.Digest.String()] = p.Kind
		if len(p.Images) != 1 || p.Images[0] != srv.Host+"/v/app:1" {
			t.Errorf("problem %s names images %v", p.Digest, p.Images)
		}
	}
	if len(rep.Problems) != 2 || kinds[layer.String()] != "corrupt" || kinds[app.Config.Digest.String()] != "missing" {
		t.Fatalf("problems: %+v", rep.Problems)
	}

	// Repair deletes the corrupt blob and fetches it and the lost config
	// again from the registry the image came from: all is repaired, so
	// it succeeds.
	if rep, err = a.Verify(ctx, true); err != nil || len(rep.Repaired) != 1 || len(rep.Refetched) != 2 || rep.Unrepaired != 0 {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	if rep, err := a.Verify(ctx, false); err != nil {
		t.Fatalf("after repair: %+v, %v", rep, err)
	}
	if _, err := a.Pull(ctx, srv.Host+"/v/app:1", hostagent.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := a.Verify(ctx, false); err != nil {
		t.Fatalf("after repair and reinstall: %+v, %v", rep, err)
	}
}

func TestRemoveRefusedWhileContainerUsesImage(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	base, _ := baseAndApp(t, "containers")
	hatest.Push(t, ctx, client.New(), srv.Host+"/c/os:1", base)
	a := newAgent(t)
	if _, err := a.Pull(ctx, srv.Host+"/c/os:1", hostagent.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Tag(ctx, srv.Host+"/c/os:1", "local/os:mine"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(a.Root(), "containers", "web1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(hostagent.Container{Name: "web1", Image: base.Digest, ImageName: "local/os:mine", Created: time.Now()})
	if err := os.WriteFile(filepath.Join(dir, hostagent.ContainerFile), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	// Removing one of two names is fine: the image stays.
	if _, err := a.Remove(ctx, "local/os:mine", false); err != nil {
		t.Fatalf("remove one name of two: %v", err)
	}
	_, err := a.Remove(ctx, srv.Host+"/c/os:1", false)
	if !errors.Is(err, hostagent.ErrInUse) {
		t.Fatalf("remove the last name of an image a container uses: %v", err)
	}
	if d, _ := a.Inspect(ctx, base.Digest.String()); len(d.Containers) != 1 {
		t.Errorf("inspect containers: %v", d.Containers)
	}
	res, err := a.Remove(ctx, srv.Host+"/c/os:1", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Errorf("force remove deleted %d blobs a container's image needs", len(res.Deleted))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	res, err = a.Prune(ctx)
	if err != nil || len(res.Deleted) != 4 {
		t.Errorf("prune after the container went: %+v, %v", res, err)
	}
}

func TestConcurrentPullsIntoOneStore(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New(), registry.WithDelete(true))
	c := client.New()
	shared := []hatest.File{{Name: "shared.bin", Data: hatest.Random("shared", 512<<10)}}
	for i := range 8 {
		img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{shared, {{Name: "own", Data: []byte(fmt.Sprint(i))}}}})
		hatest.Push(t, ctx, c, fmt.Sprintf("%s/con/current:%d", srv.Host, i), img)
	}
	root := filepath.Join(t.TempDir(), "store")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// An agent each, as separate processes would have.
			a, err := hostagent.New(root, hostagent.WithDockerConfig(mustDockerConfig(t)))
			if err == nil {
				_, err = a.Pull(ctx, fmt.Sprintf("%s/con/current:%d", srv.Host, i), hostagent.PullOptions{})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a, _ := hostagent.New(root, hostagent.WithDockerConfig(mustDockerConfig(t)))
	list, err := a.List(ctx, hostagent.Filter{})
	if err != nil || len(list) != 8 {
		t.Fatalf("%d images listed after 8 concurrent pulls: %v", len(list), err)
	}
	if _, err := a.Verify(ctx, false); err != nil {
		t.Fatal(err)
	}
}

func mustDockerConfig(t *testing.T) *client.DockerConfig {
	dc, err := client.NewDockerConfig(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return dc
}
