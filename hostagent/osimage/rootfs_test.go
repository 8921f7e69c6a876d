package osimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

type entry struct {
	name, link string
	typ        byte
	data       string
}

func makeTar(t *testing.T, c archive.Compression, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := archive.Compressor(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.data))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

var rootfsEntries = []entry{
	{name: "etc/", typ: tar.TypeDir},
	{name: "etc/os-release", typ: tar.TypeReg, data: "ID=test\n"},
	{name: "bin/", typ: tar.TypeDir},
	{name: "bin/sh", typ: tar.TypeReg, data: "#!sh"},
	{name: "bin/bash", typ: tar.TypeLink, link: "bin/sh"},
	{name: "bin/dash", typ: tar.TypeSymlink, link: "sh"},
}

func TestRootfsTar(t *testing.T) {
	for _, c := range []archive.Compression{archive.CompressionNone, archive.CompressionGzip, archive.CompressionZstd} {
		t.Run(string(c), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rootfs.tar")
			if err := os.WriteFile(p, makeTar(t, c, rootfsEntries...), 0o644); err != nil {
				t.Fatal(err)
			}
			st := openStore(t)
			res, err := install(t, st, p, Options{Publisher: "Debian", Version: "12"}, "localhost/debian:12")
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != KindRootfsTar || res.Platform != oci.FormatPlatform(oci.HostPlatform()) || res.Publisher != "Debian" {
				t.Errorf("result %+v", res)
			}
			hdrs, data := layerEntries(t, st, res.Layer.Digest)
			if len(hdrs) != len(rootfsEntries) || string(data["etc/os-release"]) != "ID=test\n" ||
				hdrs["bin/bash"].Linkname != "bin/sh" || hdrs["bin/dash"].Linkname != "sh" {
				t.Errorf("layer entries %v", hdrs)
			}
		})
	}
	for name, bad := range map[string]entry{
		"dotdot":   {name: "../escape", typ: tar.TypeReg, data: "x"},
		"absolute": {name: "/etc/passwd", typ: tar.TypeReg, data: "x"},
		"link out": {name: "l", typ: tar.TypeLink, link: "../../etc/shadow"},
		"whiteout": {name: "etc/.wh.passwd", typ: tar.TypeReg},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.tar")
			if err := os.WriteFile(p, makeTar(t, archive.CompressionGzip, append(rootfsEntries[:2:2], bad)...), 0o644); err != nil {
				t.Fatal(err)
			}
			st := openStore(t)
			before := treeOf(t, st.Root())
			_, err := install(t, st, p, Options{}, "localhost/bad:1")
			if !errors.Is(err, errdefs.ErrUnsafe) && !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("install: %v, want ErrUnsafe or ErrInvalid", err)
			}
			if treeOf(t, st.Root()) != before {
				t.Error("the store changed")
			}
		})
	}
}

func TestRootfsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("ID=dir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "etc", "os-release"), filepath.Join(dir, "etc", "os-release.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("os-release", filepath.Join(dir, "etc", "release")); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	arm := oci.HostPlatform()
	arm.Architecture, arm.Variant = "arm64", ""
	res, err := install(t, st, dir, Options{Platform: &arm}, "localhost/dir:1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != KindRootfsDir || res.Platform != arm.OS+"/arm64" {
		t.Errorf("result %+v", res)
	}
	hdrs, data := layerEntries(t, st, res.Layer.Digest)
	if string(data["etc/os-release"]) != "ID=dir\n" || hdrs["etc/os-release.link"].Typeflag != tar.TypeLink ||
		hdrs["etc/release"].Linkname != "os-release" {
		t.Errorf("layer entries %v", hdrs)
	}
	if _, err := install(t, st, dir, Options{}, "localhost/dir:1"); !errors.Is(err, ErrExists) {
		t.Errorf("installing a taken name: %v, want ErrExists", err)
	}
}
