package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/oci"
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

// pushPlatforms pushes to a new registry team/multi:1, an index of
// windows/amd64 (with os.version), linux/amd64, an attestation and
// linux/arm64, in that order, and team/single:1, an image of one platform.
// It returns the registry's host and the index's platforms as find shows
// them.
func pushPlatforms(t *testing.T) (host string, want []string) {
	t.Helper()
	srv := registrytest.Start(t, inmemory.New())
	ctx, c := t.Context(), client.New()
	plats := []v1.Platform{
		{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1234"},
		{OS: "linux", Architecture: "amd64"},
		{OS: "unknown", Architecture: "unknown"},
		{OS: "linux", Architecture: "arm64"},
	}
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for _, p := range plats {
		img := hatest.NewImage(t, hatest.Spec{Platform: p, Layers: [][]hatest.File{{{Name: "platform", Data: []byte(p.OS + p.Architecture)}}}})
		hatest.Push(t, ctx, c, srv.Host+"/team/multi@"+img.Digest.String(), img)
		d := img.Descriptor()
		d.Platform = &p
		idx.Manifests = append(idx.Manifests, d)
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ManifestPut(ctx, mustRef(t, srv.Host+"/team/multi:1"), v1.MediaTypeImageIndex, b); err != nil {
		t.Fatal(err)
	}
	hatest.Push(t, ctx, c, srv.Host+"/team/single:1", hatest.NewImage(t, hatest.Spec{}))
	return srv.Host, []string{"windows/amd64:10.0.17763.1234", "linux/amd64", "linux/arm64"}
}

// TestFindAndListPlatforms: find shows an index's platforms in its order,
// without the attestation, in a PLATFORMS column last that only a table
// with an index of several platforms has; list shows those of an index in
// the store; a long list is cut unless --no-trunc.
func TestFindAndListPlatforms(t *testing.T) {
	host, want := pushPlatforms(t)
	ha := newCLI(t)
	withPlatforms := append(slices.Clone(wantColumns), "PLATFORMS")
	table := ha.run(t, "find", host+"/*")
	if got := headerColumns(table); !slices.Equal(got, withPlatforms) {
		t.Errorf("find columns %q, want %q", got, withPlatforms)
	}
	if row := rowOf(t, table, host+"/team/multi", "1"); row[len(row)-1] != strings.Join(want, ",") {
		t.Errorf("index row %q: want platforms %q last", row, want)
	}
	if row := rowOf(t, table, host+"/team/single", "1"); row[len(row)-1] != "-" {
		t.Errorf("single-platform row %q: want - last", row)
	}
	if got := headerColumns(ha.run(t, "find", host+"/team/single")); !slices.Equal(got, wantColumns) {
		t.Errorf("find of one platform: columns %q, want %q", got, wantColumns)
	}
	if out := ha.run(t, "find", host+"/team/*", "--format", "{{.Name}} {{.Platforms}}"); out != host+"/team/multi "+strings.Join(want, ",")+"\n"+host+"/team/single \n" {
		t.Errorf("--format {{.Platforms}}: %q", out)
	}
	var found []hostagent.Found
	if err := json.Unmarshal([]byte(ha.run(t, "find", host+"/team/*", "--format", "json")), &found); err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || !slices.Equal(found[0].Platforms, want) || found[1].Platforms != nil {
		t.Errorf("find --format json: %+v", found)
	}

	// Two platforms installed under one name make an index in the store.
	ha.run(t, "install", "-q", "--platform", "linux/arm64", host+"/team/multi:1")
	ha.run(t, "install", "-q", "--platform", "linux/amd64", host+"/team/multi:1")
	ha.run(t, "install", "-q", host+"/team/single:1")
	list := ha.run(t, "list")
	if got := headerColumns(list); !slices.Equal(got, withPlatforms) {
		t.Errorf("list columns %q, want %q", got, withPlatforms)
	}
	if row := rowOf(t, list, host+"/team/multi", "1"); row[len(row)-1] != "linux/amd64,linux/arm64" {
		t.Errorf("list: index row %q", row)
	}
	if imgs := ha.list(t, host+"/team/multi"); len(imgs) != 1 || !slices.Equal(imgs[0].Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("list --format json: %+v", imgs)
	}
	if got := headerColumns(ha.run(t, "list", host+"/team/single")); !slices.Equal(got, wantColumns) {
		t.Errorf("list of one platform: columns %q, want %q", got, wantColumns)
	}
}

func TestPlatformsCell(t *testing.T) {
	four := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "windows/amd64:10.0.17763.1"}
	for _, tc := range []struct {
		plats   []string
		noTrunc bool
		want    string
	}{
		{nil, false, "-"},
		{four[:1], false, "linux/amd64"},
		{four[:3], false, "linux/amd64,linux/arm64,linux/arm/v7"},
		{four, false, "linux/amd64,linux/arm64,+2"},
		{four, true, strings.Join(four, ",")},
	} {
		if got := (listOptions{noTrunc: tc.noTrunc}).platformsCell(tc.plats); got != tc.want {
			t.Errorf("platformsCell(%q, no-trunc %v) = %q, want %q", tc.plats, tc.noTrunc, got, tc.want)
		}
	}
}

// TestInstallNotesForeignOS: installing an image of another OS than the
// host's works and says so in one note on stderr, install-os-image too; -q
// leaves the note out (the image is installed all the same); an image of
// the host's OS gets none.
func TestInstallNotesForeignOS(t *testing.T) {
	hostPlat := oci.HostPlatform()
	if hostPlat.OS == "windows" {
		t.Skip("the foreign OS of this test is windows")
	}
	host, _ := pushPlatforms(t)
	ref := host + "/team/multi:1"
	want := "hostagent: note: " + ref + " is a windows/amd64 image and this host is " + oci.FormatPlatform(hostPlat) + ": "
	// Progress lines come too (stderr is no terminal): only notes count.
	notes := func(lines []string) []string {
		return slices.DeleteFunc(lines, func(l string) bool { return !strings.Contains(l, "note:") })
	}
	ha := newCLI(t)
	if lines := notes(ha.warned(t, "install", "--platform", "windows/amd64", ref)); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("install of a windows image: notes %q, want one %q…", lines, want)
	}
	if lines := notes(ha.warned(t, "install", "--platform", "linux/amd64", ref)); len(lines) != 0 {
		t.Errorf("install of a linux image: notes %q, want none", lines)
	}

	quiet := newCLI(t)
	if lines := quiet.warned(t, "install", "-q", "--platform", "windows/amd64", ref); len(lines) != 0 {
		t.Errorf("install -q of a windows image: stderr %q, want nothing", lines)
	}
	if imgs := quiet.list(t); len(imgs) != 1 || imgs[0].OS != "windows" {
		t.Errorf("install -q of a windows image: installed %+v", imgs)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := ha.warned(t, "install-os-image", dir, "--name", "localhost/os/win:1", "--platform", "windows/amd64:10.0.17763.1")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "hostagent: note: localhost/os/win:1 is a windows/amd64 image and this host is ") {
		t.Errorf("install-os-image of a windows image: stderr %q, want one note", lines)
	}
}

// TestFindPlatform: find --platform keeps the images that offer the
// platform, each described by the child install --platform would take (a
// Windows build matched by major.minor.build); an image of another
// platform is left out; a bad platform is a usage error.
func TestFindPlatform(t *testing.T) {
	host, _ := pushPlatforms(t)
	ha := newCLI(t)
	format := "{{.Name}} {{.OS}} {{.Arch}} {{.OSVersion}}"
	for _, tc := range []struct{ platform, want string }{
		{"windows/amd64:10.0.17763", host + "/team/multi windows amd64 10.0.17763.1234\n"},
		{"linux/arm64", host + "/team/multi linux arm64 \n"},
		{"linux/amd64", host + "/team/multi linux amd64 \n" + host + "/team/single linux amd64 \n"},
		{"windows/amd64:10.0.20348", ""},
	} {
		if out := ha.run(t, "find", host+"/team/*", "--platform", tc.platform, "--format", format); out != tc.want {
			t.Errorf("find --platform %s: %q, want %q", tc.platform, out, tc.want)
		}
	}
	if msg := ha.fail(t, 2, "find", host+"/team/*", "--platform", "linux"); !strings.Contains(msg, "--platform") {
		t.Errorf("bad platform: %s", msg)
	}
}
