package hostagent

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/layer"
)

// patchRecord rewrites the entry of path in the container's files.json
// with fn, as if the tree had been recorded with other stats: how a test
// makes the clock tick or the inode number it cannot choose.
func patchRecord(t *testing.T, a *Agent, container, path string, fn func(e map[string]any)) {
	t.Helper()
	name := filepath.Join(filepath.Dir(a.ContainerRootfs(container)), layer.FilesFile)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	files, _ := rec["files"].([]any)
	i := slices.IndexFunc(files, func(e any) bool { return e.(map[string]any)["p"] == path })
	if i < 0 {
		t.Fatalf("%s: no %s", name, path)
	}
	fn(files[i].(map[string]any))
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func statOf(t *testing.T, name string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// layerFile is the content of the regular file name in a layer.
func layerFile(t *testing.T, a *Agent, d v1.Descriptor, name string) (string, bool) {
	t.Helper()
	f, err := a.store.OpenBlob(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, _, err := archive.Decompress(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b), true
		}
	}
}

// TestCommitFileRewrittenInRecordTick: a file rewritten right after the
// container was made, in the clock tick its record was taken in, with
// the same size and its mtime set back (as tar, rsync -t or cp -p do),
// has every stat it had; the change is committed all the same. The tick
// is made by writing the new ctime into the record.
func TestCommitFileRewrittenInRecordTick(t *testing.T) {
	ctx := t.Context()
	a := newTestAgent(t)
	loadImages(t, a, commitBase(t))
	if _, err := a.CreateContainer(ctx, "c", "example.com/os/base:1", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(a.ContainerRootfs("c"), "etc/a")
	before := statOf(t, p)
	if err := os.WriteFile(p, []byte("zz"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(before.Mtim.Unix())
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	after := statOf(t, p)
	if after.Ino != before.Ino || after.Size != before.Size || after.Mtim != before.Mtim {
		t.Fatalf("setup: stats %+v, were %+v", after, before)
	}
	patchRecord(t, a, "c", "etc/a", func(e map[string]any) { e["c"] = after.Ctim.Nano() })

	res, err := a.Commit(ctx, "c", CommitOptions{Name: "x/app", Version: "1", Timestamp: &testTime})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged {
		t.Fatal("the rewrite of etc/a was lost: commit saw no change")
	}
	if got, ok := layerFile(t, a, res.Layer, "etc/a"); got != "zz" || res.Modified != 1 {
		t.Errorf("etc/a in the layer: %q (%v); stats %+v", got, ok, res.DiffStats)
	}
}

// TestCommitReusedDirectoryInode: a directory deleted and made again gives
// the same layer whether the new one got another inode number or the old
// one back (which ext4 does often), made by writing the inode number
// into each container's record.
func TestCommitReusedDirectoryInode(t *testing.T) {
	ctx := t.Context()
	a := newTestAgent(t)
	loadImages(t, a, commitBase(t))
	opts := CommitOptions{Name: "x/app", Version: "1", Timestamp: &testTime, Force: true} // each run replaces the last
	var results []CommitResult
	for _, reused := range []bool{true, false} {
		name := map[bool]string{true: "reused", false: "other"}[reused]
		if _, err := a.CreateContainer(ctx, name, "example.com/os/base:1", CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		root := a.ContainerRootfs(name)
		modify(t, root)
		ino := statOf(t, filepath.Join(root, "replace-me")).Ino
		if !reused {
			ino++
		}
		patchRecord(t, a, name, "replace-me", func(e map[string]any) { e["i"] = ino })
		res, err := a.Commit(ctx, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := layerEntries(t, a, res.Layer)
		if !slices.Contains(got, "replace-me/.wh..wh..opq") || slices.Contains(got, "replace-me/.wh.old") {
			t.Errorf("%s inode: layer %q; want replace-me replaced whole", name, got)
		}
		results = append(results, res)
	}
	if results[0].Layer.Digest != results[1].Layer.Digest || results[0].Digest != results[1].Digest {
		t.Errorf("the inode number changed the image: %s/%s vs %s/%s", results[0].Digest, results[0].Layer.Digest,
			results[1].Digest, results[1].Layer.Digest)
	}
}
