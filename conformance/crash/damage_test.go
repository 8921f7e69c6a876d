package crash

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestCheckersCatchDamage proves the checks of the crash tests can fail:
// on a store damaged the ways a crash could damage it, the check through
// the API reports the loss and the walk of the store reports the broken
// invariant, and on the undamaged store neither reports anything.
func TestCheckersCatchDamage(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	n := startNode(t, writeConfig(t, filesystemStorage(root)))
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(n.URL)
	ctx := t.Context()
	w := newWorkers(1)[0]
	w.halted, w.cut, w.acks = new(atomic.Bool), new(atomic.Bool), new(atomic.Int64)
	for i := range 4 {
		_ = w.pushImage(ctx, c, nil)
		m := w.manifests[len(w.manifests)-1]
		w.putManifest(ctx, c, m, fmt.Sprintf("d%d", i))
		if !m.sure || !w.tags[m.repo+":"+fmt.Sprintf("d%d", i)].sure {
			t.Fatalf("push %d was not acknowledged", i)
		}
	}
	ms := w.manifests

	check := func(t *testing.T, wantLedger, wantStore string) {
		t.Helper()
		got := verifyLedger(ctx, c, []*worker{w})
		_, problems, err := checkStore(ctx, drv)
		if err != nil {
			t.Fatal(err)
		}
		if wantLedger == "" && got.lost != 0 || wantLedger != "" && !contains(got.problems, wantLedger) {
			t.Errorf("API check: lost %d, problems %q; want one with %q", got.lost, got.problems, wantLedger)
		}
		if wantStore == "" && len(problems) != 0 || wantStore != "" && !contains(problems, wantStore) {
			t.Errorf("store check: problems %q; want one with %q", problems, wantStore)
		}
	}
	v2 := filepath.Join(root, "docker", "registry", "v2")
	blobFile := func(d digest.Digest) string {
		return filepath.Join(v2, "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data")
	}
	repoFile := func(repo string, elem ...string) string {
		return filepath.Join(append([]string{v2, "repositories", repo}, elem...)...)
	}
	// damage replaces the file at p with content (removes it when nil)
	// until the subtest ends.
	damage := func(t *testing.T, p string, content []byte) {
		t.Helper()
		old, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if old == nil {
				os.Remove(p)
			} else if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Error(err)
			}
		})
		if content == nil {
			err = os.Remove(p)
		} else {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			err = os.WriteFile(p, content, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("undamaged", func(t *testing.T) { check(t, "", "") })
	t.Run("corrupt blob", func(t *testing.T) {
		d := ms[0].blobs[1]
		b, err := os.ReadFile(blobFile(d))
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		damage(t, blobFile(d), b)
		check(t, "blob "+d.String()+" of "+ms[0].repo, "blob "+d.String()+": content hashes to")
	})
	t.Run("missing blob", func(t *testing.T) {
		d := ms[1].blobs[1]
		damage(t, blobFile(d), nil)
		check(t, "blob "+d.String()+" of "+ms[1].repo+": acknowledged, now 404",
			"manifest "+ms[1].repo+"@"+ms[1].digest.String()+": references "+d.String())
	})
	t.Run("lost manifest", func(t *testing.T) {
		m := ms[2]
		damage(t, repoFile(m.repo, "_manifests", "revisions", "sha256", m.digest.Encoded(), "link"), nil)
		check(t, "manifest "+m.repo+"@"+m.digest.String()+": acknowledged, now 404",
			"tag "+m.repo+":d2: points to "+m.digest.String()+", which the repository does not have")
	})
	t.Run("dangling tag", func(t *testing.T) {
		d := digest.FromString("never pushed")
		damage(t, repoFile(ms[3].repo, "_manifests", "tags", "dangling", "current", "link"), []byte(d))
		check(t, "", "tag "+ms[3].repo+":dangling: points to "+d.String())
	})
	t.Run("tag moved", func(t *testing.T) {
		damage(t, repoFile(ms[3].repo, "_manifests", "tags", "d3", "current", "link"), []byte(ms[2].digest))
		// The node trusts a tag it read for storage.DefaultTagTTL (the
		// bounded staleness of several writers); a crash restarts it with
		// no cache, so the API check waits the bound out.
		time.Sleep(2 * storage.DefaultTagTTL)
		wantStore := ""
		if ms[2].repo != ms[3].repo {
			wantStore = "tag " + ms[3].repo + ":d3: points to " + ms[2].digest.String()
		}
		check(t, "tag "+ms[3].repo+":d3: points to "+ms[2].digest.String(), wantStore)
	})
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
