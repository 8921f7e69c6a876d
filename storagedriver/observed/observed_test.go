package observed_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// counter is an Observer that keeps what it was told.
type counter struct {
	mu   sync.Mutex
	ops  map[string]int
	errs map[string]int
}

func (c *counter) StorageOp(driver, op string, _ time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops, c.errs = map[string]int{}, map[string]int{}
	}
	c.ops[driver+" "+op]++
	if err != nil {
		c.errs[driver+" "+op]++
	}
}

func fsDriver(t *testing.T) storagedriver.Driver {
	d, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSuite proves the wrapper meets the storagedriver contract over the
// in-memory and filesystem drivers, optional capabilities included.
func TestSuite(t *testing.T) {
	t.Run("inmemory", func(t *testing.T) {
		drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return observed.Wrap(inmemory.New(), &counter{}) })
	})
	t.Run("filesystem", func(t *testing.T) {
		drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return observed.Wrap(fsDriver(t), &counter{}) })
	})
	t.Run("s3", func(t *testing.T) {
		drivertest.Run(t, func(t *testing.T) storagedriver.Driver { return observed.Wrap(s3test.NewDriver(t), &counter{}) })
	})
}

// caps lists the optional capabilities d offers.
func caps(d storagedriver.Driver) [4]bool {
	_, w := d.(storagedriver.Walker)
	_, o := d.(storagedriver.Opener)
	_, r := d.(storagedriver.Redirector)
	_, p := d.(storagedriver.PendingPurger)
	return [4]bool{w, o, r, p}
}

// TestCapabilities proves the wrapper offers exactly the capabilities of
// the driver it wraps: none gained (a Redirector that the registry would
// ask for URLs), none lost (the filesystem's Opener and its sendfile, S3's
// presigned redirects).
func TestCapabilities(t *testing.T) {
	for _, d := range []storagedriver.Driver{inmemory.New(), fsDriver(t), s3test.NewDriver(t)} {
		if got, want := caps(observed.Wrap(d, &counter{})), caps(d); got != want {
			t.Errorf("%s: wrapper capabilities (walker, opener, redirector, purger) %v, want %v", d.Name(), got, want)
		}
		if s, ok := d.(fmt.Stringer); ok {
			if got := observed.Wrap(d, &counter{}).(fmt.Stringer).String(); got != s.String() {
				t.Errorf("%s: wrapper String %q, want %q", d.Name(), got, s.String())
			}
		}
	}
}

// TestOpenKeepsFile proves that Open through the wrapper still returns the
// filesystem driver's *os.File, which http.ServeContent sends with
// sendfile.
func TestOpenKeepsFile(t *testing.T) {
	d := observed.Wrap(fsDriver(t), &counter{})
	if err := d.PutContent(t.Context(), "/a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	f, err := d.(storagedriver.Opener).Open(t.Context(), "/a/b")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Fatalf("Open returned %T, want *os.File", f)
	}
}

// TestReports proves every operation reaches the observer with its driver,
// operation and outcome.
func TestReports(t *testing.T) {
	c := &counter{}
	d := observed.Wrap(inmemory.New(), c)
	ctx := t.Context()
	if err := d.PutContent(ctx, "/a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetContent(ctx, "/missing"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("GetContent of a missing path: %v", err)
	}
	w, err := d.Writer(ctx, "/b", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "/b"); err != nil {
		t.Fatal(err)
	}
	if err := d.(storagedriver.Walker).Walk(ctx, "/", func(storagedriver.FileInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"inmemory put_content": 1, "inmemory get_content": 1, "inmemory writer": 1,
		"inmemory writer_commit": 1, "inmemory stat": 1, "inmemory walk": 1}
	for k, n := range want {
		if c.ops[k] != n {
			t.Errorf("%s: %d operations reported, want %d (all: %v)", k, c.ops[k], n, c.ops)
		}
	}
	if len(c.ops) != len(want) {
		t.Errorf("operations reported: %v, want %v", c.ops, want)
	}
	if c.errs["inmemory get_content"] != 1 || len(c.errs) != 1 {
		t.Errorf("errors reported: %v, want one get_content", c.errs)
	}
}
