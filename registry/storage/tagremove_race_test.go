package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/times"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// deleteHold runs a function during the at-th deletion counted since it
// was armed, before that deletion reaches the storage.
type deleteHold struct {
	deletes, at atomic.Int64
	during      atomic.Pointer[func()]
}

func (h *deleteHold) arm(at int, during func()) {
	h.deletes.Store(0)
	h.at.Store(int64(at))
	h.during.Store(&during)
}

func (h *deleteHold) deleting() {
	if h.deletes.Add(1) == h.at.Load() {
		if f := h.during.Swap(nil); f != nil {
			(*f)()
		}
	}
}

// heldDriver counts each Delete on its hold.
type heldDriver struct {
	storagedriver.Driver
	hold *deleteHold
}

func (d heldDriver) Delete(ctx context.Context, p string) error {
	d.hold.deleting()
	return d.Driver.Delete(ctx, p)
}

// racingDrivers returns, on driver name ("inmemory", "filesystem" or
// "s3"), a driver whose deletions hold and another on the same storage
// that does not. On S3 the hold is at each DeleteObjects, in a proxy in
// front of versitygw: inside the driver's Delete, after it listed the
// keys it deletes.
func racingDrivers(t *testing.T, name string) (held, direct storagedriver.Driver, hold *deleteHold) {
	hold = &deleteHold{}
	switch name {
	case "inmemory":
		direct = inmemory.New()
	case "filesystem":
		direct = newFS(t)
	default:
		held, direct = s3test.NewProxiedDriver(t, func(_ http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
				hold.deleting()
			}
			return false
		})
		return held, direct, hold
	}
	return heldDriver{direct, hold}, direct, hold
}

// untagSignal notes when a List of dir (a tag's untagging records)
// finds a record: the Tag that listed waits for a remover.
type untagSignal struct {
	storagedriver.Driver
	dir     string
	waiting atomic.Bool
}

func (d *untagSignal) List(ctx context.Context, p string) ([]string, error) {
	l, err := d.Driver.List(ctx, p)
	if p == d.dir && len(l) > 0 {
		d.waiting.Store(true)
	}
	return l, err
}

// tagRemoval prepares, in repository repo, a removal of its tag "t"
// (remove, through a store on held) and a PUT moving "t" to a sound
// manifest (put, through the pusher given), and returns both.
type tagRemoval func(t *testing.T, direct *Store, held storagedriver.Driver, repo string) (remove func() error, put func(pusher *Store) (digest.Digest, error))

// raceTagRemoval plays remove on driver name once per deletion it makes:
// in round k, in a repository of its own, the k-th deletion waits while
// put moves the tag, until the PUT is over or waits for the remover. The
// PUT must succeed; it returns the rounds after which the tag was not
// listed resolving to the PUT's manifest. waitOff turns off Tag's wait
// for untagging records.
func raceTagRemoval(t *testing.T, name string, waitOff bool, prepare tagRemoval) (lost []int) {
	held, direct, hold := racingDrivers(t, name)
	ctx := t.Context()
	for k := 1; ; k++ {
		repo := fmt.Sprintf("race/r%d", k)
		remove, put := prepare(t, New(direct), held, repo)
		sig := &untagSignal{Driver: direct, dir: times.UntaggingDir(repo, "t")}
		pusher := New(sig)
		pusher.untagWaitOff = waitOff
		type result struct {
			d   digest.Digest
			err error
		}
		putDone := make(chan result, 1)
		var over atomic.Bool
		ran := false
		hold.arm(k, func() {
			ran = true
			go func() {
				d, err := put(pusher)
				over.Store(true)
				putDone <- result{d, err}
			}()
			for deadline := time.Now().Add(time.Minute); !over.Load() && !sig.waiting.Load(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("round %d: the PUT neither ended nor waited within a minute", k)
					return
				}
			}
		})
		err := remove()
		hold.during.Store(nil)
		if err != nil {
			t.Fatalf("deletion %d held: removal: %v", k, err)
		}
		if !ran {
			if k == 1 {
				t.Fatal("the removal made no deletion")
			}
			t.Logf("wait off %v: %d deletions held in turn, the PUT lost after %v", waitOff, k-1, lost)
			return lost
		}
		var r result
		select {
		case r = <-putDone:
		case <-time.After(time.Minute):
			t.Fatalf("deletion %d held: the PUT did not end", k)
		}
		if r.err != nil {
			t.Fatalf("deletion %d held: the PUT moving the tag: %v", k, r.err)
		}
		tags, err := pusher.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		m, err := pusher.GetManifest(ctx, repo, "t")
		if !slices.Contains(tags, "t") || err != nil || m.Digest != r.d {
			t.Logf("wait off %v, deletion %d held while a PUT moved the tag: listed %v, resolves to %v, %v; want %s",
				waitOff, k, slices.Contains(tags, "t"), m, err, r.d)
			lost = append(lost, k)
		}
	}
}

