package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestGCScale measures a collection of a large filesystem root, written
// directly in Distribution's layout (fast, no fsync), when
// BERTH_GC_SCALE=<repositories>,<manifests per repository> is set, e.g.
//
//	BERTH_GC_SCALE=10000,10 go test ./registry/storage/ -run TestGCScale -v -timeout 1h
//
// Each manifest has a config and a layer of its own and two layers from a
// pool of 100 shared ones; every other manifest loses its tag. It logs the
// time and the peak heap of a run with deleteuntagged. The root goes to
// /dev/shm when there is one (BERTH_GC_SCALE_DIR overrides).
func TestGCScale(t *testing.T) {
	spec := os.Getenv("BERTH_GC_SCALE")
	if spec == "" {
		t.Skip("set BERTH_GC_SCALE=<repositories>,<manifests per repository> to run")
	}
	var repos, per int
	if _, err := fmt.Sscanf(strings.ReplaceAll(spec, ",", " "), "%d %d", &repos, &per); err != nil {
		t.Fatalf("BERTH_GC_SCALE=%q: %v", spec, err)
	}
	base := os.Getenv("BERTH_GC_SCALE_DIR")
	if base == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
	}
	root, err := os.MkdirTemp(base, "gcscale-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)

	began := time.Now()
	shared := make([]digest.Digest, 100)
	for i := range shared {
		shared[i] = writeScaleBlob(t, root, []byte("shared layer "+strconv.Itoa(i)))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for r := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			writeScaleRepo(t, root, r, per, shared)
		}()
	}
	wg.Wait()
	t.Logf("wrote %d repositories, %d manifests, %d blobs in %v", repos, repos*per, 100+3*repos*per, time.Since(began).Round(time.Millisecond))
	waitOld()

	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	s := New(drv)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			max = maxOf(max, m.HeapInuse)
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	r, err := s.CollectGarbage(context.Background(), GCOptions{Grace: time.Millisecond, DeleteUntagged: true})
	close(stop)
	p := <-peak
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gc --delete-untagged: %s; peak HeapInuse %d MiB (idle %d MiB)", strings.Join(strings.Fields(fmt.Sprintf("%+v", *r)), " "),
		p>>20, before.HeapInuse>>20)
	if want := repos * per / 2; r.Manifests != want {
		t.Errorf("deleted %d manifests, want %d", r.Manifests, want)
	}
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func writeScaleFile(t testing.TB, root, p string, b []byte) {
	full := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(full, b, 0o666); err != nil {
		t.Error(err)
	}
}

func writeScaleBlob(t *testing.T, root string, b []byte) digest.Digest {
	d := digest.FromBytes(b)
	writeScaleFile(t, root, layout.BlobDataPath(d), b)
	return d
}

func writeScaleRepo(t *testing.T, root string, r, per int, shared []digest.Digest) {
	name := fmt.Sprintf("org%d/repo%d", r%100, r)
	link := func(p string, d digest.Digest) { writeScaleFile(t, root, p, []byte(d)) }
	for i := range per {
		c := writeScaleBlob(t, root, []byte(fmt.Sprintf("config %s %d", name, i)))
		own := writeScaleBlob(t, root, []byte(fmt.Sprintf("layer %s %d", name, i)))
		layers := []digest.Digest{shared[(r+i)%len(shared)], shared[(r*7+i)%len(shared)], own}
		for _, d := range append([]digest.Digest{c}, layers...) {
			link(layout.LayerLinkPath(name, d), d)
		}
		m := writeScaleBlob(t, root, imageJSON(c, "", layers...))
		link(layout.RevisionLinkPath(name, m), m)
		if i%2 == 0 {
			tag := "v" + strconv.Itoa(i)
			link(layout.TagCurrentPath(name, tag), m)
			link(layout.TagIndexPath(name, tag, m), m)
		}
	}
}
