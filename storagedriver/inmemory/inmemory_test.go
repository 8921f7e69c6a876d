package inmemory_test

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/drivertest"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestSuite proves the in-memory driver meets the storagedriver contract.
func TestSuite(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return inmemory.New() })
}

// TestDeleteDiscardsOpenWriter proves that deleting a directory also discards
// the write of a writer still open below it: its Commit fails with
// ErrPathNotFound and publishes nothing, so a purged upload cannot reappear.
func TestDeleteDiscardsOpenWriter(t *testing.T) {
	d := inmemory.New()
	ctx := t.Context()
	w, err := d.Writer(ctx, "/up/1/data", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/up/1/startedat", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "/up/1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Commit after Delete: %v, want ErrPathNotFound", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, p := range []string{"/up/1/data", "/up/1", "/up"} {
		if _, err := d.Stat(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("Stat(%s) after Commit of a deleted write: %v, want ErrPathNotFound", p, err)
		}
	}
	if _, err := d.Writer(ctx, "/up/1/data", true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Writer(append) after Delete: %v, want ErrPathNotFound", err)
	}
}
