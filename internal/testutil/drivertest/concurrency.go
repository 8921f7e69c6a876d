package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

var concurrencyTests = []test{
	{"ConcurrentPutContent", testConcurrentPutContent},
	{"ConcurrentWriters", testConcurrentWriters},
}

// version is the content writer i stores when several race on one path:
// one letter repeated, its length telling the writers apart.
func version(i int) []byte {
	return bytes.Repeat([]byte{byte('a' + i)}, 1000+i*4099)
}

// wholeVersion reports whether b is exactly one of the versions.
func wholeVersion(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := int(b[0] - 'a')
	return i >= 0 && i < 26 && bytes.Equal(b, version(i))
}

// testConcurrentPutContent proves that PutContent is safe from many
// goroutines: each distinct path keeps its own content, racing writes to one
// path leave exactly one whole version, and readers racing with them never see
// a torn or mixed one.
func testConcurrentPutContent(t *testing.T, d storagedriver.Driver) {
	const n = 16
	put(t, d, "/cc/same", version(0))
	var wg sync.WaitGroup
	var stop atomic.Bool
	var reads atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() || reads.Load() == 0 {
				b, err := d.GetContent(t.Context(), "/cc/same")
				if err != nil {
					t.Errorf("GetContent during overwrites: %v", err)
					return
				}
				if !wholeVersion(b) {
					t.Errorf("GetContent during overwrites returned %d bytes that are no single version", len(b))
					return
				}
				reads.Add(1)
			}
		})
	}
	var writers sync.WaitGroup
	for i := range n {
		writers.Go(func() {
			p := fmt.Sprintf("/cc/distinct/%d", i)
			if err := d.PutContent(t.Context(), p, []byte(p)); err != nil {
				t.Errorf("PutContent(%q): %v", p, err)
			}
			for range 4 {
				if err := d.PutContent(t.Context(), "/cc/same", version(i)); err != nil {
					t.Errorf("PutContent(/cc/same) by %d: %v", i, err)
				}
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range n {
		p := fmt.Sprintf("/cc/distinct/%d", i)
		wantContent(t, d, p, p)
	}
	if b := get(t, d, "/cc/same"); !wholeVersion(b) {
		t.Errorf("after racing PutContent, /cc/same holds %d bytes that are no single version", len(b))
	}
}

// testConcurrentWriters proves that writers are independent: several
// streaming to distinct paths each publish their own bytes, and several
// streaming to one path in small chunks never interleave: the path ends with
// the whole content of a writer whose Commit succeeded. (On one path a
// writer may fail, since each Writer(append=false) discards the pending
// write there and a backend may count an open write as pending; at least
// one must succeed.)
func testConcurrentWriters(t *testing.T, d storagedriver.Driver) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := map[int]bool{}
	for i := range n {
		wg.Go(func() {
			p := fmt.Sprintf("/cw/distinct/%d", i)
			if err := streamVersion(t, d, p, i); err != nil {
				t.Errorf("writer %d to %s: %v", i, p, err)
			}
		})
		wg.Go(func() {
			if streamVersion(t, d, "/cw/same", i) == nil {
				mu.Lock()
				committed[i] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range n {
		p := fmt.Sprintf("/cw/distinct/%d", i)
		if got := get(t, d, p); !bytes.Equal(got, version(i)) {
			t.Errorf("%s holds %d bytes, want writer %d's %d", p, len(got), i, len(version(i)))
		}
	}
	if len(committed) == 0 {
		t.Fatal("no writer to /cw/same committed")
	}
	if b := get(t, d, "/cw/same"); !wholeVersion(b) || !committed[int(b[0]-'a')] {
		t.Errorf("after racing writers, /cw/same holds %d bytes that are no committed writer's version", len(b))
	}
}

// streamVersion writes version(i) to p in 512-byte chunks and commits.
func streamVersion(t *testing.T, d storagedriver.Driver, p string, i int) error {
	w, err := d.Writer(t.Context(), p, false)
	if err != nil {
		return err
	}
	for b := version(i); len(b) > 0; {
		c := b[:min(512, len(b))]
		if _, err := w.Write(c); err != nil {
			return errors.Join(err, w.Cancel(t.Context()))
		}
		b = b[len(c):]
	}
	if err := w.Commit(t.Context()); err != nil {
		return errors.Join(err, w.Cancel(t.Context()))
	}
	return nil
}
