package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// The columns list and find share, in this order.
var wantColumns = []string{"NAME", "TAG", "VERSION", "PUBLISHER", "OS IMAGE", "OS", "ARCH", "OS VERSION", "IMAGE ID", "SIZE", "CREATED", "BASE"}

// headerColumns splits a table header into its columns (separated by two
// spaces or more).
func headerColumns(out string) []string {
	head, _, _ := strings.Cut(out, "\n")
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(head), -1)
}

// rowOf returns the cells of the table row whose first cell is name and
// second tag.
func rowOf(t *testing.T, out, name, tag string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n")[1:] {
		cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		if len(cells) > 1 && cells[0] == name && cells[1] == tag {
			return cells
		}
	}
	t.Fatalf("no row %s %s in:\n%s", name, tag, out)
	return nil
}

// osImages builds a Windows base (no base annotation, os.version set) and
// an image built FROM it by a tool that wrote no base annotation: its
// layers start with the base's.
func osImages(t *testing.T) (base, derived *hatest.Image) {
	t.Helper()
	baseLayer := []hatest.File{{Name: "Files/Windows/win.ini", Data: []byte("[fonts]\n")}}
	base = hatest.NewImage(t, hatest.Spec{
		Layers:      [][]hatest.File{baseLayer},
		Platform:    v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1234"},
		Annotations: map[string]string{v1.AnnotationVendor: "CN=Microsoft", v1.AnnotationVersion: "10.0.17763.1234"},
	})
	derived = hatest.NewImage(t, hatest.Spec{
		Layers:   [][]hatest.File{baseLayer, {{Name: "Files/app.exe", Data: hatest.Random("derived", 300<<10)}}},
		Platform: v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1234"},
		Labels:   map[string]string{v1.AnnotationVersion: "1.0"},
	})
	return base, derived
}

// TestListColumnsFormatsAndBases: list's columns, OS/ARCH/OS VERSION from
// the config, SIZE with its compression, --format templates, --no-trunc,
// --digests and --sort; an image built on an installed base without saying
// so is no OS image, and names that base.
func TestListColumnsFormatsAndBases(t *testing.T) {
	ha := newCLI(t)
	base, derived := osImages(t)
	layout := filepath.Join(t.TempDir(), "layout")
	hatest.WriteLayout(t, layout, map[string]*hatest.Image{"example.com/os/servercore:ltsc2019": base, "example.com/app/web:1.0": derived})
	ha.run(t, "load", "-i", layout)

	table := ha.run(t, "list")
	if got := headerColumns(table); !slices.Equal(got, wantColumns) {
		t.Errorf("list columns %q, want %q", got, wantColumns)
	}
	b := rowOf(t, table, "example.com/os/servercore", "ltsc2019")
	d := rowOf(t, table, "example.com/app/web", "1.0")
	col := func(row []string, name string) string { return row[slices.Index(wantColumns, name)] }
	if col(b, "OS") != "windows" || col(b, "ARCH") != "amd64" || col(b, "OS VERSION") != "10.0.17763.1234" || col(b, "OS IMAGE") != "yes" {
		t.Errorf("base row %q", b)
	}
	if col(d, "OS IMAGE") != "no" || col(d, "BASE") != "example.com/os/servercore:ltsc2019" {
		t.Errorf("derived row %q: want no OS image, base recognised by its layers", d)
	}
	if !strings.HasSuffix(col(d, "SIZE"), "(gzip)") || col(b, "IMAGE ID") != shortDigest(base.Digest) {
		t.Errorf("derived row %q", d)
	}
	if imgs := ha.list(t, "--filter", "os-image=true"); len(imgs) != 1 || imgs[0].Digest != base.Digest {
		t.Errorf("os-image=true: %+v", imgs)
	}

	if out := ha.run(t, "list", "--format", "{{.Name}}:{{.Tag}}"); out != "example.com/app/web:1.0\nexample.com/os/servercore:ltsc2019\n" {
		t.Errorf("--format {{.Name}}:{{.Tag}}: %q", out)
	}
	out := ha.run(t, "list", "--format", `table {{.Repository}}\t{{.OSVersion}}\t{{.OSImage}}`)
	if got := headerColumns(out); !slices.Equal(got, []string{"REPOSITORY", "OSVERSION", "OSIMAGE"}) {
		t.Errorf("table template header %q:\n%s", got, out)
	}
	if !containsLine(out, "10.0.17763.1234") || !containsLine(out, "true") {
		t.Errorf("table template:\n%s", out)
	}
	if out := ha.run(t, "list", "--no-trunc"); !strings.Contains(out, base.Digest.String()) {
		t.Errorf("--no-trunc lacks the full digest:\n%s", out)
	}
	out = ha.run(t, "list", "--digests")
	if cols := headerColumns(out); !slices.Contains(cols, "DIGEST") || !strings.Contains(out, derived.Digest.String()) {
		t.Errorf("--digests:\n%s", out)
	}
	if out := ha.run(t, "list", "--sort", "size", "--format", "{{.Name}}"); out != "example.com/app/web\nexample.com/os/servercore\n" {
		t.Errorf("--sort size: %q", out)
	}
	ha.fail(t, exitUsage, "list", "--format", "{{.Nope}}")
	ha.fail(t, exitUsage, "list", "--sort", "colour")
	ha.fail(t, exitUsage, "inspect", "--format", "{{.Name}}", "example.com/app/web:1.0")
}

