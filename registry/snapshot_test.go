package registry_test

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

// snapshot lists every stored file with its size, to tell what a request
// changed.
func snapshot(t *testing.T, drv storagedriver.Driver) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	w, ok := drv.(storagedriver.Walker)
	if !ok {
		t.Fatalf("%s cannot walk", drv.Name())
	}
	err := w.Walk(context.Background(), "/", func(fi storagedriver.FileInfo) error {
		if !fi.IsDir {
			files[fi.Path] = fi.Size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
