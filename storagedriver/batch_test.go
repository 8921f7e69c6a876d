package storagedriver_test

import (
	"context"
	"sync"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// ordered is a driver that notes, at each PutContent, which files it had
// already written.
type ordered struct {
	storagedriver.Driver
	mu     sync.Mutex
	before map[string][]string
	done   []string
}

func (o *ordered) PutContent(ctx context.Context, p string, b []byte) error {
	o.mu.Lock()
	o.before[p] = append([]string(nil), o.done...)
	o.mu.Unlock()
	err := o.Driver.PutContent(ctx, p, b)
	o.mu.Lock()
	o.done = append(o.done, p)
	o.mu.Unlock()
	return err
}

// TestPutContentsFallback: on a driver without a Batcher, PutContents
// writes a level only once every file of the levels before it is
// written, and Stage's Publish writes with PutContent.
func TestPutContentsFallback(t *testing.T) {
	ctx := context.Background()
	d := &ordered{Driver: inmemory.New(), before: map[string][]string{}}
	err := storagedriver.PutContents(ctx, d,
		[]storagedriver.Content{{Path: "/a", Data: []byte("a")}, {Path: "/b", Data: []byte("b")}},
		nil,
		[]storagedriver.Content{{Path: "/c", Data: []byte("c")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.before["/c"]; len(got) != 2 {
		t.Errorf("/c written after %v, want after /a and /b", got)
	}
	s, err := storagedriver.Stage(ctx, d, "/s", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "/s"); err == nil {
		t.Error("staged file seen before Publish")
	}
	if err := s.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/a": "a", "/b": "b", "/c": "c", "/s": "s"} {
		if b, err := d.GetContent(ctx, p); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
}
