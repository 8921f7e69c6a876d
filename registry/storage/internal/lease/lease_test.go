package lease

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestLease: one node holds the lease; another cannot take it until it
// is released or expires (its node died).
func TestLease(t *testing.T) {
	ctx := context.Background()
	drv := inmemory.New()
	a, b := Lease{Driver: drv}, Lease{Driver: drv}
	if ok, err := a.Acquire(ctx, "a", time.Minute); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.Acquire(ctx, "b", time.Minute); ok || err != nil {
		t.Fatalf("b took a held lease: %v %v", ok, err)
	}
	if ok, _ := a.Acquire(ctx, "a", time.Minute); !ok {
		t.Fatal("a could not renew")
	}
	if err := a.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Acquire(ctx, "b", time.Minute); !ok {
		t.Fatal("b could not take a released lease")
	}
	// b dies: a minute later its lease has expired.
	a.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if ok, _ := a.Acquire(ctx, "a", time.Minute); !ok {
		t.Fatal("a could not take an expired lease")
	}
}
