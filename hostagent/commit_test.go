package hostagent

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// commitBase is an OS-like image with what a commit must handle.
func commitBase(t testing.TB) *testImage {
	return &testImage{names: []string{"example.com/os/base:1"}, layers: [][]byte{
		mkTar(t, dir("etc/"), file("etc/a", "a1"), file("etc/b", "b1"), file("etc/c", "c1"),
			dir("del-me/"), file("del-me/x", "x"), dir("del-me/sub/"), file("del-me/sub/y", "y"),
			dir("replace-me/"), file("replace-me/old", "old"),
			dir("bin/"), file("bin/sh", "#!"), hardlink("bin/sh2", "bin/sh"), symlink("sh", "bin/sh"),
			file("to-dir", "was a file"), dir("to-file/"), file("to-file/inner", "i")),
		mkTar(t, file("etc/.wh.c", ""), file("etc/d", "d1")),
	}}
}

// modify changes a tree the same way each time.
func modify(t *testing.T, root string) {
	t.Helper()
	p := func(s string) string { return filepath.Join(root, s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(p("new.txt"), []byte("new"), 0o644))
	must(os.WriteFile(p("etc/a"), []byte("a2"), 0o644))
	must(os.Chmod(p("etc/b"), 0o600))
	must(os.Remove(p("etc/d")))
	must(os.RemoveAll(p("del-me")))
	must(os.RemoveAll(p("replace-me")))
	must(os.Mkdir(p("replace-me"), 0o755))
	must(os.WriteFile(p("replace-me/fresh"), []byte("fresh"), 0o644))
	must(os.Symlink("../etc/a", p("bin/link-a")))
	must(os.WriteFile(p("bin/n1"), []byte("linked"), 0o755))
	must(os.Link(p("bin/n1"), p("bin/n2")))
	must(os.Remove(p("to-dir")))
	must(os.Mkdir(p("to-dir"), 0o700))
	must(os.WriteFile(p("to-dir/f"), []byte("f"), 0o644))
	must(os.RemoveAll(p("to-file")))
	must(os.WriteFile(p("to-file"), []byte("now a file"), 0o644))
	must(unix.Lsetxattr(p("new.txt"), "user.tag", []byte("v"), 0))
	if os.Geteuid() == 0 {
		must(os.Lchown(p("etc/b"), 1000, 1000))
	}
}

func layerEntries(t *testing.T, a *Agent, d v1.Descriptor) []string {
	t.Helper()
	f, err := a.store.OpenBlob(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, comp, err := archive.Decompress(f)
	if err != nil || comp != CompressionGzip {
		t.Fatalf("layer: %v, %v", comp, err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		n := h.Name
		if h.Typeflag == tar.TypeLink {
			n += " => " + h.Linkname
		}
		names = append(names, n)
	}
}

func TestCommitRoundTrip(t *testing.T) {
	ctx := t.Context()
	a := newTestAgent(t)
	base := commitBase(t)
	loadImages(t, a, base)
	c, err := a.CreateContainer(ctx, "c1", "example.com/os/base:1", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != ContainerReady || c.Image != base.desc.Digest || c.ImageName != "example.com/os/base:1" {
		t.Errorf("container record: %+v", c)
	}
	root := a.ContainerRootfs("c1")
	if _, err := os.Lstat(filepath.Join(root, "etc/c")); !os.IsNotExist(err) {
		t.Errorf("etc/c survived its whiteout: %v", err)
	}
	opts := CommitOptions{Name: "example.com/team/app", Version: "2.0", Publisher: "Example Corp",
		Message: "add the app", Author: "ops@example.com", Timestamp: &testTime}

	before := snapshot(t, a.Root())
	res, err := a.Commit(ctx, "c1", opts)
	if err != nil || !res.Unchanged {
		t.Fatalf("commit of an unchanged container: %+v, %v", res, err)
	}
	if after := snapshot(t, a.Root()); after != before {
		t.Errorf("an unchanged commit wrote:\n%s\n---\n%s", before, after)
	}

	modify(t, root)
	res, err = a.Commit(ctx, "c1", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.Reference != "example.com/team/app:2.0" {
		t.Fatalf("commit: %+v", res)
	}
	got := layerEntries(t, a, res.Layer)
	want := []string{
		"bin/link-a", "bin/n1", "bin/n2 => bin/n1", ".wh.del-me", "etc/a", "etc/b", "etc/.wh.d",
		"new.txt", "replace-me/", "replace-me/.wh..wh..opq", "replace-me/fresh",
		"to-dir/", "to-dir/f", "to-file",
	}
	slices.Sort(want)
	sortedGot := slices.Clone(got)
	slices.Sort(sortedGot)
	if !slices.Equal(sortedGot, want) {
		t.Errorf("layer entries:\n got %q\nwant %q", got, want)
	}
	if i, j := slices.Index(got, "replace-me/"), slices.Index(got, "replace-me/.wh..wh..opq"); j != i+1 {
		t.Errorf("the opaque marker does not follow its directory: %q", got)
	}
	if res.Added != 6 || res.Deleted != 2 {
		t.Errorf("stats: %+v", res.DiffStats)
	}

	d, err := a.Inspect(ctx, res.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if d.Base == nil || d.Base.Digest != base.desc.Digest || d.Base.Name != "example.com/os/base:1" || d.OSImage {
		t.Errorf("base: %+v", d.Base)
	}
	if d.Publisher != "Example Corp" || d.Version != "2.0" || d.Annotations[v1.AnnotationTitle] != opts.Name ||
		d.Annotations[v1.AnnotationCreated] != testTime.Format(time.RFC3339) {
		t.Errorf("annotations: %v", d.Annotations)
	}
	if h := d.History[len(d.History)-1]; h.Comment != "add the app" || h.Author != opts.Author || !h.Created.Equal(testTime) {
		t.Errorf("history: %+v", d.History)
	}
	if len(d.Layers) != 3 {
		t.Errorf("layers: %d", len(d.Layers))
	}

	// The same changes in another container give the same image.
	if _, err := a.CreateContainer(ctx, "c2", "example.com/os/base:1", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // other mtimes: --timestamp must hide them
	modify(t, a.ContainerRootfs("c2"))
	res2, err := a.Commit(ctx, "c2", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Digest != res.Digest || res2.Layer.Digest != res.Layer.Digest {
		t.Errorf("same changes, other digests: %s/%s vs %s/%s\nc1's layer: %q\nc2's layer: %q", res.Digest, res.Layer.Digest,
			res2.Digest, res2.Layer.Digest, got, layerEntries(t, a, res2.Layer))
	}

	// A container made from the committed image has the same tree.
	if _, err := a.CreateContainer(ctx, "c3", res.Reference, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := hatest.DiffTrees(hatest.Tree(t, root), hatest.Tree(t, a.ContainerRootfs("c3"))); diff != "" {
		t.Errorf("the committed image unpacks to another tree:\n%s", diff)
	}
	if _, err := a.Remove(ctx, "example.com/os/base:1", false); !errors.Is(err, ErrInUse) {
		t.Errorf("remove of the containers' base: %v", err)
	}
	cs, err := a.ListContainers(ctx)
	if err != nil || len(cs) != 3 {
		t.Fatalf("list: %+v, %v", cs, err)
	}
	if _, err := a.CreateContainer(ctx, "c1", res.Reference, CreateOptions{}); !errors.Is(err, ErrInUse) {
		t.Errorf("a second c1: %v", err)
	}
	for _, n := range []string{"c1", "c2", "c3"} {
		if err := a.RemoveContainer(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RemoveContainer(ctx, "c1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove a removed container: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(a.Root(), "containers")); len(entries) != 0 {
		t.Errorf("left in containers/: %v", entries)
	}
}

// TestCommitFailureLeavesStoreUnchanged: a commit that fails at any step
// takes back what it wrote.
func TestCommitFailureLeavesStoreUnchanged(t *testing.T) {
	ctx := t.Context()
	a := newTestAgent(t)
	loadImages(t, a, commitBase(t))
	if _, err := a.CreateContainer(ctx, "c", "example.com/os/base:1", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	modify(t, a.ContainerRootfs("c"))
	before := snapshot(t, a.Root())
	boom := errors.New("boom")
	for _, step := range []string{"layer", "config", "manifest", "index"} {
		st := &failingStore{commitStore: a.store, after: step, err: boom}
		_, err := a.commit(ctx, st, "c", CommitOptions{Name: "x/app", Version: "1"})
		if !errors.Is(err, boom) {
			t.Fatalf("failing at %s: %v", step, err)
		}
		if after := snapshot(t, a.Root()); after != before {
			t.Errorf("failing at %s changed the store:\n%s\n---\n%s", step, before, after)
		}
	}
	if _, err := a.Commit(ctx, "c", CommitOptions{Name: "x/app", Version: "1"}); err != nil {
		t.Fatal(err)
	}
}

// failingStore is the store with one failure, just after a commit has
// written step: "layer" (the layer is published, the config is not),
// "config", "manifest", or "index" (in the index update, before it
// changes anything).
type failingStore struct {
	commitStore
	after string
	err   error
	puts  int
}

func (f *failingStore) PutBlob(d digest.Digest, data []byte) error {
	f.puts++
	if (f.after == "layer" && f.puts == 1) || (f.after == "config" && f.puts == 2) {
		return f.err
	}
	return f.commitStore.PutBlob(d, data)
}

func (f *failingStore) UpdateIndex(ctx context.Context, fn func(idx *v1.Index) error) error {
	switch f.after {
	case "manifest":
		return f.err
	case "index":
		return f.commitStore.UpdateIndex(ctx, func(*v1.Index) error { return f.err })
	}
	return f.commitStore.UpdateIndex(ctx, fn)
}

// TestCreateContainerUnsafeImageLeavesNothing: an image with a hostile
// layer is refused; no container, nothing outside, the store as it was.
func TestCreateContainerUnsafeImageLeavesNothing(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	for name, layers := range map[string][][]byte{
		"escape":   {mkTar(t, file("ok", "fine"), symlink("esc", outside), file("esc/evil", "x"))},
		"dot-dot":  {mkTar(t, file("ok", "fine"), file("../../../evil", "x"))},
		"hardlink": {mkTar(t, file("ok", "fine"), hardlink("hl", outside+"/x"))},
	} {
		t.Run(name, func(t *testing.T) {
			a := newTestAgent(t)
			loadImages(t, a, &testImage{names: []string{"evil/img:1"}, layers: layers})
			before := snapshot(t, a.Root())
			_, err := a.CreateContainer(ctx, "bad", "evil/img:1", CreateOptions{})
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("create: %v, want ErrUnsafe", err)
			}
			if after := snapshot(t, a.Root()); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("written outside: %v", entries)
			}
			if cs, _ := a.ListContainers(ctx); len(cs) != 0 {
				t.Errorf("containers: %+v", cs)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
		})
	}
}
