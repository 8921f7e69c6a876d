package conformance_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestRetentionClients: artifacts pushed and signed (oras attach, through
// the referrers API) over simulated months, one pulled with crane; the
// retention run deletes the stale one with its signature, oras sees the
// rest unchanged, and garbage collection frees the bytes.
func TestRetentionClients(t *testing.T) {
	t.Parallel()
	orasBin := testutil.RequireTool(t, "oras")
	craneBin := testutil.RequireTool(t, "crane")
	drv, err := filesystem.New(t.TempDir())
	must(t, err)
	var mu sync.Mutex
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }
	setDay := func(n int) { mu.Lock(); at = day(n); mu.Unlock() }
	srv := registrytest.Start(t, drv, registry.WithDelete(true), registry.WithGCGrace(10*time.Millisecond),
		registry.WithPullFlushInterval(20*time.Millisecond),
		registry.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return at }))
	oras, crane := client(t, orasBin), client(t, craneBin)
	repo := srv.Host + "/team/app"
	writeFiles(t, oras.Dir, map[string][]byte{"file.txt": []byte("payload\n"), "sig.json": []byte(`{"signed":true}`)})
	push := func(tag string, n int) digest.Digest {
		setDay(n)
		writeFiles(t, oras.Dir, map[string][]byte{"file.txt": []byte("payload of " + tag + "\n")})
		oras.Run(t, "push", "--plain-http", "--no-tty", "--artifact-type", "application/vnd.berth.e2e", repo+":"+tag, "file.txt")
		oras.Run(t, "attach", "--plain-http", "--no-tty", "--distribution-spec", "v1.1-referrers-api",
			"--artifact-type", "application/vnd.berth.e2e.sig", repo+":"+tag, "sig.json")
		return digest.Digest(strings.TrimSpace(string(oras.Run(t, "resolve", "--plain-http", repo+":"+tag))))
	}
	referrers := func(ref string) []digest.Digest {
		var disc struct {
			Referrers []struct {
				Digest digest.Digest `json:"digest"`
			} `json:"referrers"`
		}
		raw := oras.Run(t, "discover", "--plain-http", "--distribution-spec", "v1.1-referrers-api", "--format", "json", ref)
		must(t, json.Unmarshal(raw, &disc))
		var out []digest.Digest
		for _, r := range disc.Referrers {
			out = append(out, r.Digest)
		}
		return out
	}
	old := push("old", 0)
	oldSig := referrers(repo + ":old")
	pulled := push("pulled", 0)
	newer := push("new", 190)
	setDay(150)
	crane.Run(t, "manifest", "--insecure", repo+":pulled")
	store := storage.New(drv, storage.WithGCGrace(10*time.Millisecond))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, _ := store.LastPulled(t.Context(), "team/app", pulled); got.Equal(day(150)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("crane's pull was not flushed")
		}
	}

	set, err := config.ParsePolicies([]byte("retention:\n  rules:\n    - repositories: [\"team/*\"]\n      recent: 90d\n"))
	must(t, err)
	time.Sleep(1200 * time.Millisecond) // past the grace, with the mtime slack
	var out strings.Builder
	rep, err := retention.Run(t.Context(), store, set, retention.Options{Grace: 10 * time.Millisecond, Now: day(200), Out: &out})
	must(t, err)
	if rep.TagsDeleted != 1 || rep.ManifestsDeleted != 2 || len(oldSig) != 1 ||
		!strings.Contains(out.String(), "  delete tag old ("+old.String()+"): not pushed or pulled for 90d\n") ||
		!strings.Contains(out.String(), "  delete manifest "+oldSig[0].String()+": referrer of deleted "+old.String()+"\n") {
		t.Fatalf("retention: %+v\n%s", rep, out.String())
	}
	requireSet(t, "oras repo tags", lines(oras.Run(t, "repo", "tags", "--plain-http", repo)), []string{"new", "pulled"})
	if got := referrers(repo + ":new"); len(got) != 1 {
		t.Errorf("new lost its signature: %v", got)
	}
	if res := oras.Exec(t, "manifest", "fetch", "--plain-http", repo+"@"+old.String()); res.Err == nil {
		t.Errorf("the deleted manifest still pulls")
	}
	r, err := store.CollectGarbage(t.Context(), storage.GCOptions{Grace: 10 * time.Millisecond})
	must(t, err)
	if r.Blobs < 3 {
		t.Errorf("GC after retention freed %d blobs, want the old artifact's and its signature's", r.Blobs)
	}
	crane.Run(t, "manifest", "--insecure", repo+"@"+newer.String())
}
