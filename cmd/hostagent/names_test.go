package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// TestLocalNames: a name without a host goes under localhost/ (as podman
// names images), capitals become lower case with a notice, and the short
// name finds the image again — through load --name, tag and commit.
func TestLocalNames(t *testing.T) {
	ha := newCLI(t)
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "etc/os-release", Data: []byte("ID=demo\n")}}}})
	layout := filepath.Join(t.TempDir(), "layout")
	hatest.WriteLayout(t, layout, map[string]*hatest.Image{"example.com/src:1": img})

	r := ha.cmd.Exec(t, ha.args([]string{"load", "-i", layout, "--name", "DemoBase:1.0"})...)
	if r.Err != nil {
		t.Fatalf("load --name DemoBase:1.0: %v\n%s", r.Err, r.Output())
	}
	if !strings.Contains(string(r.Stderr), "names are lower case") || !strings.Contains(string(r.Stderr), "localhost/demobase:1.0") {
		t.Errorf("no notice of the lowered name: %q", r.Stderr)
	}
	if got := strings.Fields(ha.run(t, "list", "-q")); !slices.Equal(got, []string{"localhost/demobase:1.0"}) {
		t.Fatalf("after load --name: %q", got)
	}
	// The short form finds it, as do the capitals.
	ha.run(t, "inspect", "demobase:1.0")
	ha.run(t, "inspect", "DemoBase:1.0")
	ha.run(t, "tag", "demobase:1.0", "copy:2")
	if got := strings.Fields(ha.run(t, "list", "-q")); !slices.Equal(got, []string{"localhost/copy:2", "localhost/demobase:1.0"}) {
		t.Errorf("after tag: %q", got)
	}

	// The cmdlet's own New-ContainerImage -Name DemoImage -Version 1.0.
	var c containerJSON
	if err := json.Unmarshal([]byte(ha.run(t, "container", "create", "demo", "--image", "demobase:1.0", "--format", "json")), &c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Path, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := []string{"commit", "demo", "--name", "DemoImage", "--version", "1.0", "--publisher", "Demo", "--timestamp", "1700000000"}
	r = ha.cmd.Exec(t, ha.args(commit)...)
	if r.Err != nil || !strings.Contains(string(r.Stdout), "committed localhost/demoimage:1.0") || !strings.Contains(string(r.Stderr), "lower case") {
		t.Fatalf("commit --name DemoImage: %v\n%s", r.Err, r.Output())
	}
	imgs := ha.list(t, "demoimage")
	if len(imgs) != 1 || imgs[0].Publisher != "Demo" || imgs[0].OSImage {
		t.Fatalf("list demoimage: %+v", imgs)
	}
	first := imgs[0].Digest

	// Committing again under that name is refused without --force, and
	// leaves the store as it was.
	if err := os.WriteFile(filepath.Join(c.Path, "hello"), []byte("hello again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := ha.snapshot(t)
	if line := ha.fail(t, exitExists, commit...); !strings.Contains(line, "--force") {
		t.Errorf("second commit: %s", line)
	}
	if after := ha.snapshot(t); after != before {
		t.Errorf("a refused commit changed the store:\n%s\n---\n%s", before, after)
	}
	ha.run(t, append(commit, "--force")...)
	if imgs := ha.list(t, "demoimage"); len(imgs) != 1 || imgs[0].Digest == first {
		t.Errorf("commit --force did not replace the image: %+v", imgs)
	}
}

// TestLoadForceAndDamagedArchives: load refuses to move a name to another
// image without --force, is idempotent for the same image, and a damaged
// or cut-short archive exits 7 (not 2), the store unchanged.
func TestLoadForceAndDamagedArchives(t *testing.T) {
	ha := newCLI(t)
	dir := t.TempDir()
	one := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "a", Data: hatest.Random("one", 100<<10)}}}})
	two := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "a", Data: []byte("two")}}}})
	hatest.WriteLayout(t, filepath.Join(dir, "one"), map[string]*hatest.Image{"example.com/x:1": one})
	hatest.WriteLayout(t, filepath.Join(dir, "two"), map[string]*hatest.Image{"example.com/x:1": two})
	ha.run(t, "load", "-i", filepath.Join(dir, "one"))
	ha.run(t, "load", "-i", filepath.Join(dir, "one")) // the same image: nothing to replace
	before := ha.snapshot(t)
	if line := ha.fail(t, exitExists, "load", "-i", filepath.Join(dir, "two")); !strings.Contains(line, "example.com/x:1") {
		t.Errorf("load over another image: %s", line)
	}
	if after := ha.snapshot(t); after != before {
		t.Errorf("a refused load changed the store:\n%s\n---\n%s", before, after)
	}
	ha.run(t, "load", "-i", filepath.Join(dir, "two"), "--force")
	if imgs := ha.list(t); len(imgs) != 1 || imgs[0].Digest != two.Digest {
		t.Errorf("after load --force: %+v", imgs)
	}

	archive := filepath.Join(dir, "one.tar")
	ha.run(t, "save", two.Digest.String(), "-o", archive)
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	other := newCLI(t)
	other.run(t, "list") // no store yet: list makes none
	for name, b := range map[string][]byte{
		"cut.tar":     raw[:len(raw)*2/3],
		"flipped.tar": flipAt(raw, bytes.Index(raw, []byte("two"))),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		other.fail(t, exitCorrupt, "load", "-i", p)
		if imgs := other.list(t); len(imgs) != 0 {
			t.Errorf("%s: loaded %+v", name, imgs)
		}
	}
	other.fail(t, exitUsage, "load", "-i", filepath.Join(dir, "one")+"/index.json")
}

// flipAt returns b with the byte at i changed.
func flipAt(b []byte, i int) []byte {
	b = bytes.Clone(b)
	if i < 0 {
		i = len(b) / 2
	}
	b[i] ^= 0xff
	return b
}

// TestRemoveGlobsAndStdin: remove takes globs and "-" for names on
// standard input, so that list -q piped into rm works like
// Get-ContainerImage -Name x | Remove-ContainerImage -Force.
func TestRemoveGlobsAndStdin(t *testing.T) {
	ha := newCLI(t)
	imgs := map[string]*hatest.Image{}
	for i, ref := range []string{"example.com/team/a:1", "example.com/team/b:1", "example.com/other/c:1", "example.com/other/c:2", "example.com/keep/d:1"} {
		imgs[ref] = hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "f", Data: []byte{byte(i)}}}}})
	}
	layout := filepath.Join(t.TempDir(), "layout")
	hatest.WriteLayout(t, layout, imgs)
	ha.run(t, "load", "-i", layout)

	ha.run(t, "rm", "--force", "example.com/team/*")
	if got := strings.Fields(ha.run(t, "list", "-q")); !slices.Equal(got, []string{"example.com/keep/d:1", "example.com/other/c:1", "example.com/other/c:2"}) {
		t.Errorf("after rm example.com/team/*: %q", got)
	}
	names := ha.run(t, "list", "-q", "--filter", "name=c")
	pipe := ha.cmd
	pipe.Stdin = []byte(names)
	pipe.Run(t, ha.args([]string{"rm", "--force", "-"})...)
	if got := strings.Fields(ha.run(t, "list", "-q")); !slices.Equal(got, []string{"example.com/keep/d:1"}) {
		t.Errorf("after list -q --filter name=c | rm --force -: %q", got)
	}
	ha.fail(t, exitNotFound, "rm", "example.com/nothing/*")
	pipe.Stdin = []byte("")
	pipe.Run(t, ha.args([]string{"rm", "-"})...) // nothing to remove: not an error
}
