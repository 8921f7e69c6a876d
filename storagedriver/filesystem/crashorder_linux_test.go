package filesystem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
)

// fileState is a regular file as a snapshot saw it: its inode and content.
type fileState struct {
	ino  uint64
	data string
}

// treeSnap is every regular file under a root, by path relative to it.
type treeSnap map[string]fileState

func snapshotTree(t *testing.T, root string) treeSnap {
	t.Helper()
	s := treeSnap{}
	// A file or directory that goes while the walk runs (a temporary
	// file of a write in the background) is left out.
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && e.IsDir() && e.Name() == redoDir {
			return filepath.SkipDir // the redo log, read on its own
		}
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		s["/"+filepath.ToSlash(rel)] = fileState{ino: fi.Sys().(*syscall.Stat_t).Ino, data: string(b)}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

const v2 = "/docker/registry/v2"

func blobDataPath(d digest.Digest) string {
	return fmt.Sprintf("%s/blobs/%s/%s/%s/data", v2, d.Algorithm(), d.Encoded()[:2], d.Encoded())
}

func repoLink(repo, kind string, d digest.Digest) string {
	return fmt.Sprintf("%s/repositories/%s/%s/%s/%s/link", v2, repo, kind, d.Algorithm(), d.Encoded())
}

// crashPush is a push of runCrashScenario; ack is the number of durable
// events (syncfs calls, flushes) begun when its manifest PUT returned.
type crashPush struct {
	repo, tag        string
	imm              string // a second, immutable tag, or ""
	config, layer, m digest.Digest
	manifest         []byte
	ack              int
}

// crashBlob is a blob upload acknowledged.
type crashBlob struct {
	repo string
	d    digest.Digest
	data string
	ack  int
}

// crashDeletion is a manifest deletion acknowledged, by tag or by digest.
type crashDeletion struct {
	repo, ref string
	m         digest.Digest // by digest: the manifest
	ack       int
}

// crashGone is a path an acknowledged deletion removed.
type crashGone struct {
	what, path string
	ack        int
}

type crashRun struct {
	pushes    []crashPush
	blobs     []crashBlob
	deletions []crashDeletion
	gone      []crashGone
	delStart  int // events begun before the first deletion
}

// runCrashScenario pushes, deletes, prunes, unlinks and collects through
// the registry's storage on d, one request at a time, and returns what was
// acknowledged and when: events reports the durable events begun so far.
// between is called after each push.
func runCrashScenario(t *testing.T, d *Driver, events func() int, between func(i int)) crashRun {
	t.Helper()
	ctx := t.Context()
	// A grace of a millisecond, so that retention below may delete what
	// was just pushed.
	s := storage.New(d, storage.WithGCGrace(time.Millisecond))

	var run crashRun
	putBlob := func(repo string, b []byte) digest.Digest {
		t.Helper()
		dg := digest.FromBytes(b)
		u, err := s.StartUpload(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, dg, bytes.NewReader(b), 0); err != nil {
			t.Fatal(err)
		}
		run.blobs = append(run.blobs, crashBlob{repo, dg, string(b), events()})
		return dg
	}
	for i := range 24 {
		repo := fmt.Sprintf("crash/r%d", i%3)
		tag := fmt.Sprintf("t%d", i%4) // tags move to newer manifests
		config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d}`, i)
		layer := bytes.Repeat(fmt.Appendf(nil, "layer %d ", i), 100*(i%5+1))
		if i%4 == 3 {
			// The blob is stored already (pushed to another repository):
			// the upload only links it, with no commit in between.
			layer = bytes.Repeat(fmt.Appendf(nil, "layer %d ", i-1), 100*((i-1)%5+1))
		}
		p := crashPush{repo: repo, tag: tag}
		p.config = putBlob(repo, config)
		p.layer = putBlob(repo, layer)
		p.manifest = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
			p.config, len(config), p.layer, len(layer))
		if i%6 == 5 {
			// A second tag under an immutability rule: it is claimed on
			// its own before the others are written.
			p.imm = fmt.Sprintf("imm%d", i)
		}
		guard := storage.TagGuard(func(tag string) (string, bool) { return "imm*", strings.HasPrefix(tag, "imm") })
		var extra []string
		if p.imm != "" {
			extra = []string{p.imm}
		}
		if _, err := s.PutManifestGuarded(ctx, repo, tag, "application/vnd.oci.image.manifest.v1+json", p.manifest, extra, guard); err != nil {
			t.Fatal(err)
		}
		p.m = digest.FromBytes(p.manifest)
		p.ack = events()
		run.pushes = append(run.pushes, p)
		between(i)
	}
	pushes := run.pushes
	run.delStart = events()

	// Deletions: by tag, and by digest of a manifest that tags still name
	// (the last push to each tag) or that none does any more.
	del := func(repo, ref string, m digest.Digest) {
		t.Helper()
		if err := s.DeleteManifest(ctx, repo, ref); err != nil {
			t.Fatalf("delete %s@%s: %v", repo, ref, err)
		}
		run.deletions = append(run.deletions, crashDeletion{repo, ref, m, events()})
	}
	del(pushes[23].repo, pushes[23].tag, "")                  // a tag
	del(pushes[22].repo, pushes[22].m.String(), pushes[22].m) // tagged
	del(pushes[1].repo, pushes[1].m.String(), pushes[1].m)    // untagged since
	del(pushes[20].repo, pushes[20].m.String(), pushes[20].m) // tagged
	// Retention: a tag that names a manifest goes, then the manifest (in
	// order: the handshake's durable record before the manifest goes
	// makes the tag's removal durable first). The collector judges ages
	// a second on the safe side (mtimeSlack).
	time.Sleep(1100 * time.Millisecond)
	pr, err := s.NewPruner(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if why, err := pr.Untag(ctx, pushes[21].repo, pushes[21].tag, pushes[21].m); err != nil || why != "" {
		t.Fatalf("retention untag of %s:%s: %q, %v", pushes[21].repo, pushes[21].tag, why, err)
	}
	if why, err := pr.DeleteManifest(ctx, pushes[21].repo, pushes[21].m, ""); err != nil || why != "" {
		t.Fatalf("retention deletion of %s@%s: %q, %v", pushes[21].repo, pushes[21].m, why, err)
	}
	// A blob unlinked from its repository (blob DELETE).
	if err := s.DeleteBlob(ctx, pushes[1].repo, pushes[1].layer); err != nil {
		t.Fatal(err)
	}
	run.gone = append(run.gone, crashGone{"unlinking of " + pushes[1].layer.String() + " from " + pushes[1].repo, repoLink(pushes[1].repo, "_layers", pushes[1].layer), events()})
	// Garbage collection: what it reports deleted is durably gone.
	var gone []storage.Deletion
	if _, err := s.CollectGarbage(ctx, storage.GCOptions{Grace: time.Millisecond, OnDelete: func(x storage.Deletion) { gone = append(gone, x) }}); err != nil {
		t.Fatal(err)
	}
	if len(gone) == 0 {
		t.Fatal("garbage collection deleted nothing")
	}
	for _, x := range gone {
		var p string
		switch x.Kind {
		case "blob":
			p = blobDataPath(x.Digest)
		case "manifest":
			p = repoLink(x.Repo, "_manifests/revisions", x.Digest)
		case "layer link":
			p = repoLink(x.Repo, "_layers", x.Digest)
		default:
			continue
		}
		run.gone = append(run.gone, crashGone{"garbage collection of " + x.String(), p, events()})
	}
	return run

}

// TestPushCrashOrder checks, at every syncfs of a run of pushes and
// deletions through the registry's storage, what a crash of the machine
// could leave. With
// group commit, a syncfs makes durable everything written before it began
// (the snapshot taken then), and the writes made between two syncfs calls
// may reach the disk in any subset and order. So:
//   - a file of the store that shows (or changes) between two syncfs calls
//     must already have had its content, in its inode, in the snapshot of
//     the first (its content durable before the rename that shows it);
//   - a layer or revision link that shows must have its blob in the
//     earlier snapshot, a revision link the layer links of what its
//     manifest references, a tag the revision it points to: no crash can
//     keep the link and lose what it names;
//   - a push acknowledged (its manifest PUT returned) is whole in the
//     snapshot of the last syncfs begun before the acknowledgement, and a
//     deletion acknowledged is absent from it;
//   - a revision goes only once the tags naming it are gone from the
//     earlier snapshot.
//
// One writer at a time, so that each snapshot is the tree as it was at
// one instant; every blob is small, so that all goes through syncfs (a
// write of more than groupSmall bytes fsyncs its own file instead).
func TestPushCrashOrder(t *testing.T) {
	var snaps []treeSnap // snaps[k-1]: taken as syncfs call k began
	var root string
	d := batchDriver(t, func(call int) error {
		snaps = append(snaps, snapshotTree(t, root))
		return nil
	})
	root = d.be.root
	started := func() int {
		d.be.group.mu.Lock()
		defer d.be.group.mu.Unlock()
		return int(d.be.group.started)
	}
	run := runCrashScenario(t, d, started, func(int) {})
	if len(snaps) < 3*len(run.pushes) {
		t.Fatalf("%d syncfs calls for %d pushes: group commit was not used", len(snaps), len(run.pushes))
	}
	pushes, blobAcks, deletions := run.pushes, run.blobs, run.deletions
	for _, g := range run.gone {
		if _, ok := snaps[g.ack-1][g.path]; ok {
			t.Errorf("%s acknowledged after a syncfs that still had %s", g.what, g.path)
		}
	}

	// Acknowledged means durable: a blob and its link when its upload's
	// commit returned, the whole image when its manifest PUT did.
	for i, b := range blobAcks {
		if b.ack < 1 {
			t.Fatalf("blob %d acknowledged before any syncfs", i)
		}
		at := snaps[b.ack-1]
		if f, ok := at[blobDataPath(b.d)]; !ok || f.data != b.data {
			t.Errorf("blob %s acknowledged after syncfs %d, which did not cover its data", b.d, b.ack)
		}
		if f, ok := at[repoLink(b.repo, "_layers", b.d)]; !ok || f.data != b.d.String() {
			t.Errorf("blob %s acknowledged after syncfs %d, which did not cover its link in %s", b.d, b.ack, b.repo)
		}
	}
	for i, p := range pushes {
		if p.ack < 1 {
			t.Fatalf("push %d acknowledged before any syncfs", i)
		}
		at := snaps[p.ack-1]
		want := map[string]string{
			blobDataPath(p.config):                        "",
			blobDataPath(p.layer):                         "",
			blobDataPath(p.m):                             string(p.manifest),
			repoLink(p.repo, "_layers", p.config):         p.config.String(),
			repoLink(p.repo, "_layers", p.layer):          p.layer.String(),
			repoLink(p.repo, "_manifests/revisions", p.m): p.m.String(),
			v2 + "/repositories/" + p.repo + "/_manifests/tags/" + p.tag + "/current/link": p.m.String(),
		}
		if p.imm != "" {
			want[v2+"/repositories/"+p.repo+"/_manifests/tags/"+p.imm+"/current/link"] = p.m.String()
		}
		for path, content := range want {
			f, ok := at[path]
			switch {
			case !ok:
				t.Errorf("push %d (%s:%s) acknowledged after syncfs %d, which did not cover %s", i, p.repo, p.tag, p.ack, path)
			case content != "" && f.data != content:
				t.Errorf("push %d: %s holds %q at its acknowledgement, want %q", i, path, f.data, content)
			}
		}
	}

	// An acknowledged deletion is durable: neither the tag nor the
	// manifest's revision, nor a tag naming it, is in the snapshot of the
	// last syncfs begun before the acknowledgement.
	for _, x := range deletions {
		at := snaps[x.ack-1]
		tags := v2 + "/repositories/" + x.repo + "/_manifests/tags/"
		if x.m == "" {
			if _, ok := at[tags+x.ref+"/current/link"]; ok {
				t.Errorf("deletion of tag %s:%s acknowledged after syncfs %d, which still had it", x.repo, x.ref, x.ack)
			}
			continue
		}
		if _, ok := at[repoLink(x.repo, "_manifests/revisions", x.m)]; ok {
			t.Errorf("deletion of %s@%s acknowledged after syncfs %d, which still had its revision", x.repo, x.m, x.ack)
		}
		for p, f := range at {
			if strings.HasPrefix(p, tags) && strings.HasSuffix(p, "/current/link") && f.data == x.m.String() {
				t.Errorf("deletion of %s@%s acknowledged after syncfs %d, which still had %s naming it", x.repo, x.m, x.ack, p)
			}
		}
	}

	// Between two syncfs calls, nothing shows that a crash could keep
	// without what it needs, and nothing goes that a crash could take
	// while keeping what names it: a revision goes only once no tag
	// naming it was left in the earlier snapshot.
	for k := 1; k < len(snaps); k++ {
		prev, cur := snaps[k-1], snaps[k]
		for path, f := range prev {
			rest, ok := strings.CutPrefix(path, v2+"/repositories/")
			if _, still := cur[path]; still || !ok || !strings.Contains(rest, "/_manifests/revisions/") || !strings.HasSuffix(path, "/link") {
				continue
			}
			repo, _, _ := strings.Cut(rest, "/_")
			tags := v2 + "/repositories/" + repo + "/_manifests/tags/"
			for p, g := range prev {
				if strings.HasPrefix(p, tags) && strings.HasSuffix(p, "/current/link") && g.data == f.data {
					t.Errorf("between syncfs %d and %d, %s goes while %s, naming it, was durable", k, k+1, path, p)
				}
			}
		}
	}
	checked := 0
	for k := 1; k < len(snaps); k++ {
		prev, cur := snaps[k-1], snaps[k]
		inodes := map[uint64]string{}
		for _, f := range prev {
			inodes[f.ino] = f.data
		}
		for path, f := range cur {
			if old, ok := prev[path]; ok && old == f {
				continue
			}
			if !strings.HasPrefix(path, v2+"/") && !strings.Contains(path, "/_pushed/") ||
				strings.HasPrefix(filepath.Base(path), ".") {
				continue // the driver's pending and temporary files, the collector's records
			}
			checked++
			if data, ok := inodes[f.ino]; !ok || data != f.data {
				t.Errorf("between syncfs %d and %d, %s shows with content that was not durable before", k, k+1, path)
			}
			rest, isRepo := strings.CutPrefix(path, v2+"/repositories/")
			if !isRepo || !strings.HasSuffix(path, "/link") {
				continue
			}
			dg, err := digest.Parse(f.data)
			if err != nil {
				t.Errorf("%s holds %q: %v", path, f.data, err)
				continue
			}
			need := func(what, p string) {
				if _, ok := prev[p]; !ok {
					t.Errorf("between syncfs %d and %d, %s shows while %s %s was not durable", k, k+1, path, what, p)
				}
			}
			repo, _, _ := strings.Cut(rest, "/_")
			switch {
			case strings.Contains(rest, "/_layers/"), strings.Contains(rest, "/_manifests/tags/") && strings.Contains(rest, "/index/"):
				need("its blob", blobDataPath(dg))
			case strings.Contains(rest, "/_manifests/revisions/"):
				need("its blob", blobDataPath(dg))
				var m struct {
					Config struct{ Digest digest.Digest }
					Layers []struct{ Digest digest.Digest }
				}
				if err := json.Unmarshal([]byte(cur[blobDataPath(dg)].data), &m); err != nil {
					t.Errorf("manifest %s: %v", dg, err)
					continue
				}
				need("the layer link", repoLink(repo, "_layers", m.Config.Digest))
				for _, l := range m.Layers {
					need("the layer link", repoLink(repo, "_layers", l.Digest))
				}
			case strings.HasSuffix(rest, "/current/link"):
				need("its revision", repoLink(repo, "_manifests/revisions", dg))
			}
		}
	}
	if checked < 7*len(pushes) {
		t.Errorf("only %d files of the store checked as they showed, for %d pushes", checked, len(pushes))
	}
}
