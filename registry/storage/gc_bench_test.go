package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// BenchmarkPushPull pushes an image (HEAD each blob, upload the missing
// ones, PUT the manifest) and pulls it (GET the manifest, HEAD and read each
// blob) through the store on the filesystem driver. "new" pushes new blobs
// every time (rely's slow path), "again" the same image (its fast path).
// It uses only the store's API, so that it runs on older commits too, for
// a before/after of the garbage collection's request-side cost.
func BenchmarkPushPull(b *testing.B) {
	for _, mode := range []string{"new", "again"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
				// Memory-backed: the fsyncs of a shared disk would drown
				// the difference measured.
				if dir, err = os.MkdirTemp("/dev/shm", "bench-"); err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(dir)
			}
			fs, err := filesystem.New(dir)
			if err != nil {
				b.Fatal(err)
			}
			drv := &countingDriver{Driver: fs}
			s := New(drv)
			benchPushPull(b, ctx, s, "warm")
			drv.ops.Store(0)
			b.ResetTimer()
			for i := range b.N {
				tag := "same"
				if mode == "new" {
					tag = fmt.Sprint(i)
				}
				benchPushPull(b, ctx, s, tag)
			}
			b.ReportMetric(float64(drv.ops.Load())/float64(b.N), "storage-ops/op")
		})
	}
}

// countingDriver counts the driver calls a push and pull make.
type countingDriver struct {
	storagedriver.Driver
	ops atomic.Int64
}

func (d *countingDriver) GetContent(ctx context.Context, p string) ([]byte, error) {
	d.ops.Add(1)
	return d.Driver.GetContent(ctx, p)
}

func (d *countingDriver) PutContent(ctx context.Context, p string, b []byte) error {
	d.ops.Add(1)
	return d.Driver.PutContent(ctx, p, b)
}

func (d *countingDriver) Reader(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	d.ops.Add(1)
	return d.Driver.Reader(ctx, p, off)
}

func (d *countingDriver) Writer(ctx context.Context, p string, a bool) (storagedriver.FileWriter, error) {
	d.ops.Add(1)
	return d.Driver.Writer(ctx, p, a)
}

func (d *countingDriver) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	d.ops.Add(1)
	return d.Driver.Stat(ctx, p)
}

func (d *countingDriver) List(ctx context.Context, p string) ([]string, error) {
	d.ops.Add(1)
	return d.Driver.List(ctx, p)
}

func (d *countingDriver) Move(ctx context.Context, src, dst string) error {
	d.ops.Add(1)
	return d.Driver.Move(ctx, src, dst)
}

func (d *countingDriver) Delete(ctx context.Context, p string) error {
	d.ops.Add(1)
	return d.Driver.Delete(ctx, p)
}

func benchPushPull(b *testing.B, ctx context.Context, s *Store, tag string) {
	var ds []digest.Digest
	for _, part := range []string{"config", "base", "layer"} {
		content := part + " of " + tag
		d := digest.FromString(content)
		ds = append(ds, d)
		if _, err := s.StatBlob(ctx, "bench", d); err == nil {
			continue
		}
		u, err := s.StartUpload(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := u.Commit(ctx, d, strings.NewReader(content), 0); err != nil {
			b.Fatal(err)
		}
	}
	var layers []map[string]any
	for _, d := range ds[1:] {
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1})
	}
	payload, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ds[0], "size": 1},
		"layers": layers})
	if _, err := s.PutManifest(ctx, "bench", tag, "", payload, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := s.GetManifest(ctx, "bench", tag); err != nil {
		b.Fatal(err)
	}
	for _, d := range ds {
		rc, _, err := s.OpenBlob(ctx, "bench", d)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
	}
}
