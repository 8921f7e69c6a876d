package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// buildWIM captures a small Windows-like tree into path as one more image
// of it, with the Windows version 10.0.build.rev and architecture amd64,
// passing extra to wimlib-imagex.
func buildWIM(t *testing.T, path, name string, build, rev int, extra ...string) {
	t.Helper()
	bin := testutil.RequireTool(t, "wimlib-imagex")
	dir := t.TempDir()
	for f, data := range map[string]string{
		"Windows/System32/config/SYSTEM":  "regf " + name,
		"Windows/System32/cmd.exe":        strings.Repeat("MZ "+name, 5000),
		"Program Files/readme.txt":        fmt.Sprintf("%s %d.%d\n", name, build, rev),
		"Users/Public/Documents/empty.md": "",
	} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verb := "capture"
	if _, err := os.Stat(path); err == nil {
		verb = "append"
	}
	args := []string{verb, dir, path, name}
	for k, v := range map[string]string{"MAJOR": "10", "MINOR": "0", "BUILD": fmt.Sprint(build), "SPBUILD": fmt.Sprint(rev)} {
		args = append(args, "--image-property", "WINDOWS/VERSION/"+k+"="+v)
	}
	args = append(args, "--image-property", "WINDOWS/ARCH=9", "--image-property", "WINDOWS/EDITIONID=ServerDatacenter")
	args = append(args, extra...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("wimlib-imagex %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestCLIInstallOSImageErrors(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "os.wim")
	buildWIM(t, wim, "ServerCore", 17763, 1)
	ha := newCLI(t)
	out := ha.run(t, "install-os-image", wim, "--publisher", "CN=Microsoft")
	if !strings.Contains(out, "localhost/servercore:10.0.17763.1") || !strings.Contains(out, "windows/amd64:10.0.17763.1") {
		t.Errorf("install-os-image said %q", out)
	}
	imgs := ha.list(t)
	if len(imgs) != 1 || !imgs[0].OSImage || imgs[0].Publisher != "CN=Microsoft" || imgs[0].Version != "10.0.17763.1" || imgs[0].Platform != "windows/amd64" || imgs[0].OSVersion != "10.0.17763.1" {
		t.Fatalf("list: %+v", imgs)
	}
	before := ha.snapshot(t)

	// A taken name is refused without --force, and replaced with it.
	if msg := ha.fail(t, exitExists, "install-os-image", wim); !strings.Contains(msg, "--force") {
		t.Errorf("second install: %q, want a hint at --force", msg)
	}
	if ha.snapshot(t) != before {
		t.Error("a refused install changed the store")
	}
	if out := ha.run(t, "install-os-image", wim, "--force", "--publisher", "Other"); !strings.Contains(out, "Replaced") {
		t.Errorf("--force: %q", out)
	}
	before = ha.snapshot(t)

	data, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.wim")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	ha.fail(t, exitCorrupt, "install-os-image", truncated, "--name", "localhost/broken:1")
	if ha.snapshot(t) != before {
		t.Error("a corrupt WIM changed the store")
	}
	ha.fail(t, exitUsage, "install-os-image", wim, "--platform", "windows/amd64:ten")
	ha.fail(t, exitUsage, "install-os-image", wim, "--index", "1", "--image", "x")
	ha.fail(t, exitNotFound, "install-os-image", wim, "--index", "2", "--name", "localhost/x:1")
	ha.fail(t, exitNotFound, "install-os-image", filepath.Join(t.TempDir(), "missing.wim"))
}

// TestCLIInstallOSImageXpress: an XPRESS WIM installs; truncated or with
// its first chunks' bits flipped it exits 7 (corrupt) and leaves the store
// as it was.
func TestCLIInstallOSImageXpress(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "xpress.wim")
	buildWIM(t, wim, "ServerCore", 17763, 1, "--compress=XPRESS")
	ha := newCLI(t)
	if out := ha.run(t, "install-os-image", wim); !strings.Contains(out, "localhost/servercore:10.0.17763.1") {
		t.Errorf("install-os-image said %q", out)
	}
	before := ha.snapshot(t)
	data, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), data...)
	for i := 208 + 256; i < 208+512; i++ { // past the header and the first chunk's Huffman table
		flipped[i] ^= 0xff
	}
	for name, b := range map[string][]byte{"truncated.wim": data[:len(data)/2], "flipped.wim": flipped} {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ha.fail(t, exitCorrupt, "install-os-image", p, "--name", "localhost/broken:1")
		if ha.snapshot(t) != before {
			t.Errorf("%s changed the store", name)
		}
	}
}

