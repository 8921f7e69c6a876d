package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIWindowsContainer: a container of a Windows image (made by
// install-os-image from a WIM) says, in one note, that it gets the Files/
// tree only, and its root filesystem is that tree (no Files/ prefix, no
// Hives/); commit refuses it, as its diff would have to be a Windows layer.
func TestCLIWindowsContainer(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "os.wim")
	buildWIM(t, wim, "ServerCore", 17763, 1)
	ha := newCLI(t)
	ref := "localhost/servercore:10.0.17763.1"
	ha.run(t, "install-os-image", wim, "--name", ref)

	r := ha.cmd.Exec(t, ha.args([]string{"container", "create", "win", "--image", ref})...)
	if r.Err != nil {
		t.Fatalf("container create: %v\n%s", r.Err, r.Output())
	}
	notes := strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n")
	if len(notes) != 1 || !strings.Contains(notes[0], "windows image: only the Files/ tree") || !strings.Contains(notes[0], "Hives/") {
		t.Errorf("container create of a Windows image: stderr %q, want one note on Files/", r.Stderr)
	}
	root := filepath.Join(ha.store, "containers", "win", "rootfs")
	for f, want := range map[string]string{
		"Windows/System32/config/SYSTEM":  "regf ServerCore",
		"Program Files/readme.txt":        "ServerCore 17763.1\n",
		"Users/Public/Documents/empty.md": "",
	} {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil || string(got) != want {
			t.Errorf("%s in the rootfs: %q, %v; want %q", f, got, err, want)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, e := range entries {
		top = append(top, e.Name())
	}
	if strings.Join(top, ",") != "Program Files,Users,Windows" {
		t.Errorf("rootfs top level %q, want the Files/ tree only (Program Files, Users, Windows)", top)
	}

	// Commit refuses, saying why, and leaves the store as it was.
	if err := os.WriteFile(filepath.Join(root, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := ha.snapshot(t)
	msg := ha.fail(t, exitUsage, "commit", "win", "--name", "localhost/win-app", "--version", "1", "--publisher", "Example Corp")
	if !strings.Contains(msg, "Windows image") || !strings.Contains(msg, "Files/") {
		t.Errorf("commit of a Windows container: %q", msg)
	}
	if ha.snapshot(t) != before {
		t.Error("a refused commit changed the store")
	}
	ha.run(t, "container", "remove", "win")
}
