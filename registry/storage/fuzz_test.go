package storage

import (
	"strings"
	"testing"
)

// FuzzParseManifest: no payload makes the parser panic, and whatever it
// accepts has a supported media type and the fields that type needs.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}`,
		`{"schemaVersion":2,"manifests":[{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1,"data":"eA=="}]}`,
		`{"schemaVersion":2,"config":{},"subject":{"digest":"x"}}`,
		`[]`, `{"schemaVersion":1}`, ``,
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, payload []byte, contentType string) {
		m, err := parseManifest(payload, contentType)
		if err != nil {
			return
		}
		if !knownMediaType(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		if !m.isIndex() && m.Config == nil {
			t.Fatal("accepted an image manifest without config")
		}
	})
}

// FuzzCheckName: an accepted name is a safe relative path of lower-case
// components.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a/b", "a/../b", "a__b", "A", "a//b", "_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		for _, c := range strings.Split(name, "/") {
			if c == "" || c == "." || c == ".." || strings.HasPrefix(c, "_") || strings.ToLower(c) != c {
				t.Fatalf("accepted %q", name)
			}
		}
	})
}
