package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

// snapshot describes every stored path, a directory as "dir" and a file by
// a hash of its content, to tell what requests changed: two equal snapshots
// mean the same paths holding the same bytes.
func snapshot(t *testing.T, drv storagedriver.Driver) map[string]string {
	t.Helper()
	files := map[string]string{}
	w, ok := drv.(storagedriver.Walker)
	if !ok {
		t.Fatalf("%s cannot walk", drv.Name())
	}
	ctx := context.Background()
	err := w.Walk(ctx, "/", func(fi storagedriver.FileInfo) error {
		if fi.IsDir {
			files[fi.Path] = "dir"
			return nil
		}
		b, err := drv.GetContent(ctx, fi.Path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[fi.Path] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameSnapshot reports every path that differs between two snapshots.
func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, a := range after {
		switch b, ok := before[p]; {
		case !ok:
			t.Errorf("added: %s", p)
		case a != b:
			t.Errorf("changed: %s", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("removed: %s", p)
		}
	}
}