// TestListAndFindMakeNoStore: on a store that does not exist, list prints
// an empty table and find works, and neither creates it.
func TestListAndFindMakeNoStore(t *testing.T) {
	srv := registrytest.Start(t, inmemory.New())
	hatest.Push(t, t.Context(), client.New(), srv.Host+"/os/base:1", hatest.NewImage(t, hatest.Spec{}))
	ha := newCLI(t)
	if out := ha.run(t, "list"); !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 1 {
		t.Errorf("list of no store: %q", out)
	}
	if out := ha.run(t, "list", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --format json of no store: %q", out)
	}
	ha.run(t, "find", srv.Host+"/*")
	if _, err := os.Stat(ha.store); !os.IsNotExist(err) {
		t.Errorf("list or find made the store: %v", err)
	}
}

// TestFindColumnsAndNewest: find shows list's columns; a tag without a
// version ranks below versions (and a prerelease below releases), so the
// newest is what sync would copy; an image found beside its base, with no
// base annotation, is no OS image.
func TestFindColumnsAndNewest(t *testing.T) {
	srv := registrytest.Start(t, inmemory.New(), registry.WithDelete(true))
	ctx := t.Context()
	c := client.New()
	base, derived := osImages(t)
	hatest.Push(t, ctx, c, srv.Host+"/os/servercore:ltsc2019", base)
	hatest.Push(t, ctx, c, srv.Host+"/app/web:1.0", derived)
	for _, tag := range []string{"latest", "1.0", "0.9", "2.0-rc1"} {
		img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "v", Data: []byte(tag)}}}})
		hatest.Push(t, ctx, c, srv.Host+"/team/tool:"+tag, img)
	}
	ha := newCLI(t)
	table := ha.run(t, "find", srv.Host+"/*")
	if got := headerColumns(table); !slices.Equal(got, wantColumns) {
		t.Errorf("find columns %q, want list's %q", got, wantColumns)
	}
	row := rowOf(t, table, srv.Host+"/team/tool", "1.0")
	if row[slices.Index(wantColumns, "VERSION")] != "1.0" {
		t.Errorf("newest tool: %q", row)
	}
	col := func(row []string, name string) string { return row[slices.Index(wantColumns, name)] }
	b := rowOf(t, table, srv.Host+"/os/servercore", "ltsc2019")
	if col(b, "OS") != "windows" || col(b, "OS VERSION") != "10.0.17763.1234" || col(b, "OS IMAGE") != "yes" || !strings.HasSuffix(col(b, "SIZE"), "(gzip)") {
		t.Errorf("base row %q", b)
	}
	if d := rowOf(t, table, srv.Host+"/app/web", "1.0"); col(d, "OS IMAGE") != "no" || col(d, "BASE") != shortDigest(base.Digest) {
		t.Errorf("derived row %q: want no OS image, its base recognised by its layers", d)
	}
	out := ha.run(t, "find", srv.Host+"/team/tool", "--all-versions", "--format", "{{.Tag}}")
	if got := strings.Fields(out); !slices.Equal(got, []string{"1.0", "0.9", "2.0-rc1", "latest"}) {
		t.Errorf("find --all-versions order %q: want releases newest first, then the prerelease, then latest", got)
	}
	if out := ha.run(t, "find", srv.Host+"/team/tool", "--all-versions", "--sort", "tag", "--format", "{{.Tag}}"); strings.Fields(out)[0] != "0.9" {
		t.Errorf("find --sort tag: %q", out)
	}
}