// TestCLIWindowsRoundTrip is the acceptance round trip: WIM images →
// install-os-image → push to Berth → an index of them (crane) that shows
// windows/amd64 with os.version → install --platform
// windows/amd64:10.0.17763 on a second store, which takes the highest
// revision of that build → list → save → load.
func TestCLIWindowsRoundTrip(t *testing.T) {
	crane := testutil.Cmd{Path: testutil.RequireTool(t, "crane")}
	host := registrytest.Start(t, inmemory.New(), registry.WithDelete(true)).Host
	wim := filepath.Join(t.TempDir(), "os.wim")
	buildWIM(t, wim, "ServerCore", 17763, 1)
	buildWIM(t, wim, "ServerCore-2061", 17763, 2061)
	buildWIM(t, wim, "ServerCore-2022", 20348, 5)

	ha := newCLI(t)
	var refs []string
	for i, v := range []string{"10.0.17763.1", "10.0.17763.2061", "10.0.20348.5"} {
		ref := host + "/windows/servercore:" + v
		r := ha.cmd.Exec(t, ha.args([]string{"install-os-image", wim, "--index", fmt.Sprint(i + 1), "--name", ref, "--publisher", "CN=Microsoft"})...)
		if r.Err != nil {
			t.Fatalf("install-os-image: %v\n%s", r.Err, r.Output())
		}
		if n := strings.Count(string(r.Stderr), "note:"); n != 1 || !strings.Contains(string(r.Stderr), "windows/amd64") {
			t.Errorf("installing a Windows image on %s: stderr %q, want one note saying so", "linux", r.Stderr)
		}
		ha.run(t, "push", ref)
		refs = append(refs, ref)
	}
	// Each manifest's config says windows/amd64 and its os.version.
	var cfg v1.Image
	if err := json.Unmarshal(crane.Run(t, "config", "--insecure", refs[1]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "windows" || cfg.Architecture != "amd64" || cfg.OSVersion != "10.0.17763.2061" {
		t.Errorf("crane config: %s/%s %q", cfg.OS, cfg.Architecture, cfg.OSVersion)
	}
	index := host + "/windows/servercore:ltsc"
	args := []string{"index", "append", "--insecure", "-t", index}
	for _, r := range refs {
		args = append(args, "-m", r)
	}
	crane.Run(t, args...)
	var idx v1.Index
	if err := json.Unmarshal(crane.Run(t, "manifest", "--insecure", index), &idx); err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			shown = append(shown, d.Platform.OS+"/"+d.Platform.Architecture+":"+d.Platform.OSVersion)
		}
	}
	if strings.Join(shown, " ") != "windows/amd64:10.0.17763.1 windows/amd64:10.0.17763.2061 windows/amd64:10.0.20348.5" {
		t.Fatalf("crane manifest %s shows %v", index, shown)
	}

	second := newCLI(t)
	r := second.cmd.Exec(t, second.args([]string{"install", index, "--platform", "windows/amd64:10.0.17763"})...)
	if r.Err != nil || !strings.Contains(string(r.Stdout), index) {
		t.Fatalf("install: %v\n%s", r.Err, r.Output())
	}
	if n := strings.Count(string(r.Stderr), "note:"); n != 1 || !strings.Contains(string(r.Stderr), "windows/amd64 image") {
		t.Errorf("installing a Windows image: stderr %q, want one note saying so", r.Stderr)
	}
	imgs := second.list(t)
	if len(imgs) != 1 || !imgs[0].OSImage || imgs[0].Publisher != "CN=Microsoft" || imgs[0].Version != "10.0.17763.2061" || imgs[0].OSVersion != "10.0.17763.2061" {
		t.Fatalf("list after install --platform windows/amd64:10.0.17763: %+v (want the highest revision, 2061)", imgs)
	}
	table := second.run(t, "list")
	if !containsLine(table, "yes") || !containsLine(table, "CN=Microsoft") {
		t.Errorf("list table:\n%s", table)
	}
	second.fail(t, exitNotFound, "install", index, "--platform", "windows/amd64:10.0.14393")
	before := imgs[0]

	// A second platform of the same index keeps the first: the name holds
	// an index of both, which push sends whole and install picks from.
	second.run(t, "install", index, "--platform", "windows/amd64:10.0.20348")
	both := second.list(t)
	if len(both) != 1 || both[0].Platform != "windows/amd64:10.0.17763.2061,windows/amd64:10.0.20348.5" || !both[0].OSImage || both[0].Publisher != "CN=Microsoft" {
		t.Fatalf("list after a second platform: %+v", both)
	}
	second.run(t, "install", index, "--platform", "windows/amd64:10.0.20348") // again: still both
	if again := second.list(t); len(again) != 1 || again[0].Digest != both[0].Digest {
		t.Errorf("installing a platform again changed the index: %+v", again)
	}
	mirror := host + "/mirror/servercore:ltsc"
	second.run(t, "push", index, mirror)
	var pushed v1.Index
	if err := json.Unmarshal(crane.Run(t, "manifest", "--insecure", mirror), &pushed); err != nil {
		t.Fatal(err)
	}
	if len(pushed.Manifests) != 2 || pushed.Manifests[0].Platform.OSVersion != "10.0.17763.2061" || pushed.Manifests[1].Platform.OSVersion != "10.0.20348.5" {
		t.Errorf("crane manifest %s: %+v", mirror, pushed.Manifests)
	}
	fourth := newCLI(t)
	fourth.run(t, "install", mirror, "--platform", "windows/amd64:10.0.20348")
	if got := fourth.list(t); len(got) != 1 || got[0].OSVersion != "10.0.20348.5" {
		t.Errorf("install from the pushed index: %+v", got)
	}
	// The single-manifest listing of before (for save and load below).
	imgs[0] = before
	second.run(t, "remove", index)
	second.run(t, "install", index, "--platform", "windows/amd64:10.0.17763")

	archive := filepath.Join(t.TempDir(), "windows.tar")
	second.run(t, "save", index, "-o", archive)
	third := newCLI(t)
	third.run(t, "load", "-i", archive)
	got := third.list(t)
	if len(got) != 1 || got[0].Digest != imgs[0].Digest || !got[0].OSImage || got[0].Version != "10.0.17763.2061" {
		t.Errorf("list after load: %+v, want %+v", got, imgs)
	}
}
