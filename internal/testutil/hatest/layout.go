package hatest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/client"
)

// WriteLayout writes the images as an OCI image layout in dir, each named
// by its reference (annotated as containerd and hostagent do).
func WriteLayout(t testing.TB, dir string, imgs map[string]*Image) {
	t.Helper()
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for ref, img := range imgs {
		r, err := client.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		for d, b := range img.Blobs {
			write(filepath.Join("blobs", "sha256", d.Encoded()), b)
		}
		write(filepath.Join("blobs", "sha256", img.Digest.Encoded()), img.Manifest)
		d := img.Descriptor()
		d.Annotations = map[string]string{"io.containerd.image.name": r.String(), v1.AnnotationRefName: r.Tag}
		idx.Manifests = append(idx.Manifests, d)
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	write("index.json", b)
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
}
