package filesystem

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// torn is the content of a file in a crash state whose rename reached the
// disk and whose content did not.
const torn = "\x00torn\x00"

// crashEvent is a durable event of TestPushCrashOrderLogged: a syncfs or a
// log file's fdatasync, with the tree and the log files as they were when
// it began.
type crashEvent struct {
	syncfs bool
	file   int // the log file flushed, when not syncfs
	tree   treeSnap
	logs   [2][]byte
}

// TestPushCrashOrderLogged runs the pushes and deletions of
// TestPushCrashOrder through a driver that owns the redo log, and checks
// what a crash of the machine could leave after every durable event, once
// the log is replayed. After event k:
//   - the tree holds what the last syncfs up to k found (its snapshot),
//     and any part of what was written since, up to the next event: each
//     file as it was then, as it is by then, or renamed into place with
//     its content lost (torn) when that content was not durable;
//   - each log file holds at least what its last fdatasync up to k found,
//     and at most what was written to it by the next event.
//
// For several such states per event, the log's whole records are put
// in place in order, as replay does, and then: no file of the store is
// torn, every link names a blob that is there, a revision the layer links
// of its manifest, a tag its revision; what was acknowledged by event k is
// there, and what was acknowledged deleted is not.
func TestPushCrashOrderLogged(t *testing.T) {
	d, err := New(t.TempDir(), WithRedoLog())
	if err != nil {
		t.Fatal(err)
	}
	r := d.be.redo
	if r == nil || d.be.group == nil {
		t.Fatal("no redo log or no group commit")
	}
	r.every = time.Hour // checkpoints only where the test makes them
	// A slow syncfs (a loaded machine) would turn group commit off, and
	// a deletion's wait would be a syncfs of its own, which the test
	// does not see: the group's clock stands still.
	epoch := time.Now()
	d.be.group.now = func() time.Time { return epoch }
	root := d.be.root
	var mu sync.Mutex
	var events []crashEvent
	readLog := func(i int) []byte {
		b := make([]byte, 1<<20)
		n, err := unix.Pread(r.files[i].fd, b, 0)
		if err != nil {
			t.Errorf("read log %d: %v", i, err)
		}
		return b[:n]
	}
	record := func(syncfs bool, file int) {
		mu.Lock()
		defer mu.Unlock()
		r.mu.Lock()
		if r.files[0].off > 1<<20 || r.files[1].off > 1<<20 {
			t.Error("the log outgrew what the test reads of it")
		}
		r.mu.Unlock()
		events = append(events, crashEvent{syncfs: syncfs, file: file, tree: snapshotTree(t, root), logs: [2][]byte{readLog(0), readLog(1)}})
	}
	d.be.group.syncfs = func(fd int) error {
		record(true, -1)
		return unix.Syncfs(fd)
	}
	for i, f := range r.files {
		f.fdatasync = func(fd int) error {
			record(false, i)
			return unix.Fdatasync(fd)
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(events)
	}
	run := runCrashScenario(t, d, count, func(i int) {
		if i%5 == 4 {
			if err := r.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	})
	record(true, -1) // the end: everything written so far
	mu.Lock()
	defer mu.Unlock()

	var flushes, syncs int
	for _, e := range events {
		if e.syncfs {
			syncs++
		} else {
			flushes++
		}
	}
	if flushes < 2*len(run.pushes) {
		t.Fatalf("%d log flushes, %d syncfs calls for %d pushes: the log was not used", flushes, syncs, len(run.pushes))
	}

	rng := rand.New(rand.NewPCG(1, 2))
	states := 0
	for k := range len(events) - 1 {
		// The tree: the last syncfs up to k, and what was written by k+1.
		var base treeSnap
		for j := k; j >= 0; j-- {
			if events[j].syncfs {
				base = events[j].tree
				break
			}
		}
		after := events[k+1].tree
		// The logs: at least each file's last flush up to k, at most what
		// it held at k+1.
		var least [2][]byte
		for i := range least {
			for j := k; j >= 0; j-- {
				if !events[j].syncfs && events[j].file == i {
					least[i] = events[j].logs[i]
					break
				}
			}
		}
		durable := map[uint64]string{}
		for _, f := range base {
			durable[f.ino] = f.data
		}
		paths := slices.Collect(maps.Keys(base))
		for p := range after {
			if _, ok := base[p]; !ok {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
		for trial := range 6 {
			tree := map[string]string{}
			for _, p := range paths {
				b, inBase := base[p]
				a, inAfter := after[p]
				choice := trial // 0: base, 1: after, else at random
				if trial > 1 {
					choice = rng.IntN(3)
				}
				switch {
				case choice == 0 || choice == 2 && !inAfter:
					if inBase {
						tree[p] = b.data
					}
				case !inAfter:
				case choice == 1 || durable[a.ino] == a.data && inBase == (durable[a.ino] != ""):
					tree[p] = a.data
				default:
					if data, ok := durable[a.ino]; ok && data == a.data {
						tree[p] = a.data
					} else {
						tree[p] = torn
					}
				}
			}
			for mix := range 4 {
				logs := least
				if mix&1 != 0 {
					logs[0] = events[k+1].logs[0]
				}
				if mix&2 != 0 {
					logs[1] = events[k+1].logs[1]
				}
				state := maps.Clone(tree)
				var recs []redoRecord
				for _, l := range logs {
					recs = append(recs, readRecords(l)...)
				}
				slices.SortFunc(recs, func(a, b redoRecord) int { return int(a.seq) - int(b.seq) })
				for _, rec := range recs {
					for _, l := range rec.levels {
						for _, c := range l {
							state[c.Path] = string(c.Data)
						}
					}
				}
				states++
				if msg := checkCrashState(state, run, k, events[len(events)-1].tree); msg != "" {
					t.Fatalf("a crash after event %d of %d (trial %d, logs %d), replayed: %s", k+1, len(events), trial, mix, msg)
				}
			}
		}
	}
	t.Logf("%d events (%d flushes, %d syncfs calls), %d crash states checked", len(events), flushes, syncs, states)
}

// checkCrashState returns what is wrong with state, the store's files
// after a crash after event k and the log's replay, or "". final is the
// tree at the end.
func checkCrashState(state map[string]string, run crashRun, k int, final treeSnap) string {
	has := func(p, data string) bool {
		got, ok := state[p]
		return ok && (data == "" || got == data)
	}
	blobOK := func(dg digest.Digest) bool {
		data, ok := state[blobDataPath(dg)]
		return ok && digest.FromString(data) == dg
	}
	for p, data := range state {
		if !strings.HasPrefix(p, v2+"/") || strings.HasPrefix(p[strings.LastIndex(p, "/")+1:], ".") {
			continue
		}
		if data == torn {
			return p + " is torn"
		}
		rest, isRepo := strings.CutPrefix(p, v2+"/repositories/")
		if !isRepo || !strings.HasSuffix(p, "/link") {
			if strings.HasPrefix(p, v2+"/blobs/") && strings.HasSuffix(p, "/data") {
				enc := p[strings.LastIndex(p[:len(p)-len("/data")], "/")+1 : len(p)-len("/data")]
				if digest.FromString(data).Encoded() != enc {
					return p + " holds the wrong bytes"
				}
			}
			continue
		}
		dg, err := digest.Parse(data)
		if err != nil {
			return fmt.Sprintf("%s holds %q: %v", p, data, err)
		}
		if k >= run.delStart-1 {
			// A collection deletes a blob before the links left naming
			// it (the next one removes them), and a deletion under way
			// is half done: from the first deletion on, only links that
			// stay to the end, whole, are checked.
			if f, stays := final[p]; !stays || f.data != data || strings.Contains(rest, "/index/") {
				continue
			}
		}
		repo, _, _ := strings.Cut(rest, "/_")
		switch {
		case strings.Contains(rest, "/_layers/"), strings.Contains(rest, "/_manifests/tags/") && strings.Contains(rest, "/index/"):
			if !blobOK(dg) {
				return p + " names a blob that is not there"
			}
		case strings.Contains(rest, "/_manifests/revisions/"):
			if !blobOK(dg) {
				return p + " names a manifest that is not there"
			}
			var m struct {
				Config struct{ Digest digest.Digest }
				Layers []struct{ Digest digest.Digest }
			}
			if err := json.Unmarshal([]byte(state[blobDataPath(dg)]), &m); err != nil {
				return fmt.Sprintf("manifest %s: %v", dg, err)
			}
			for _, l := range append([]digest.Digest{m.Config.Digest}, func() (ds []digest.Digest) {
				for _, l := range m.Layers {
					ds = append(ds, l.Digest)
				}
				return ds
			}()...) {
				if !has(repoLink(repo, "_layers", l), "") {
					return fmt.Sprintf("%s is there without the layer link of %s", p, l)
				}
			}
		case strings.HasSuffix(rest, "/current/link"):
			if !has(repoLink(repo, "_manifests/revisions", dg), "") {
				return p + " names a revision that is not there"
			}
		}
	}
	// Acknowledged by event k: durable. ack is the number of events begun
	// before the acknowledgement, so event ack-1 made it durable.
	for _, b := range run.blobs {
		if k >= run.delStart-1 {
			if _, stays := final[repoLink(b.repo, "_layers", b.d)]; !stays {
				continue
			}
		}
		if b.ack-1 <= k && (!has(blobDataPath(b.d), b.data) || !has(repoLink(b.repo, "_layers", b.d), b.d.String())) {
			return fmt.Sprintf("blob %s, acknowledged after event %d, is not whole", b.d, b.ack)
		}
	}
	deleted := map[string]bool{}
	for _, x := range run.deletions {
		if x.ack-1 <= k {
			deleted[x.repo+" "+x.ref] = true
		}
	}
	for i, p := range run.pushes {
		// Once deletions begin, only what stays tagged to the end is
		// sure to stay: the others may be going.
		if p.ack-1 > k || deleted[p.repo+" "+p.m.String()] ||
			k >= run.delStart-1 && final[v2+"/repositories/"+p.repo+"/_manifests/tags/"+p.tag+"/current/link"].data != p.m.String() {
			continue
		}
		for _, l := range []string{repoLink(p.repo, "_layers", p.config), repoLink(p.repo, "_layers", p.layer), repoLink(p.repo, "_manifests/revisions", p.m)} {
			if !has(l, "") {
				return fmt.Sprintf("push %d, acknowledged after event %d, lacks %s", i, p.ack, l)
			}
		}
		if !has(blobDataPath(p.m), string(p.manifest)) {
			return fmt.Sprintf("push %d, acknowledged after event %d, lacks its manifest", i, p.ack)
		}
	}
	for _, x := range run.deletions {
		if x.ack-1 > k {
			continue
		}
		tags := v2 + "/repositories/" + x.repo + "/_manifests/tags/"
		if x.m == "" {
			if has(tags+x.ref+"/current/link", "") {
				return fmt.Sprintf("tag %s:%s, deleted after event %d, is back", x.repo, x.ref, x.ack)
			}
			continue
		}
		if has(repoLink(x.repo, "_manifests/revisions", x.m), "") {
			return fmt.Sprintf("%s@%s, deleted after event %d, is back", x.repo, x.m, x.ack)
		}
	}
	for _, g := range run.gone {
		if g.ack-1 <= k && has(g.path, "") {
			return fmt.Sprintf("%s, acknowledged after event %d: %s is back", g.what, g.ack, g.path)
		}
	}
	return ""
}