// testTagRemovalRace: on every driver, a PUT moving the tag while remove
// deletes it is kept whole whichever deletion it lands in. Played again
// with Tag's wait for the remover off, some round loses the PUT: the
// handshake is what saves it.
func testTagRemovalRace(t *testing.T, prepare tagRemoval) {
	for _, name := range []string{"inmemory", "filesystem", "s3"} {
		t.Run(name, func(t *testing.T) {
			if lost := raceTagRemoval(t, name, false, prepare); len(lost) > 0 {
				t.Errorf("the PUT that moved the tag while deletions %v were held was lost", lost)
			}
			if lost := raceTagRemoval(t, name, true, prepare); len(lost) == 0 {
				t.Error("without Tag's wait no PUT was lost: the test does not exercise the protection")
			}
		})
	}
}

// TestScrubRacingTagPut: a repairing scrub removes a tag pointing at a
// manifest the repository lacks; a PUT moving the tag to a sound manifest
// meanwhile keeps its tag.
func TestScrubRacingTagPut(t *testing.T) {
	testTagRemovalRace(t, func(t *testing.T, direct *Store, held storagedriver.Driver, repo string) (func() error, func(*Store) (digest.Digest, error)) {
		ctx := t.Context()
		_, payload := pushImage(t, direct, repo, "other", []byte(`{"config":"`+repo+`"}`), [][]byte{[]byte("layer")}, nil)
		ghost := digest.FromString("never pushed into " + repo)
		if err := direct.Tag(ctx, repo, "t", ghost); err != nil {
			t.Fatal(err)
		}
		remove := func() error {
			_, err := New(held).Scrub(ctx, ScrubOptions{Repair: true})
			return err
		}
		return remove, func(pusher *Store) (digest.Digest, error) {
			m, err := pusher.PutManifest(ctx, repo, "t", MediaTypeOCIManifest, payload, nil)
			if err != nil {
				return "", err
			}
			return m.Digest, nil
		}
	})
}

// TestRepoDeleteTakebackRacingTagPut: a push refused across a repository
// delete takes its tag back; a push of the new repository moving the tag
// meanwhile keeps its tag.
func TestRepoDeleteTakebackRacingTagPut(t *testing.T) {
	testTagRemovalRace(t, func(t *testing.T, direct *Store, held storagedriver.Driver, repo string) (func() error, func(*Store) (digest.Digest, error)) {
		ctx := t.Context()
		payloadA := imageJSON(putString(t, direct, repo, "config A"), "", putString(t, direct, repo, "layer A"))
		hook := &putHookDriver{Driver: held}
		var payloadB []byte
		hook.before = func(p string) {
			if p != layout.RevisionLinkPath(repo, digest.FromBytes(payloadA)) || payloadB != nil {
				return
			}
			// Between the push's checks and its writes: the whole
			// delete, then the new repository's blobs.
			if _, err := direct.DeleteRepository(ctx, repo, nil); err != nil {
				t.Error(err)
			}
			payloadB = imageJSON(putString(t, direct, repo, "config B"), "", putString(t, direct, repo, "layer B"))
		}
		remove := func() error {
			_, err := New(hook).PutManifest(ctx, repo, "t", "", payloadA, nil)
			if !errors.Is(err, ErrRepositoryDeleting) {
				return fmt.Errorf("push across the delete: %v, want ErrRepositoryDeleting", err)
			}
			return nil
		}
		return remove, func(pusher *Store) (digest.Digest, error) {
			m, err := pusher.PutManifest(ctx, repo, "t", "", payloadB, nil)
			if err != nil {
				return "", err
			}
			return m.Digest, nil
		}
	})
}

// TestScrubSparesTagPushedAgain: a tag whose manifest is pushed again, to
// the same digest, after scrub judged it dangling but before its
// untagging record was written is sound when scrub reads it again: it
// stays, and scrub reports nothing. (Its digest alone would not tell.)
func TestScrubSparesTagPushedAgain(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			drv := mk(t)
			direct := New(drv)
			d, payload := pushImage(t, direct, "app", "t", []byte(`{"config":"again"}`), [][]byte{[]byte("layer")}, nil)
			if err := drv.Delete(ctx, pathDir(layout.RevisionLinkPath("app", d))); err != nil {
				t.Fatal(err)
			}
			hook := &putHookDriver{Driver: drv}
			pushed := false
			hook.before = func(p string) {
				if path.Dir(p) != times.UntaggingDir("app", "t") || pushed {
					return
				}
				pushed = true
				if _, err := direct.PutManifest(ctx, "app", "t", MediaTypeOCIManifest, payload, nil); err != nil {
					t.Error(err)
				}
			}
			var found []string
			if _, err := New(hook).Scrub(ctx, ScrubOptions{Repair: true, Report: func(p Problem) { found = append(found, p.String()) }}); err != nil {
				t.Fatal(err)
			}
			if !pushed {
				t.Fatal("scrub wrote no untagging record")
			}
			if len(found) != 0 {
				t.Errorf("scrub reported %q", found)
			}
			if m, err := direct.GetManifest(ctx, "app", "t"); err != nil || m.Digest != d {
				t.Errorf("the tag pushed again: %v, %v; want %s", m, err, d)
			}
		})
	}
}
